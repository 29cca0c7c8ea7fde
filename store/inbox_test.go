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

// Appends that arrive together share commits (group commit), and each
// returns only once its own is written.
func TestInboxGroupCommit(t *testing.T) {
	s, _ := openTemp(t)
	ib := NewInbox(s)
	defer ib.Close()
	const n = 64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			if _, err := ib.Append(context.Background(), []byte(`[]`)); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	commits, batches := ib.Stats()
	entries, err := ib.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if batches != n || len(entries) != n || commits >= n/2 {
		t.Errorf("%d batches in %d commits, %d on disk; want %d batches, on disk, in fewer than %d commits", batches, commits, len(entries), n, n/2)
	}
	t.Logf("%d batches in %d commits", batches, commits)
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
	commits, batches := ib.Stats()
	b.ReportMetric(float64(batches)/float64(max(commits, 1)), "batches/commit")
}
