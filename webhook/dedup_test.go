package webhook

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// key names a test key by a short string.
func key(s string) Key {
	var k Key
	for _, c := range []byte(s) {
		k.Fingerprint = k.Fingerprint<<8 | uint64(c)
	}
	return k
}

func TestMemoryDeduper(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 6, 3, 0, 0, 0, 0, time.UTC)
	d := NewMemoryDeduper(3, time.Hour)
	d.now = func() time.Time { return now }
	seen := func(k string, want bool) {
		t.Helper()
		if got, err := d.Seen(ctx, key(k)); err != nil || got != want {
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
	if err := d.Forget(ctx, key("a")); err != nil {
		t.Fatal(err)
	}
	seen("a", true)
	if err := d.Forget(ctx, key("missing")); err != nil {
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
				if first, _ := d.Seen(context.Background(), Key{Fingerprint: uint64(i)}); first {
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

// The deduper against a plain model (a key's last-seen step and time; the
// least recently seen evicted first; forgotten at ttl) over random Seen,
// Forget and time steps, small enough that eviction, expiry, stale entries
// and compaction all happen many times.
func TestMemoryDeduperModel(t *testing.T) {
	ctx := context.Background()
	const max, keys = 8, 20
	ttl := 10 * time.Second
	now := time.Date(2025, 6, 3, 0, 0, 0, 0, time.UTC)
	d := NewMemoryDeduper(max, ttl)
	d.now = func() time.Time { return now }
	type last struct {
		step int
		at   time.Time
	}
	model := map[Key]last{}
	expire := func() {
		for k, l := range model {
			if now.Sub(l.at) >= ttl {
				delete(model, k)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 20000 {
		k := Key{Fingerprint: uint64(rng.IntN(keys))}
		switch op := rng.IntN(10); {
		case op < 7:
			expire()
			_, known := model[k]
			for !known && len(model) >= max {
				var oldest Key
				first := true
				for mk, l := range model {
					if first || l.step < model[oldest].step {
						oldest, first = mk, false
					}
				}
				delete(model, oldest)
			}
			model[k] = last{step, now}
			if got, _ := d.Seen(ctx, k); got != !known {
				t.Fatalf("step %d: Seen(%d) = %v, model says %v", step, k.Fingerprint, got, !known)
			}
		case op < 8:
			delete(model, k)
			if err := d.Forget(ctx, k); err != nil {
				t.Fatal(err)
			}
		default:
			now = now.Add(time.Duration(rng.IntN(3)) * time.Second)
		}
		if step%100 == 0 {
			expire()
			if d.Len() != len(model) {
				t.Fatalf("step %d: Len() = %d, model %d", step, d.Len(), len(model))
			}
		}
	}
	if len(d.order)-d.head > 2*len(d.keys)+64+1 {
		t.Errorf("order holds %d entries for %d keys: stale entries are not compacted", len(d.order)-d.head, len(d.keys))
	}
}
