// Package heapfloor keeps the Go garbage collector's heap goal from falling
// under a floor while the live heap is small.
//
// With GOGC=100 the collector runs each time the heap has grown by as much as
// was live after the last cycle. An idle daemon keeps little alive, so the
// first second of an alert storm ran a cycle every few megabytes: nine where
// the same storm a minute later, the incidents holding more, ran four
// (BENCHMARKS.md §17), each a burst the webhook's slowest answers waited
// behind. After each cycle Keep sets GOGC for the next one so that the goal
// is at least the floor, and gives GOGC its base value back once the live
// heap is large enough for that value to reach the floor. A memory limit
// (GOMEMLIMIT) still caps the goal.
package heapfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// maxPercent bounds the GOGC Keep sets, for a nearly empty heap.
const maxPercent = 10000

// Percent is the GOGC that gives a heap goal of at least floor bytes when
// live bytes survived the last cycle, and never less than base.
func Percent(live, floor uint64, base int) int {
	if live == 0 {
		return base
	}
	need := math.Ceil(float64(floor)/float64(live)*100) - 100
	return int(min(max(float64(base), need), maxPercent))
}

// token is what a cleanup is attached to; with a pointer in it, it is never
// one of the tiny objects the allocator batches (whose cleanups may not run).
type token struct{ _ *int }

// Keep keeps the heap goal at floor bytes or more, from the end of the next
// GC cycle on, over a GOGC of base (GOGC's value when Keep is called, 100
// when the environment does not set it); stop ends it and sets GOGC back to
// base. base < 0 (GC off) makes it do nothing.
func Keep(floor uint64, base int) (stop func()) {
	if base < 0 {
		return func() {}
	}
	var stopped atomic.Bool
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/gogc:percent"}}
	var arm func()
	arm = func() {
		// A new object, unreachable at once: its cleanup runs once the next
		// cycle has found it so, and arms the one after.
		runtime.AddCleanup(new(token), func(struct{}) {
			if stopped.Load() {
				return
			}
			metrics.Read(sample)
			live, gogc := sample[0].Value, sample[1].Value
			if live.Kind() == metrics.KindUint64 {
				// Set only when it changes: a set takes the heap lock and
				// recomputes the pacer's goal.
				p := Percent(live.Uint64(), floor, base)
				if gogc.Kind() != metrics.KindUint64 || gogc.Uint64() != uint64(p) {
					debug.SetGCPercent(p)
				}
			}
			arm()
		}, struct{}{})
	}
	arm()
	return func() {
		if !stopped.Swap(true) {
			debug.SetGCPercent(base)
		}
	}
}
