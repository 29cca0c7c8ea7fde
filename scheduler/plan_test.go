package scheduler

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/claude-ops/claude-ops/probes"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
)

var day0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// planWorld is a plan source and a repos hash the test changes.
type planWorld struct {
	mu   sync.Mutex
	plan *probes.Plan
	hash string
}

func (w *planWorld) Current() *probes.Plan {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.plan
}

func (w *planWorld) Hash() (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hash, nil
}

func (w *planWorld) setHash(h string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hash = h
}

// makePlan is a plan made by session id at t from the current hash, with
// one accepted probe when active.
func (w *planWorld) makePlan(id string, t time.Time, active bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := &probes.Plan{SessionID: id, MadeAt: t, ReposHash: w.hash, Version: versionAfter(w.plan)}
	if active {
		p.Probes = []probes.PlannedProbe{{Service: "web", Probe: session.Probe{Name: "http", Type: session.ProbeTypeHTTP}}}
	}
	w.plan = p
}

func versionAfter(p *probes.Plan) int64 {
	if p == nil {
		return 1
	}
	return p.Version + 1
}

func newPolicy(w *planWorld, reg prometheus.Registerer) *PlanPolicy {
	return NewPlanPolicy(PlanPolicyConfig{Plans: w, Hash: w.Hash, Discovery: 24 * time.Hour, Retry: time.Hour,
		Recheck: 30 * time.Second, Registerer: reg})
}

// TestPlanPolicyDue: when the plan mode runs Tier 1, and when it does not.
func TestPlanPolicyDue(t *testing.T) {
	w := &planWorld{hash: "h1"}
	reg := prometheus.NewPedanticRegistry()
	p := newPolicy(w, reg)
	at := day0.Add
	check := func(what string, now time.Duration, last LastRun, wantReason string, wantWait time.Duration) {
		t.Helper()
		reason, wait := p.Due(at(now), last)
		switch {
		case wantReason == "" && reason != "":
			t.Errorf("%s: due (%s), want no run", what, reason)
		case wantReason != "" && !strings.Contains(reason, wantReason):
			t.Errorf("%s: reason %q, want %q", what, reason, wantReason)
		case wantReason == "" && wait != wantWait:
			t.Errorf("%s: wait %s, want %s", what, wait, wantWait)
		}
	}
	none := LastRun{}

	check("start without a plan", 0, none, "there is no probe plan yet", 0)
	check("no plan, the last run failed 10m ago", 10*time.Minute, LastRun{ID: "s0", End: at(0)}, "", 30*time.Second)
	check("no plan, an hour later", time.Hour, LastRun{ID: "s0", End: at(0)}, "there is no probe plan yet", 0)

	w.makePlan("s1", at(time.Hour), true)
	last := LastRun{ID: "s1", End: at(time.Hour)}
	check("a fresh plan: nothing to do", time.Hour+time.Second, last, "", 30*time.Second)
	check("a plan, hours later", 10*time.Hour, last, "", 30*time.Second)
	check("start with a stored plan of the same repos", 10*time.Hour, none, "", 30*time.Second)
	check("23h59m50s after the plan: wait for discovery", 24*time.Hour+time.Hour-10*time.Second, last, "", 10*time.Second)
	check("discovery", 25*time.Hour, last, "plan 1 is 24h0m0s old", 0)

	w.setHash("h2")
	check("repos changed", 2*time.Hour, last, "the repos changed since plan 1 was made", 0)
	check("repos changed while stopped", 2*time.Hour, none, "the repos changed since plan 1 was made", 0)
	failed := LastRun{ID: "s2", End: at(2 * time.Hour)} // a run that made no plan
	check("repos changed, the last run made no plan", 2*time.Hour+time.Minute, failed, "", 30*time.Second)
	check("repos changed, retry after the interval", 3*time.Hour, failed, "the repos changed", 0)
	w.makePlan("s3", at(3*time.Hour), true)
	last = LastRun{ID: "s3", End: at(3 * time.Hour)}
	check("the new plan", 3*time.Hour+time.Minute, last, "", 30*time.Second)

	// An unforeseen failure: at once, but not sooner than an interval
	// after the last run.
	p.Unforeseen("probe http of service web: the name web.example.com no longer resolves")
	check("unforeseen, 10m after the last run", 3*time.Hour+10*time.Minute, last, "", 30*time.Second)
	check("unforeseen, an hour after", 4*time.Hour, last, "a probe failed in a way the plan did not foresee: probe http of service web", 0)
	check("unforeseen is run once", 4*time.Hour, last, "", 30*time.Second)
	p.Unforeseen("probe http of service web: gone")
	w.makePlan("s4", at(4*time.Hour), true)
	check("a newer plan forgets an unforeseen failure", 6*time.Hour, LastRun{ID: "s4", End: at(4 * time.Hour)}, "", 30*time.Second)

	// A plan without probes: the check mode's rhythm.
	w.makePlan("s5", at(5*time.Hour), false)
	last = LastRun{ID: "s5", End: at(5 * time.Hour)}
	check("no probes, 10m later", 5*time.Hour+10*time.Minute, last, "", 30*time.Second)
	check("no probes, an hour later", 6*time.Hour, last, "plan 4 has no probe to run", 0)
	check("no probes, at start", 5*time.Hour+time.Minute, none, "plan 4 has no probe to run", 0)

	for reason, want := range map[string]float64{ReasonNoPlan: 2, ReasonDiscovery: 1, ReasonReposChanged: 3,
		ReasonUnforeseen: 1, ReasonNoProbes: 2} {
		if got := testutil.ToFloat64(p.metrics.planRuns.WithLabelValues(reason)); got != want {
			t.Errorf("claudeops_tier1_plan_runs_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "claudeops_tier1_plan_runs_total"); err != nil || n != 5 {
		t.Errorf("%d series (%v)", n, err)
	}
}

// planJob makes a plan of every run: the sessions fake says whether it has
// probes.
type planJob struct {
	w       *planWorld
	clock   *fakeClock
	active  bool
	mu      sync.Mutex
	reasons []string
}

func (j *planJob) Prepare(ctx context.Context) (sessions.Spec, error) {
	j.mu.Lock()
	j.reasons = append(j.reasons, Reason(ctx))
	j.mu.Unlock()
	return sessions.Spec{Prompt: "plan"}, nil
}

func (j *planJob) Record(_ context.Context, rec session.Record) {
	if rec.Outcome == session.OutcomeHealthy {
		j.w.makePlan(rec.ID, j.clock.Now(), j.active)
	}
}

func (j *planJob) runs() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.reasons...)
}

