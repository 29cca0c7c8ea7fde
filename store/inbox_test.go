package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestInbox(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	ib := NewInbox(s)

	// Concurrent appends: each gets its own id and its data is on disk.
	const n = 50
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := ib.Append(ctx, []byte(fmt.Sprintf(`{"n":%d}`, i)))
			if err != nil {
				t.Errorf("append %d: %v", i, err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	sorted := slices.Sorted(slices.Values(ids))
	if len(slices.Compact(sorted)) != n || sorted[0] == 0 {
		t.Fatalf("ids not unique and non-zero: %v", ids)
	}
	entries, err := ib.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n {
		t.Fatalf("loaded %d entries, want %d", len(entries), n)
	}
	for i, e := range entries {
		if i > 0 && e.ID <= entries[i-1].ID {
			t.Fatalf("entries not in id order: %d after %d", e.ID, entries[i-1].ID)
		}
		k := slices.Index(ids, e.ID)
		if want := fmt.Sprintf(`{"n":%d}`, k); string(e.Data) != want {
			t.Errorf("entry %d = %s, want %s", e.ID, e.Data, want)
		}
	}

	// Delete exactly what was applied; the rest survives a reopen.
	if err := ib.Delete(ctx, ids[:n-2]); err != nil {
		t.Fatal(err)
	}
	if err := ib.Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	left, err := NewInbox(s2).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, e := range left {
		got = append(got, e.ID)
	}
	if want := slices.Sorted(slices.Values(ids[n-2:])); !slices.Equal(got, want) {
		t.Errorf("after delete and reopen: %v, want %v", got, want)
	}
}

func BenchmarkInboxAppend(b *testing.B) {
	s, _ := openTemp(b)
	ib := NewInbox(s)
	data := []byte(`[{"service":"web","status":"firing"}]`)
	b.SetParallelism(10) // 10×GOMAXPROCS concurrent requests, as in a storm
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ib.Append(context.Background(), data); err != nil {
				b.Error(err)
			}
		}
	})
}
