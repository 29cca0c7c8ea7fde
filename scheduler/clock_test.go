package scheduler

import (
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock the test drives: its timers fire only when the test
// moves time to them (fire). armed receives every time a timer is set, so
// the test knows the scheduler is waiting again.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	armed  chan struct{}
}

func newFakeClock(start time.Time) *fakeClock {
	return &fakeClock{now: start, armed: make(chan struct{}, 1000)}
}

type fakeTimer struct {
	clock  *fakeClock
	c      chan time.Time
	at     time.Time
	active bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves time forward without firing timers (a session's run time).
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clock: c, c: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	t.clock.mu.Lock()
	t.at, t.active = t.clock.now.Add(d), true
	select {
	case <-t.c:
	default:
	}
	t.clock.mu.Unlock()
	t.clock.armed <- struct{}{}
}

func (t *fakeTimer) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.active = false
}

// waitArmed waits until a timer was set since the last call.
func (c *fakeClock) waitArmed(tb testing.TB) {
	tb.Helper()
	select {
	case <-c.armed:
	case <-time.After(60 * time.Second):
		tb.Fatal("the scheduler did not arm its timer")
	}
}

// fire moves time to the earliest active timer's deadline, if it is not
// after until, and fires it; it reports whether it did. Time never goes
// backwards: a deadline in the past fires now.
func (c *fakeClock) fire(until time.Time) bool {
	c.mu.Lock()
	var next *fakeTimer
	for _, t := range c.timers {
		if t.active && (next == nil || t.at.Before(next.at)) {
			next = t
		}
	}
	if next == nil || next.at.After(until) {
		c.mu.Unlock()
		return false
	}
	if next.at.After(c.now) {
		c.now = next.at
	}
	next.active = false
	now := c.now
	c.mu.Unlock()
	next.c <- now
	return true
}

// set moves time to t (never backwards) without firing anything.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// runUntil drives a scheduler that uses c: each armed timer due by until
// fires, and runUntil returns once the scheduler waits for one after it.
func (c *fakeClock) runUntil(tb testing.TB, until time.Time) {
	tb.Helper()
	for {
		c.waitArmed(tb)
		if !c.fire(until) {
			c.set(until)
			c.armed <- struct{}{} // still armed: leave the token for the next call
			return
		}
	}
}

// wake wakes a scheduler that uses c (between two runUntil calls) and waits
// until it set its timer again: moving the clock while it reads the time
// and sets its timer would set the timer from a stale now.
func (c *fakeClock) wake(tb testing.TB, wake func()) {
	tb.Helper()
	<-c.armed // the token runUntil left
	wake()
	c.waitArmed(tb)
	c.armed <- struct{}{} // for the next runUntil
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
