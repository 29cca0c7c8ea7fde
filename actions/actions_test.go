package actions

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// fakeEngine keeps containers in memory; a restart moves StartedAt unless
// stuck.
type fakeEngine struct {
	mu       sync.Mutex
	byID     map[string]engine.Container
	restarts int
	stuck    bool
}

func newFakeEngine() *fakeEngine {
	e := &fakeEngine{byID: map[string]engine.Container{}}
	for _, c := range []engine.Container{
		{ID: strings.Repeat("a", 64), Name: "shop-web-1", State: "running", ComposeService: "web", ComposeProject: "shop"},
		{ID: strings.Repeat("b", 64), Name: "db", State: "running"},
		{ID: strings.Repeat("c", 64), Name: "worker", State: "running"},
	} {
		c.StartedAt = time.Unix(1000, 0)
		e.byID[c.ID] = c
	}
	return e
}

func (e *fakeEngine) Inspect(_ context.Context, id string) (engine.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.byID[id]; ok {
		return c, nil
	}
	for _, c := range e.byID {
		if c.Name == id {
			return c, nil
		}
	}
	return engine.Container{}, engine.ErrNotFound
}

func (e *fakeEngine) Restart(_ context.Context, id string, _ time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.byID[id]
	e.restarts++
	if !e.stuck {
		c.StartedAt = c.StartedAt.Add(time.Minute)
	}
	e.byID[id] = c
	return nil
}

func (e *fakeEngine) Recreate(_ context.Context, id string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.byID[id]
	delete(e.byID, id)
	c.ID = strings.Repeat("f", 64)
	e.byID[c.ID] = c
	return c.ID, nil
}

func (e *fakeEngine) Logs(_ context.Context, id string, tail int) (string, error) {
	return fmt.Sprintf("logs of %.12s, %d lines", id, tail), nil
}

func (e *fakeEngine) containers() []services.Container {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []services.Container
	for _, c := range e.byID {
		out = append(out, services.Container{ID: c.ID, Name: c.Name, ComposeService: c.ComposeService, ComposeProject: c.ComposeProject})
	}
	return out
}

// fakeCommands answers each argv[0] with a fixed exit code.
type fakeCommands struct {
	mu   sync.Mutex
	exit map[string]int
	ran  []string
}

func (f *fakeCommands) Run(_ context.Context, argv []string, _ time.Duration) (runner.CommandResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ran = append(f.ran, strings.Join(argv, " "))
	return runner.CommandResult{ExitCode: f.exit[argv[0]], Output: "out of " + argv[0]}, nil
}

type harness struct {
	chain    *Chain
	st       *store.Store
	eng      *fakeEngine
	cmds     *fakeCommands
	reg      *prometheus.Registry
	now      time.Time
	actions  []session.Action
	refusals []Verdict
	report   func(session.Action)
	refused  func(session.Stage, string)
}

