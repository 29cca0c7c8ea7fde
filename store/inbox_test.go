package store

import (
	"context"
	"slices"
	"testing"
)

// What an older daemon left in the inbox table is read back in order and
// deleted by id.
func TestLegacyInbox(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	for _, d := range []string{`[{"n":1}]`, `[{"n":2}]`, `[{"n":3}]`} {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO inbox (received_ns, data) VALUES (?, ?)`, toNS(t0), []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := s.LegacyInbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	var datas []string
	for _, e := range entries {
		ids = append(ids, e.ID)
		datas = append(datas, string(e.Data))
	}
	if want := []string{`[{"n":1}]`, `[{"n":2}]`, `[{"n":3}]`}; !slices.Equal(datas, want) {
		t.Fatalf("legacy inbox = %q, want %q", datas, want)
	}
	if err := s.DeleteLegacyInbox(ctx, append(ids[:2:2], 999)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	left, err := s2.LegacyInbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].ID != ids[2] {
		t.Errorf("after the delete and a reopen: %+v, want only batch %d", left, ids[2])
	}
}
