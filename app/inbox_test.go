package app

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/claude-ops/claude-ops/inbox"
	"github.com/claude-ops/claude-ops/store"
)

// An upgraded daemon finds batches an older one left in the store's inbox
// table: openInbox hands them to the log (replayed once, in order) and
// empties the table; new batches are numbered after the store's applied
// number.
func TestOpenInboxHandsOverTheLegacyTable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "claude-ops.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveIncidents(ctx, nil, 41); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// What an older daemon wrote, through the file as it would have.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{`[{"Service":"db"}]`, `[{"Service":"web"}]`} {
		if _, err := db.ExecContext(ctx, `INSERT INTO inbox (received_ns, data) VALUES (1, ?)`, []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	replay := func() (seqs []uint64, datas []string) {
		t.Helper()
		st, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		lg, err := openInbox(ctx, st, filepath.Join(dir, "inbox"), false, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer lg.Close()
		if err := lg.Replay(func(r inbox.Record) error {
			seqs, datas = append(seqs, r.Seq), append(datas, string(r.Data))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if left, err := st.LegacyInbox(ctx); err != nil || len(left) != 0 {
			t.Errorf("legacy table after openInbox: %v, %v; want empty", left, err)
		}
		return seqs, datas
	}
	seqs, datas := replay()
	if want := []string{`[{"Service":"db"}]`, `[{"Service":"web"}]`}; !slices.Equal(datas, want) {
		t.Errorf("replayed %q, want %q", datas, want)
	}
	if want := []uint64{42, 43}; !slices.Equal(seqs, want) {
		t.Errorf("numbered %v, want %v (after the store's applied 41)", seqs, want)
	}
	// Moved once: a second start replays the log, not the table again.
	if seqs2, _ := replay(); !slices.Equal(seqs2, seqs) {
		t.Errorf("second start replayed %v, want %v", seqs2, seqs)
	}
}

// --webhook.inbox-fsync reaches the inbox: each write is fsynced with it,
// none without.
func TestOpenInboxFsync(t *testing.T) {
	ctx := context.Background()
	for _, fsync := range []bool{false, true} {
		dir := t.TempDir()
		st, err := store.Open(filepath.Join(dir, "claude-ops.db"))
		if err != nil {
			t.Fatal(err)
		}
		lg, err := openInbox(ctx, st, filepath.Join(dir, "inbox"), fsync, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := lg.Append(ctx, []byte(`[{"Service":"db"}]`), nil); err != nil {
				t.Fatal(err)
			}
		}
		if got := lg.Stats(); got.Writes != 3 || (got.Fsyncs == 3) != fsync || (got.Fsyncs == 0) == fsync {
			t.Errorf("fsync %v: inbox %+v", fsync, got)
		}
		lg.Close()
		st.Close()
	}
}
