package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
)

// fakeSessions blocks each run until released or cancelled.
type fakeSessions struct {
	mu      sync.Mutex
	specs   []sessions.Spec
	running int
	max     int
	started chan string
	release chan struct{}
}

func newFakeSessions() *fakeSessions {
	return &fakeSessions{started: make(chan string, 10), release: make(chan struct{})}
}

func (f *fakeSessions) Run(ctx context.Context, spec sessions.Spec) (session.Record, error) {
	f.mu.Lock()
	f.specs = append(f.specs, spec)
	f.running++
	f.max = max(f.max, f.running)
	f.mu.Unlock()
	f.started <- spec.ID
	rec := session.Record{ID: spec.ID, Tier: spec.Tier, Trigger: spec.Trigger, Outcome: session.OutcomeHealthy}
	select {
	case <-f.release:
	case <-ctx.Done():
		rec.Outcome = session.OutcomeInterrupted
	}
	f.mu.Lock()
	f.running--
	f.mu.Unlock()
	return rec, nil
}

type fakeJob struct {
	mu       sync.Mutex
	recorded []session.Record
}

func (j *fakeJob) Prepare(context.Context) (sessions.Spec, error) {
	return sessions.Spec{Prompt: "check"}, nil
}

func (j *fakeJob) Record(_ context.Context, rec session.Record) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recorded = append(j.recorded, rec)
}

func (j *fakeJob) records() []session.Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]session.Record(nil), j.recorded...)
}

func waitStarted(t *testing.T, f *fakeSessions) string {
	t.Helper()
	select {
	case id := <-f.started:
		return id
	case <-time.After(5 * time.Second):
		t.Fatal("no session started")
		return ""
	}
}

func TestSchedulerStartupRunTriggerAndShutdown(t *testing.T) {
	fs, job := newFakeSessions(), &fakeJob{}
	s := New(time.Hour, fs, job, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()

	// A run at start-up, by the schedule.
	first := waitStarted(t, fs)
	if got := s.Current(); got != first {
		t.Fatalf("Current() = %q, want the running session %q", got, first)
	}
	// A trigger during the run answers with the running session.
	if id, started := s.Trigger(); id != first || started {
		t.Fatalf("Trigger during a run = (%q, %v), want (%q, false)", id, started, first)
	}
	fs.release <- struct{}{}
	waitFor(t, func() bool { return len(job.records()) == 1 })

	// Idle: a trigger starts a manual run with the id it returned, once.
	id, started := s.Trigger()
	if !started {
		t.Fatal("Trigger when idle did not start a run")
	}
	if again, started := s.Trigger(); again != id || started {
		t.Fatalf("second Trigger = (%q, %v), want the pending %q", again, started, id)
	}
	if got := waitStarted(t, fs); got != id {
		t.Fatalf("started %q, want the triggered %q", got, id)
	}

	// Shutdown stops the running session and records its outcome.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	recs := job.records()
	if len(recs) != 2 {
		t.Fatalf("recorded %d runs, want 2", len(recs))
	}
	if recs[0].Trigger != session.TriggerSchedule || recs[1].Trigger != session.TriggerManual {
		t.Errorf("triggers = %s, %s; want schedule, manual", recs[0].Trigger, recs[1].Trigger)
	}
	if recs[1].Outcome != session.OutcomeInterrupted {
		t.Errorf("outcome at shutdown = %s, want interrupted", recs[1].Outcome)
	}
	if fs.max != 1 {
		t.Errorf("%d tier 1 sessions ran at once, want 1", fs.max)
	}
	for _, sp := range fs.specs {
		if sp.Tier != session.Tier1 {
			t.Errorf("spec tier = %d, want 1", sp.Tier)
		}
	}
}

func TestSchedulerIntervalCountsFromEnd(t *testing.T) {
	fs, job := newFakeSessions(), &fakeJob{}
	interval := 150 * time.Millisecond
	s := New(interval, fs, job, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()

	waitStarted(t, fs)
	time.Sleep(2 * interval) // a long run: no second session may start meanwhile
	select {
	case id := <-fs.started:
		t.Fatalf("session %s started while one was running", id)
	default:
	}
	ended := time.Now()
	fs.release <- struct{}{}
	waitStarted(t, fs)
	if gap := time.Since(ended); gap < interval {
		t.Errorf("next run started %v after the end of the last, want at least %v", gap, interval)
	}
	fs.release <- struct{}{}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
