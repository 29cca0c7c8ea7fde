// Package scheduler runs Tier 1: a session at start-up and then every interval,
// counted from the end of the last one, plus runs triggered by hand. Never two
// Tier 1 sessions at once: a trigger during a run answers with its id.
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
	interval time.Duration
	sessions Sessions
	job      Job
	logger   *slog.Logger
	now      func() time.Time

	wake chan struct{}

	mu      sync.Mutex
	current string   // id of the running session
	pending *pending // a manual run asked for and not started yet
}

type pending struct {
	id      string
	trigger session.Trigger
}

// New returns a scheduler.
func New(interval time.Duration, s Sessions, job Job, logger *slog.Logger) *Scheduler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{
		interval: interval, sessions: s, job: job, logger: logger, now: time.Now,
		wake: make(chan struct{}, 1),
	}
}

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
	s.pending = &pending{id: session.NewID(s.now()), trigger: session.TriggerManual}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return s.pending.id, true
}

// Current returns the id of the running Tier 1 session, if any.
func (s *Scheduler) Current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// Run runs a session at once, then one every interval after the last ended,
// until ctx is done. A session running then is stopped and its outcome recorded
// before Run returns.
func (s *Scheduler) Run(ctx context.Context) error {
	timer := time.NewTimer(0) // the start-up run
	defer timer.Stop()
	for {
		var scheduled bool
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
			scheduled = true
		case <-s.wake:
		}
		s.mu.Lock()
		p := s.pending
		s.pending = nil
		if p == nil && !scheduled {
			s.mu.Unlock()
			continue
		}
		if p == nil {
			p = &pending{id: session.NewID(s.now()), trigger: session.TriggerSchedule}
		}
		s.current = p.id
		s.mu.Unlock()

		s.runOnce(ctx, p)

		s.mu.Lock()
		s.current = ""
		s.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		timer.Reset(s.interval)
	}
}

func (s *Scheduler) runOnce(ctx context.Context, p *pending) {
	spec, err := s.job.Prepare(ctx)
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
