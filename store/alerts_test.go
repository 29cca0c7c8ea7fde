package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSeenAlert(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for i, want := range []bool{true, false, false} {
		if first, err := s.SeenAlert(ctx, "k1", t0.Add(time.Duration(i)*time.Minute)); err != nil || first != want {
			t.Errorf("call %d: first=%v err=%v", i, first, err)
		}
	}
	if first, _ := s.SeenAlert(ctx, "k2", t0.Add(time.Hour)); !first {
		t.Error("k2 not first")
	}
	if err := s.PruneAlerts(ctx, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if first, _ := s.SeenAlert(ctx, "k1", t0); !first {
		t.Error("k1 not forgotten by PruneAlerts")
	}
	if first, _ := s.SeenAlert(ctx, "k2", t0); first {
		t.Error("k2 forgotten by PruneAlerts")
	}
}

func TestSeenAlertConcurrent(t *testing.T) {
	s, _ := openTemp(t)
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			first, err := s.SeenAlert(context.Background(), "same", t0)
			if err != nil {
				t.Error(err)
			}
			if first {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	if firsts.Load() != 1 {
		t.Errorf("%d callers were first", firsts.Load())
	}
}
