package webhook

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryDeduper(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 6, 3, 0, 0, 0, 0, time.UTC)
	d := NewMemoryDeduper(3, time.Hour)
	d.now = func() time.Time { return now }
	seen := func(k string, want bool) {
		t.Helper()
		if got, err := d.Seen(ctx, k); err != nil || got != want {
			t.Fatalf("Seen(%q) = %v, %v; want %v", k, got, err, want)
		}
	}

	seen("a", true)
	seen("a", false)
	seen("b", true)
	seen("c", true)
	seen("a", false) // a is now the most recent
	seen("d", true)  // evicts b, the least recently seen
	if d.Len() != 3 {
		t.Errorf("Len() = %d, want 3", d.Len())
	}
	seen("b", true) // evicts c
	seen("a", false)

	now = now.Add(59 * time.Minute)
	seen("a", false) // a seen again: its TTL restarts
	now = now.Add(2 * time.Minute)
	seen("a", false)
	seen("d", true) // d expired
	if err := d.Forget(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	seen("a", true)
	if err := d.Forget(ctx, "missing"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	if d.Len() != 0 {
		t.Errorf("Len() = %d after all expired", d.Len())
	}
}

func TestMemoryDeduperConcurrent(t *testing.T) {
	d := NewMemoryDeduper(0, 0)
	var firsts atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 500 {
				if first, _ := d.Seen(context.Background(), fmt.Sprint(i)); first {
					firsts.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if firsts.Load() != 500 {
		t.Errorf("%d firsts, want 500: exactly one caller per key", firsts.Load())
	}
}
