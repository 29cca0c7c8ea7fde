package remediator

import "time"

// Clock is the remediator's source of time. Tests replace it to control
// verify deadlines, polls and keep-alives without sleeping.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once, d from now (at once when d <= 0).
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the event loop uses.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.t.C }
func (t sysTimer) Stop() bool          { return t.t.Stop() }
