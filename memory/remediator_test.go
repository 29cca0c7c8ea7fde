package memory

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/webhook"
)

// scriptedSessions runs each session as the next scripted result, keeping
// the prompts it was given.
type scriptedSessions struct {
	t       *testing.T
	mu      sync.Mutex
	results []map[string]any
	prompts []string
}

func (f *scriptedSessions) Run(_ context.Context, spec sessions.Spec) (session.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prompts = append(f.prompts, spec.Prompt)
	if len(f.results) == 0 {
		f.t.Errorf("unexpected session %d:\n%s", len(f.prompts), spec.Prompt)
		return session.Record{ID: spec.ID, Tier: spec.Tier, Outcome: session.OutcomeError, End: time.Now()}, nil
	}
	raw, _ := json.Marshal(f.results[0])
	f.results = f.results[1:]
	o, err := session.OutcomeFor(spec.Tier, raw)
	if err != nil {
		f.t.Errorf("scripted result breaks the schema: %v", err)
	}
	return session.Record{ID: spec.ID, Tier: spec.Tier, IncidentID: spec.IncidentID, Start: time.Now(), End: time.Now(),
		Outcome: o, StructuredOutput: raw}, nil
}

func (f *scriptedSessions) Cancel(string, session.Outcome) bool { return false }

func (f *scriptedSessions) prompt(t *testing.T, n int) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if n >= len(f.prompts) {
		t.Fatalf("session %d did not run", n)
	}
	return f.prompts[n]
}

func result(outcome string, memories ...session.Memory) map[string]any {
	r := map[string]any{"summary": "scripted", "outcome": outcome, "actions": []any{}, "findings": "scripted"}
	if len(memories) > 0 {
		r["memories"] = memories
	}
	return r
}

func alert(status, fp string) []webhook.Alert {
	return []webhook.Alert{{Service: "web", Status: status, Fingerprint: fp,
		Labels: labels.FromMap(map[string]string{"alertname": "WebDown", "service": "web"}), StartsAt: time.Now()}}
}

// TestSecondIncident is the proof at the remediator's level: a
// second incident on a service gets the memory the first one verified, and
// not those of an incident that led nowhere.
func TestSecondIncident(t *testing.T) {
	st, _ := openStore(t)
	mem, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	verified := session.Memory{Service: "web", Observation: "connection pool exhausted after deploys; a restart fixes it", Confidence: 0.8}
	wrongT2 := session.Memory{Service: "web", Observation: "it is DNS", Confidence: 0.9}
	wrongT3 := session.Memory{Service: "web", Observation: "the disk is full", Confidence: 0.6}
	ss := &scriptedSessions{t: t, results: []map[string]any{
		result("fixed", verified),      // incident 1, tier 2: verified by the alert resolving
		result("not_fixed", wrongT2),   // incident 2, tier 2
		result("needs_human", wrongT3), // incident 2, tier 3: a human
		result("needs_human"),          // incident 3, tier 2
		result("needs_human"),          // incident 3, tier 3
	}}
	rem, err := remediator.New(remediator.Config{}, remediator.Deps{
		Sessions: ss, Store: st, Prompt: mem.Prompt, OnClose: mem.OnClose,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rem.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	state := func() remediator.State {
		for _, in := range rem.Incidents() {
			return in.State
		}
		return remediator.StateClosed
	}
	wait := func(what string, want remediator.State) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for state() != want {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: state %s", what, state())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	enqueue := func(alerts []webhook.Alert) {
		t.Helper()
		if err := rem.Enqueue(ctx, alerts); err != nil {
			t.Fatal(err)
		}
	}

	// Incident 1: Tier 2 fixes it; the alert resolves.
	enqueue(alert("firing", "f1"))
	wait("tier 2 to report fixed", remediator.StateVerify2)
	enqueue(alert("resolved", "f1"))
	wait("incident 1 to close", remediator.StateClosed)
	if strings.Contains(ss.prompt(t, 0), "untrusted-memories") {
		t.Errorf("the first session got memories:\n%s", ss.prompt(t, 0))
	}

	// Incident 2: neither tier fixes it; a human does.
	enqueue(alert("firing", "f2"))
	wait("incident 2 to need a human", remediator.StateNeedsHuman)
	if p := ss.prompt(t, 1); !strings.Contains(p, verified.Observation) {
		t.Errorf("incident 2's tier 2 lacks the verified memory:\n%s", p)
	}
	enqueue(alert("resolved", "f2"))
	wait("incident 2 to close", remediator.StateClosed)

	// Incident 3 gets the verified memory, not the wrong leads.
	enqueue(alert("firing", "f3"))
	wait("incident 3 to need a human", remediator.StateNeedsHuman)
	p := ss.prompt(t, 3)
	if !strings.Contains(p, "<untrusted-memories>") || !strings.Contains(p, verified.Observation) ||
		!strings.Contains(p, `"score":1.8`) || !strings.Contains(p, `"incident_outcome":"remediated"`) {
		t.Errorf("incident 3 lacks the verified memory:\n%s", p)
	}
	for _, wrong := range []session.Memory{wrongT2, wrongT3} {
		if strings.Contains(p, wrong.Observation) {
			t.Errorf("incident 3 got the wrong lead %q:\n%s", wrong.Observation, p)
		}
	}
}