func newHarness(t *testing.T, mut func(*Config)) *harness {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{st: st, eng: newFakeEngine(), cmds: &fakeCommands{exit: map[string]int{}}, reg: prometheus.NewRegistry(),
		now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	cfg := Config{
		Limits: DefaultLimits, Ledger: st, Engine: h.eng, Commands: h.cmds, Registerer: h.reg,
		Catalog: func(context.Context) (*services.Catalog, error) {
			return services.Build(catalogDecls, h.eng.containers()), nil
		},
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return h.now },
	}
	if mut != nil {
		mut(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.chain = c
	h.report = func(a session.Action) { mu.Lock(); h.actions = append(h.actions, a); mu.Unlock() }
	h.refused = func(stage session.Stage, reason string) {
		mu.Lock()
		h.refusals = append(h.refusals, Verdict{Stage: stage, Refused: true, Reason: reason})
		mu.Unlock()
	}
	return h
}

// do is a call of session s, bound as the session manager binds it: its
// steps and refusals reported to the harness.
func (h *harness) do(ctx context.Context, s Session, call Call) Result {
	s.Report, s.Refused = h.report, h.refused
	return h.chain.Do(ctx, s, call)
}

var t2web = Session{ID: "s2", Tier: session.Tier2, IncidentID: "inc", Service: "web"}

func TestDoRestartVerifiedAndCooledDownByAnyAlias(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	// Three restarts of the same service through three of its names.
	for i, alias := range []string{"web", "/shop-web-1", strings.Repeat("a", 12)} {
		res := h.do(ctx, t2web, Call{Kind: session.ActionRestart, Target: alias})
		want := session.ResultDone
		if i == 2 {
			want = session.ResultRefused
		}
		if res.Result != want || res.Service != "web" {
			t.Fatalf("restart %d via %q: %+v, want %s", i, alias, res, want)
		}
		h.now = h.now.Add(time.Minute)
	}
	if h.eng.restarts != 2 {
		t.Errorf("engine restarts = %d, want 2", h.eng.restarts)
	}
	rows, err := h.st.ActionsSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("ledger = %+v", rows)
	}
	for i, want := range []struct{ result, outcome, stage, target string }{
		{"allowed", "done", "verify", "web"},
		{"allowed", "done", "verify", "/shop-web-1"},
		{"refused_cooldown", "", "cooldown", "aaaaaaaaaaaa"},
	} {
		r := rows[i]
		if r.Service != "web" || r.Action != "restart" || r.Tier != 2 || r.Result != want.result || r.Outcome != want.outcome ||
			r.Stage != want.stage || r.Target != want.target || r.IncidentID != "inc" || r.SessionID != "s2" {
			t.Errorf("row %d = %+v, want %+v", i, r, want)
		}
	}
	if len(h.refusals) != 1 || h.refusals[0].Stage != session.StageCooldown {
		t.Errorf("refusals reported = %+v", h.refusals)
	}
	if len(h.actions) != 3 || h.actions[2].Stage != "cooldown" || h.actions[0].Result != "done" {
		t.Errorf("session actions = %+v", h.actions)
	}
	if got := testutil.ToFloat64(h.chain.metrics.calls.WithLabelValues("restart", "done", "2")); got != 2 {
		t.Errorf("actions_total{restart,done,2} = %v", got)
	}
	if got := testutil.ToFloat64(h.chain.metrics.refusals.WithLabelValues("cooldown")); got != 1 {
		t.Errorf("refusals{cooldown} = %v", got)
	}
	if got := testutil.ToFloat64(h.chain.metrics.remediation.WithLabelValues("web", "restart", "refused_cooldown")); got != 1 {
		t.Errorf("remediation_actions_total{web,restart,refused_cooldown} = %v", got)
	}
	// The window slides.
	h.now = h.now.Add(4 * time.Hour)
	if res := h.do(ctx, t2web, Call{Kind: session.ActionRestart, Target: "frontend"}); res.Result != session.ResultDone {
		t.Errorf("restart after the window: %+v", res)
	}
}

func TestDoUnverifiedFailedProposed(t *testing.T) {
	ctx := context.Background()
	t.Run("restart the engine does not confirm", func(t *testing.T) {
		h := newHarness(t, nil)
		h.eng.stuck = true
		res := h.do(ctx, t2web, Call{Kind: session.ActionRestart, Target: "web"})
		if res.Result != session.ResultUnverified || res.Stage != session.StageVerify {
			t.Fatalf("%+v", res)
		}
		rows, _ := h.st.ActionsSince(ctx, time.Time{})
		if rows[0].Result != "allowed" || rows[0].Outcome != "unverified" {
			t.Errorf("row = %+v (an unverified restart still counts for the cooldown)", rows[0])
		}
	})
	t.Run("dry run", func(t *testing.T) {
		h := newHarness(t, nil)
		s := t2web
		s.DryRun = true
		res := h.do(ctx, s, Call{Kind: session.ActionRestart, Target: "web"})
		if res.Result != session.ResultProposed || h.eng.restarts != 0 {
			t.Fatalf("%+v, restarts %d", res, h.eng.restarts)
		}
		rows, _ := h.st.ActionsSince(ctx, time.Time{})
		if len(rows) != 1 || rows[0].Result != "dry_run" || rows[0].Stage != "dry_run" {
			t.Errorf("rows = %+v", rows)
		}
	})
	t.Run("playbook whose verification fails", func(t *testing.T) {
		h := newHarness(t, nil)
		h.cmds.exit["/bin/verify"] = 1
		res := h.do(ctx, t2web, Call{Kind: session.ActionPlaybook, Target: "web", Name: "flush-cache"})
		if res.Result != session.ResultUnverified || !strings.Contains(res.Text, "verification exited 1") {
			t.Fatalf("%+v", res)
		}
		if strings.Join(h.cmds.ran, "|") != "/bin/flush --all|/bin/verify" {
			t.Errorf("ran %q", h.cmds.ran)
		}
	})
	t.Run("playbook that fails", func(t *testing.T) {
		h := newHarness(t, nil)
		h.cmds.exit["/bin/flush"] = 2
		res := h.do(ctx, t2web, Call{Kind: session.ActionPlaybook, Target: "web", Name: "flush-cache"})
		if res.Result != session.ResultFailed || res.Stage != session.StageExecute {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("redeploy recreates", func(t *testing.T) {
		h := newHarness(t, nil)
		s := t2web
		s.Tier = session.Tier3
		res := h.do(ctx, s, Call{Kind: session.ActionRedeploy, Target: "db"})
		if res.Result != session.ResultDone || !strings.Contains(res.Text, "now ffffffffffff") {
			t.Fatalf("%+v", res)
		}
		if res := h.do(ctx, s, Call{Kind: session.ActionRedeploy, Target: "db"}); res.Result != session.ResultRefused || res.Stage != session.StageCooldown {
			t.Fatalf("second redeploy: %+v", res)
		}
	})
	t.Run("probe", func(t *testing.T) {
		h := newHarness(t, nil)
		res := h.do(ctx, Session{ID: "t1", Tier: session.Tier1}, Call{Kind: session.ProbeContainerLogs, Target: "db", Tail: 5})
		if res.Result != session.ResultDone || !strings.Contains(res.Text, "5 lines") {
			t.Fatalf("%+v", res)
		}
		if rows, _ := h.st.ActionsSince(ctx, time.Time{}); len(rows) != 0 {
			t.Errorf("a probe wrote the ledger: %+v", rows)
		}
	})
}

// TestDoConcurrent: ten sessions race to restart one service; the cooldown
// lets exactly two through to the engine.
func TestDoConcurrent(t *testing.T) {
	h := newHarness(t, nil)
	var wg sync.WaitGroup
	results := make(chan session.ActionResult, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := t2web
			s.ID = fmt.Sprint("s", i)
			results <- h.do(context.Background(), s, Call{Kind: session.ActionRestart, Target: "frontend"}).Result
		}()
	}
	wg.Wait()
	close(results)
	n := map[session.ActionResult]int{}
	for r := range results {
		n[r]++
	}
	if n[session.ResultDone] != 2 || n[session.ResultRefused] != 8 || h.eng.restarts != 2 {
		t.Errorf("results %v, engine restarts %d", n, h.eng.restarts)
	}
}