// instantSessions ends every session at once, after taking d of the clock.
type instantSessions struct {
	clock   *fakeClock
	d       time.Duration
	outcome session.Outcome
}

func (s *instantSessions) Run(_ context.Context, spec sessions.Spec) (session.Record, error) {
	s.clock.Advance(s.d)
	out := s.outcome
	if out == "" {
		out = session.OutcomeHealthy
	}
	return session.Record{ID: spec.ID, Tier: spec.Tier, Trigger: spec.Trigger, Outcome: out, End: s.clock.Now()}, nil
}

// TestSchedulerPlanMode drives the real scheduler loop with the plan policy
// over two simulated days: one run at start, none while nothing changes, one
// when the repos change, one for an unforeseen failure (an interval after
// the last run), one at discovery.
func TestSchedulerPlanMode(t *testing.T) {
	clock := newFakeClock(day0)
	w := &planWorld{hash: "h1"}
	policy := newPolicy(w, nil)
	job := &planJob{w: w, clock: clock, active: true}
	s := New(time.Hour, &instantSessions{clock: clock, d: 20 * time.Second}, job, nil)
	s.SetPolicy(policy)
	s.clock = clock
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	at := day0.Add

	clock.runUntil(t, at(12*time.Hour))
	if got := job.runs(); len(got) != 1 || got[0] != "there is no probe plan yet" {
		t.Fatalf("runs in the first 12h: %q, want the start-up run only", got)
	}
	w.setHash("h2")
	clock.runUntil(t, at(12*time.Hour+time.Minute))
	if got := job.runs(); len(got) != 2 || !strings.Contains(got[1], "the repos changed") {
		t.Fatalf("runs after the repos changed: %q", got)
	}
	if made := w.Current().MadeAt; made.Before(at(12*time.Hour)) || made.After(at(12*time.Hour+time.Minute)) {
		t.Errorf("plan made at %s, want within 30s of the change at 12:00", made)
	}
	policy.Unforeseen("probe http of service web: the name web.example.com no longer resolves")
	clock.wake(t, s.Wake)
	clock.runUntil(t, at(12*time.Hour+50*time.Minute))
	if got := job.runs(); len(got) != 2 {
		t.Fatalf("an unforeseen failure ran Tier 1 within an interval of the last run: %q", got)
	}
	clock.runUntil(t, at(13*time.Hour+time.Minute))
	if got := job.runs(); len(got) != 3 || !strings.Contains(got[2], "did not foresee") {
		t.Fatalf("runs after the unforeseen failure: %q", got)
	}
	clock.runUntil(t, at(36*time.Hour))
	if got := job.runs(); len(got) != 3 {
		t.Fatalf("runs before discovery: %q", got)
	}
	clock.runUntil(t, at(37*time.Hour+2*time.Minute))
	if got := job.runs(); len(got) != 4 || !strings.Contains(got[3], "24h0m0s old") {
		t.Fatalf("runs at discovery: %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSchedulerPlanModeWithoutProbes: a model that writes no probes leaves
// the daemon in the check mode's rhythm, and a manual trigger still runs.
func TestSchedulerPlanModeWithoutProbes(t *testing.T) {
	clock := newFakeClock(day0)
	w := &planWorld{hash: "h1"}
	job := &planJob{w: w, clock: clock, active: false}
	s := New(time.Hour, &instantSessions{clock: clock, d: 10 * time.Second}, job, nil)
	s.SetPolicy(newPolicy(w, nil))
	s.clock = clock
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	clock.runUntil(t, day0.Add(5*time.Hour+time.Minute))
	if got := job.runs(); len(got) != 6 {
		t.Fatalf("%d runs in 5h01m without probes, want 6 (start, then an hour after each ended): %q", len(got), got)
	}
}

// TestIntervalPolicy is the check mode's rhythm.
func TestIntervalPolicy(t *testing.T) {
	p := IntervalPolicy(time.Hour)
	if r, _ := p.Due(day0, LastRun{}); r == "" {
		t.Error("no start-up run")
	}
	if r, wait := p.Due(day0.Add(10*time.Minute), LastRun{ID: "a", End: day0}); r != "" || wait != 50*time.Minute {
		t.Errorf("10m after a run: %q, %s", r, wait)
	}
	if r, _ := p.Due(day0.Add(time.Hour), LastRun{ID: "a", End: day0}); r == "" {
		t.Error("no run an interval after the last")
	}
}
