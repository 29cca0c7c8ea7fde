package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name        string
		live, floor uint64
		base, want  int
	}{
		{"nothing live yet", 0, 32 * mib, 100, 100},
		{"a quarter of the floor live", 8 * mib, 32 * mib, 100, 300},
		{"half the floor: base reaches it", 16 * mib, 32 * mib, 100, 100},
		{"more than half: base", 20 * mib, 32 * mib, 100, 100},
		{"a higher base is kept", 8 * mib, 32 * mib, 400, 400},
		{"rounded up, never under the floor", 3 * mib, 32 * mib, 100, 967},
		{"a nearly empty heap: bounded", 1, 32 * mib, 100, maxPercent},
		{"live above the floor", 64 * mib, 32 * mib, 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Percent(tc.live, tc.floor, tc.base)
			if got != tc.want {
				t.Errorf("Percent(%d, %d, %d) = %d, want %d", tc.live, tc.floor, tc.base, got, tc.want)
			}
			if goal := tc.live + tc.live*uint64(got)/100; tc.live > 0 && got < maxPercent && goal < tc.floor {
				t.Errorf("goal %d under the floor %d", goal, tc.floor)
			}
		})
	}
}

func gogc(t *testing.T) uint64 {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// waitGOGC runs GC cycles until GOGC is want (the cleanups run beside).
func waitGOGC(t *testing.T, want uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); gogc(t) != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC %d, want %d", gogc(t), want)
		}
		runtime.GC()
	}
}

// Keep raises GOGC after a cycle while the live heap is under the floor,
// and stop gives it back; no cycle after the stop changes it again.
func TestKeep(t *testing.T) {
	t.Cleanup(func() { debug.SetGCPercent(100) })
	debug.SetGCPercent(100)
	stop := Keep(1<<40, 100) // far above any live heap here
	waitGOGC(t, maxPercent)
	debug.SetGCPercent(100) // set again after every cycle, not once
	waitGOGC(t, maxPercent)
	stop()
	if got := gogc(t); got != 100 {
		t.Fatalf("GOGC %d after stop, want 100", got)
	}
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the cleanups' goroutine
	}
	if got := gogc(t); got != 100 {
		t.Errorf("GOGC %d some cycles after stop, want 100", got)
	}

	// A floor the live heap passes: the base stays.
	debug.SetGCPercent(150)
	stop = Keep(1, 150)
	defer stop()
	runtime.GC()
	waitGOGC(t, 150)
}

func TestKeepOff(t *testing.T) {
	t.Cleanup(func() { debug.SetGCPercent(100) })
	debug.SetGCPercent(-1)
	stop := Keep(1<<40, -1)
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	stop()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GOGC %d with GC off, want it left off", got)
	}
}
