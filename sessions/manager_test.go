package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

// fakeRunner records the request and ends when released or cancelled.
type fakeRunner struct {
	mu      sync.Mutex
	reqs    []session.Request
	started chan string
	release chan session.Record
}

func (f *fakeRunner) Run(ctx context.Context, req session.Request) session.Record {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	f.started <- req.ID
	rec := session.Record{ID: req.ID, Tier: req.Tier, Model: req.Model, Trigger: req.Trigger, IncidentID: req.IncidentID}
	select {
	case out := <-f.release:
		rec.Outcome, rec.StructuredOutput = out.Outcome, out.StructuredOutput
	case <-ctx.Done():
		rec.Outcome = session.OutcomeInterrupted
		if o, ok := session.OutcomeOf(context.Cause(ctx)); ok {
			rec.Outcome = o
		}
	}
	return rec
}

type fakeStore struct {
	mu    sync.Mutex
	saved []session.Record
}

func (f *fakeStore) SaveSession(_ context.Context, r session.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saved = append(f.saved, r)
	return nil
}

type fakeMetrics struct {
	mu       sync.Mutex
	started  []session.Tier
	finished []session.Record
}

func (f *fakeMetrics) Started(t session.Tier) {
	f.mu.Lock()
	f.started = append(f.started, t)
	f.mu.Unlock()
}
func (f *fakeMetrics) Finished(r session.Record) {
	f.mu.Lock()
	f.finished = append(f.finished, r)
	f.mu.Unlock()
}

type fakeGate struct {
	registered   []Binding
	unregistered int
}

func (f *fakeGate) Attach(s Binding) (Attached, func()) {
	f.registered = append(f.registered, s)
	return Attached{
		Env: map[string]string{"CLAUDEOPS_SESSION_ID": s.ID}, Settings: map[string]any{"hooks": map[string]any{}},
		MCPServers: map[string]json.RawMessage{"ops": json.RawMessage(`{"type":"http"}`)}, Allow: []string{"mcp__ops__restart_service"},
	}, func() { f.unregistered++ }
}

func newTestManager(cfg Config) (*Manager, *fakeRunner, *fakeStore, *fakeMetrics, *fakeGate) {
	r := &fakeRunner{started: make(chan string, 4), release: make(chan session.Record, 4)}
	st, m, g := &fakeStore{}, &fakeMetrics{}, &fakeGate{}
	if cfg.Models == nil {
		cfg.Models = map[session.Tier]string{1: "haiku", 2: "sonnet", 3: "opus"}
	}
	return New(cfg, r, st, m, g), r, st, m, g
}

func TestRunPersistsRegistersAndMeasures(t *testing.T) {
	mgr, r, st, m, g := newTestManager(Config{ReposDir: "/repos", PrometheusURL: "http://prom:9090", MCPConfig: func() json.RawMessage { return json.RawMessage(`{"mcpServers":{"ops":{"type":"stdio"},"prom":{}}}`) }})
	type result struct {
		rec session.Record
		err error
	}
	done := make(chan result)
	go func() {
		rec, err := mgr.Run(context.Background(), Spec{Tier: 2, Trigger: session.TriggerAlert, IncidentID: "inc-1", Service: "web", System: "sys", Prompt: "fix"})
		done <- result{rec, err}
	}()
	id := <-r.started

	// While it runs: persisted as running, listed, gate registered.
	if live, _, ok := mgr.Get(id); !ok || live.Outcome != session.OutcomeRunning {
		t.Fatalf("Get(%s) = %+v, %v; want a running record", id, live, ok)
	}
	if ids := mgr.Running(2); !slices.Equal(ids, []string{id}) {
		t.Errorf("Running(2) = %v", ids)
	}
	mgr.AddAction(id, session.Action{Service: "web", Action: "restart", Result: "allowed"})
	r.release <- session.Record{Outcome: session.OutcomeRemediated, StructuredOutput: json.RawMessage(`{}`)}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}

	req := r.reqs[0]
	if req.Model != "sonnet" || req.Tier != 2 || req.Dir != "/repos" || !strings.HasPrefix(req.SystemPrompt, "sys\n") ||
		!strings.Contains(req.SystemPrompt, "mcp__ops__prometheus_query") || req.Prompt != "fix" {
		t.Errorf("request = %+v", req)
	}
	if !slices.Contains(req.Policy.Allow, "mcp__ops__restart_service") || slices.Contains(req.Policy.Tools, "Task") {
		t.Errorf("tier 2 tools = %v, allow = %v", req.Policy.Tools, req.Policy.Allow)
	}
	// The daemon's ops server replaces a repo's server of that name.
	if string(req.MCPConfig) != `{"mcpServers":{"ops":{"type":"http"},"prom":{}}}` || string(req.Settings) != `{"hooks":{}}` || req.Env["CLAUDEOPS_SESSION_ID"] != id {
		t.Errorf("mcp %s, settings %s, env %v", req.MCPConfig, req.Settings, req.Env)
	}
	if len(g.registered) != 1 || g.registered[0].Service != "web" || g.registered[0].IncidentID != "inc-1" || g.unregistered != 1 {
		t.Errorf("gate: registered %+v, unregistered %d", g.registered, g.unregistered)
	}
	if len(st.saved) != 2 || st.saved[0].Outcome != session.OutcomeRunning || st.saved[1].Outcome != session.OutcomeRemediated {
		t.Fatalf("saved %+v, want running then remediated", st.saved)
	}
	if st.saved[0].Service != "web" || st.saved[1].Service != "web" || res.rec.Service != "web" {
		t.Errorf("records name services %q, %q, %q; want web (the blast radius after a restart reads it)", st.saved[0].Service, st.saved[1].Service, res.rec.Service)
	}
	if len(res.rec.Actions) != 1 || len(st.saved[1].Actions) != 1 {
		t.Errorf("the gate's action is not in the record: %+v", res.rec.Actions)
	}
	if !slices.Equal(m.started, []session.Tier{2}) || len(m.finished) != 1 || m.finished[0].Outcome != session.OutcomeRemediated {
		t.Errorf("metrics: started %v finished %+v", m.started, m.finished)
	}
	if _, _, ok := mgr.Get(id); ok {
		t.Error("an ended session is still listed as running")
	}
}

