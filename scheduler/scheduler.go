// Package scheduler runs Tier 1 when its Policy says so, plus runs triggered
// by hand. In the check mode (IntervalPolicy) that is a session at start-up
// and then every interval, counted from the end of the last one; in the plan
// mode (PlanPolicy) only when the probe plan needs judgement. Never two Tier 1
// sessions at once: a trigger during a run answers with its id.
package scheduler

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
)

// Sessions runs a session to its end.
type Sessions interface {
	Run(ctx context.Context, spec sessions.Spec) (session.Record, error)
}

// Job is what a Tier 1 run is made of: Prepare builds the session (re-reading
// the repos each time), Record keeps what it found.
type Job interface {
	Prepare(ctx context.Context) (sessions.Spec, error)
	Record(ctx context.Context, rec session.Record)
}

// Scheduler runs the Tier 1 loop. Run is an oklog/run actor.
type Scheduler struct {
	sessions Sessions
	job      Job
	logger   *slog.Logger
	clock    Clock
	policy   Policy

	wake chan struct{}

	mu      sync.Mutex
	current string   // id of the running session
	pending *pending // a manual run asked for and not started yet
	last    LastRun
}

type pending struct {
	id      string
	trigger session.Trigger
	reason  string
}

// LastRun is the latest Tier 1 run of this process.
type LastRun struct {
	ID  string    // its session id, "" before the first run
	End time.Time // when it ended; zero before the first run
}

// Policy decides when Tier 1 runs, besides the runs triggered by hand.
type Policy interface {
	// Due returns why a run is due now (with the time and the latest run
	// ended; last is zero before the first run), or "" and how long to wait
	// before asking again.
	Due(now time.Time, last LastRun) (reason string, wait time.Duration)
}

// IntervalPolicy is the check mode: a run at start-up, then one every
// interval after the last one ended.
type IntervalPolicy time.Duration

// Due implements Policy.
func (p IntervalPolicy) Due(now time.Time, last LastRun) (string, time.Duration) {
	if last.End.IsZero() {
		return "start-up", 0
	}
	if wait := last.End.Add(time.Duration(p)).Sub(now); wait > 0 {
		return "", wait
	}
	return "interval", 0
}

// New returns a scheduler that runs Tier 1 at start-up and every interval
// after the end of the last run (IntervalPolicy); SetPolicy changes that.
func New(interval time.Duration, s Sessions, job Job, logger *slog.Logger) *Scheduler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{
		sessions: s, job: job, logger: logger, clock: realClock{},
		policy: IntervalPolicy(interval), wake: make(chan struct{}, 1),
	}
}

// SetPolicy replaces the policy; call it before Run.
func (s *Scheduler) SetPolicy(p Policy) { s.policy = p }

// Trigger asks for a run now. It returns the id of the session that will
// answer: a new one (started true), or the one already running or pending.
func (s *Scheduler) Trigger() (id string, started bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != "" {
		return s.current, false
	}
	if s.pending != nil {
		return s.pending.id, false
	}
	s.pending = &pending{id: session.NewID(s.clock.Now()), trigger: session.TriggerManual, reason: "asked for by hand"}
	s.Wake()
	return s.pending.id, true
}

// Wake makes the scheduler ask its policy now whether a run is due.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Current returns the id of the running Tier 1 session, if any.
func (s *Scheduler) Current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// Run asks the policy at once and whenever it said to, and after every run,
// and runs Tier 1 when it is due or triggered, until ctx is done. A session
// running then is stopped and its outcome recorded before Run returns.
func (s *Scheduler) Run(ctx context.Context) error {
	timer := s.clock.NewTimer(0) // the start-up decision
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C():
		case <-s.wake:
		}
		s.mu.Lock()
		p, last := s.pending, s.last
		s.mu.Unlock()
		if p == nil {
			// The policy may read files: not under the lock Trigger takes.
			now := s.clock.Now()
			reason, wait := s.policy.Due(now, last)
			if reason == "" {
				timer.Reset(max(wait, time.Millisecond))
				continue
			}
			p = &pending{id: session.NewID(now), trigger: session.TriggerSchedule, reason: reason}
		}
		s.mu.Lock()
		if s.pending != nil { // a run asked for by hand is the run
			p = s.pending
		}
		s.pending = nil
		s.current = p.id
		s.mu.Unlock()

		s.logger.Info("tier 1 run", "id", p.id, "trigger", p.trigger, "reason", p.reason)
		s.runOnce(ctx, p)

		s.mu.Lock()
		s.current = ""
		s.last = LastRun{ID: p.id, End: s.clock.Now()}
		s.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		timer.Reset(0) // ask the policy again
	}
}

type reasonKey struct{}

// Reason is why the Tier 1 run being prepared runs, for Job.Prepare.
func Reason(ctx context.Context) string {
	r, _ := ctx.Value(reasonKey{}).(string)
	return r
}

func (s *Scheduler) runOnce(ctx context.Context, p *pending) {
	spec, err := s.job.Prepare(context.WithValue(ctx, reasonKey{}, p.reason))
	if err != nil {
		s.logger.Error("prepare tier 1 session", "err", err)
		return
	}
	spec.ID, spec.Tier, spec.Trigger = p.id, session.Tier1, p.trigger
	rec, err := s.sessions.Run(ctx, spec)
	if err != nil {
		s.logger.Error("tier 1 session not started", "id", p.id, "err", err)
		return
	}
	s.job.Record(context.WithoutCancel(ctx), rec)
}

// Clock is the scheduler's time (tests drive their own).
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a resettable timer of a Clock.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time   { return t.t.C }
func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t realTimer) Stop()                 { t.t.Stop() }
