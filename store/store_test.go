package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild() // never returns
	}
	os.Exit(m.Run())
}

// openTemp opens a fresh store in a temporary directory and closes it at the
// end of the test.
func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "claudeops.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestOpenPragmas(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	var mode string
	var sync, busy, version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 2 || busy != int(busyTimeout.Milliseconds()) || version != len(migrations) {
		t.Errorf("journal_mode=%s synchronous=%d busy_timeout=%d user_version=%d", mode, sync, busy, version)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, p := range []string{"", "a?b", "x#y"} {
		if s, err := Open(p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing", "dir", "x.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

func TestOpenNewerSchema(t *testing.T) {
	s, path := openTemp(t)
	if _, err := s.db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s2, err := Open(path); err == nil {
		s2.Close()
		t.Fatal("opened a database with a newer schema")
	}
}

func TestReopenPersists(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	rec := session.Record{ID: "s1", Tier: session.Tier2, Trigger: session.TriggerAlert,
		Outcome: session.OutcomeRemediated, Start: t0, CostUSD: 0.5}
	if err := s.SaveSession(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := s.TryAction(ctx, ActionRecord{Time: t0, Service: "web", Action: ActionRestart}, time.Hour, 1); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := s.SaveIncidents(ctx, nil, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Opening twice more checks that the migration is idempotent.
	for range 2 {
		s2, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s2.GetSession(ctx, "s1"); err != nil {
			t.Error(err)
		}
		if ok, used, err := s2.TryAction(ctx, ActionRecord{Time: t0, Service: "web", Action: ActionRestart}, time.Hour, 1); err != nil || ok || used != 1 {
			t.Errorf("after reopen: allowed=%v used=%d err=%v", ok, used, err)
		}
		if seq, err := s2.InboxApplied(ctx); err != nil || seq != 3 {
			t.Errorf("after reopen: inbox applied = %d, %v; want 3", seq, err)
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	s, _ := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.SaveSession(ctx, session.Record{ID: "x"}); err == nil {
		t.Error("write with a cancelled context succeeded")
	}
	if _, err := s.GetSession(context.Background(), "x"); err == nil {
		t.Error("the cancelled write was stored")
	}
}