func TestBudgetRefusesWithoutRunning(t *testing.T) {
	mgr, r, st, m, _ := newTestManager(Config{Budget: func(t session.Tier) (float64, bool) { return 0, t == session.Tier1 }})
	if _, err := mgr.Run(context.Background(), Spec{Tier: 2, Trigger: session.TriggerAlert}); !errors.Is(err, ErrBudget) {
		t.Fatalf("err = %v, want ErrBudget", err)
	}
	if len(r.reqs) != 0 || len(st.saved) != 0 || len(m.started) != 0 {
		t.Errorf("a refused session left traces: %d runs, %d saves, %d starts", len(r.reqs), len(st.saved), len(m.started))
	}
}

func TestBudgetCapsTheSession(t *testing.T) {
	mgr, r, _, _, _ := newTestManager(Config{Budget: func(session.Tier) (float64, bool) { return 1.25, true }})
	go func() { r.release <- session.Record{Outcome: session.OutcomeHealthy} }()
	if _, err := mgr.Run(context.Background(), Spec{Tier: 1, Trigger: session.TriggerSchedule}); err != nil {
		t.Fatal(err)
	}
	<-r.started
	if r.reqs[0].MaxBudgetUSD != 1.25 {
		t.Errorf("MaxBudgetUSD = %v, want what is left of the budget", r.reqs[0].MaxBudgetUSD)
	}
}

func TestDryRunOutcomeAndPowers(t *testing.T) {
	mgr, r, _, _, g := newTestManager(Config{DryRun: true, ReposDir: "/repos"})
	go func() {
		r.release <- session.Record{Outcome: session.OutcomeRemediated, StructuredOutput: json.RawMessage(`{}`)}
	}()
	rec, err := mgr.Run(context.Background(), Spec{Tier: 3, Trigger: session.TriggerAlert})
	if err != nil {
		t.Fatal(err)
	}
	<-r.started
	if rec.Outcome != session.OutcomeDryRun {
		t.Errorf("outcome = %s, want dry_run", rec.Outcome)
	}
	if slices.Contains(r.reqs[0].Policy.Tools, "Edit") {
		t.Errorf("dry-run tier 3 tools = %v, want tier 1's", r.reqs[0].Policy.Tools)
	}
	if !g.registered[0].DryRun {
		t.Error("the gate was not told the session is a dry run")
	}
}

func TestCancelGivesTheOutcome(t *testing.T) {
	mgr, r, _, _, _ := newTestManager(Config{})
	done := make(chan session.Record)
	go func() {
		rec, _ := mgr.Run(context.Background(), Spec{Tier: 2, Trigger: session.TriggerAlert})
		done <- rec
	}()
	id := <-r.started
	if !mgr.Cancel(id, session.OutcomeResolved) {
		t.Fatal("Cancel of a running session returned false")
	}
	select {
	case rec := <-done:
		if rec.Outcome != session.OutcomeResolved {
			t.Errorf("outcome = %s, want resolved", rec.Outcome)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled session did not end")
	}
	if mgr.Cancel(id, session.OutcomeResolved) {
		t.Error("Cancel of an ended session returned true")
	}
}
