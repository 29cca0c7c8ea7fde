package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/claude-ops/claude-ops/prompts"
	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "claude-ops.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

// TestSchema: the Tier 2/3 schema takes memories, bounded.
func TestSchema(t *testing.T) {
	result := func(memories any) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"summary": "s", "outcome": "fixed", "actions": []any{}, "findings": "f", "memories": memories})
		return b
	}
	mem := func(obs string, c float64) map[string]any {
		return map[string]any{"service": "web", "observation": obs, "confidence": c}
	}
	ok := result([]any{mem("pool exhausted", 0.8), mem(strings.Repeat("é", session.MaxMemoryObservation), 1)})
	r, err := session.ParseRemediation(session.Tier2, ok)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Memories) != 2 || r.Memories[0] != (session.Memory{Service: "web", Observation: "pool exhausted", Confidence: 0.8}) {
		t.Errorf("memories = %+v", r.Memories)
	}
	without, _ := json.Marshal(map[string]any{"summary": "s", "outcome": "fixed", "actions": []any{}, "findings": "f"})
	if _, err := session.ParseRemediation(session.Tier3, without); err != nil {
		t.Errorf("memories are optional: %v", err)
	}
	six := make([]any, session.MaxMemories+1)
	for i := range six {
		six[i] = mem("x", 0.5)
	}
	for name, bad := range map[string]json.RawMessage{
		"too many":          result(six),
		"too long":          result([]any{mem(strings.Repeat("a", session.MaxMemoryObservation+1), 0.5)}),
		"confidence > 1":    result([]any{mem("x", 1.5)}),
		"confidence < 0":    result([]any{mem("x", -0.1)}),
		"empty observation": result([]any{mem("", 0.5)}),
		"no service":        result([]any{map[string]any{"observation": "x", "confidence": 0.5}}),
		"extra field":       result([]any{map[string]any{"service": "web", "observation": "x", "confidence": 0.5, "score": 9}}),
	} {
		if _, err := session.ParseRemediation(session.Tier2, bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if !strings.Contains(session.Schema(session.Tier2), `"memories"`) || strings.Contains(session.Schema(session.Tier1), `"memories"`) {
		t.Error("memories belong to the Tier 2/3 schema only")
	}
}

// TestOnClose: memories are redacted, bounded, scored and stored with their
// incident and session; the handoff gets the best non-negative ones.
func TestOnClose(t *testing.T) {
	st, path := openStore(t)
	reg := prometheus.NewRegistry()
	now := t0.Add(3 * time.Hour)
	m, err := New(Config{Store: st, Secrets: []string{"hunter2-secret", "ab"}, Registerer: reg, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 600)
	m.OnClose(remediator.Incident{
		ID: "inc-1", Service: "web", State: remediator.StateClosed, Outcome: session.OutcomeRemediated, Closed: t0.Add(time.Hour),
		Sessions: []remediator.SessionRef{
			{ID: "s2", Tier: session.Tier2, End: t0.Add(10 * time.Minute), Outcome: session.OutcomeNotFixed,
				Result: &session.RemediationResult{Memories: []session.Memory{
					{Service: "web", Observation: "logs say DNS; was not it", Confidence: 0.4},
				}}},
			{ID: "s3", Tier: session.Tier3, End: t0.Add(30 * time.Minute), Outcome: session.OutcomeRemediated,
				Result: &session.RemediationResult{Memories: []session.Memory{
					{Service: " web ", Observation: "the pool password hunter2-secret is fine; a redeploy fixed it", Confidence: 0.9},
					{Service: "db", Observation: `config has "token": "hunter2-secret"`, Confidence: 2},
					{Service: "", Observation: "no service", Confidence: 1},
					{Service: "web", Observation: long, Confidence: 0.1},
					{Service: "web", Observation: "4", Confidence: 0.1},
					{Service: "web", Observation: "5", Confidence: 0.1},
					{Service: "web", Observation: "6: beyond the bound", Confidence: 0.1},
				}}},
			{ID: "s4", Tier: session.Tier3, Outcome: session.OutcomeError}, // no result
		},
	})
	all, err := st.ListMemories(context.Background(), store.MemoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Fatalf("%d memories stored, want 6: %+v", len(all), all)
	}
	byObs := map[string]store.Memory{}
	for _, mem := range all {
		if strings.Contains(mem.Observation, "hunter2") {
			t.Errorf("a secret was stored: %q", mem.Observation)
		}
		byObs[mem.Observation] = mem
	}
	fix, ok := byObs["the pool password [REDACTED] is fine; a redeploy fixed it"]
	if !ok || fix.Service != "web" || fix.Score != 1.9 || fix.Verdict != "confirmed" || fix.IncidentID != "inc-1" ||
		fix.Outcome != "remediated" || fix.SessionID != "s3" || fix.Tier != 3 || !fix.Created.Equal(t0.Add(30*time.Minute)) ||
		!fix.Scored.Equal(t0.Add(time.Hour)) {
		t.Errorf("the fixing session's memory: %+v", fix)
	}
	if db := byObs[`config has "token": "[REDACTED]"`]; db.Service != "db" || db.Confidence != 1 || db.Score != 2 {
		t.Errorf("db memory: %+v", db)
	}
	if lead := byObs["logs say DNS; was not it"]; lead.Verdict != "unverified" || lead.Score != 0 || lead.SessionID != "s2" {
		t.Errorf("the other session's memory: %+v", lead)
	}
	if _, ok := byObs[strings.Repeat("x", session.MaxMemoryObservation)]; !ok {
		t.Error("a long observation was not cut to the bound")
	}
	if _, ok := byObs["6: beyond the bound"]; ok {
		t.Error("more than MaxMemories stored from one session")
	}

	// The handoff: the best 3 of web, with score and age.
	_, user := m.Prompt(session.Tier2, prompts.Handoff{Service: "WEB"})
	for _, want := range []string{"<untrusted-memories>",
		`{"service":"web","observation":"the pool password [REDACTED] is fine; a redeploy fixed it","confidence":0.9,"score":1.9,"age":"2h","incident_outcome":"remediated"}`,
		`{"service":"web","observation":"5","confidence":0.1,"score":1.1,"age":"2h","incident_outcome":"remediated"}`} {
		if !strings.Contains(user, want) {
			t.Errorf("handoff lacks %s:\n%s", want, user)
		}
	}
	if strings.Contains(user, "logs say DNS") {
		t.Errorf("an unverified memory beat confirmed ones:\n%s", user)
	}
	if n := strings.Count(user, `"observation"`); n != DefaultTop {
		t.Errorf("%d memories in the handoff, want %d", n, DefaultTop)
	}
	if _, user := m.Prompt(session.Tier2, prompts.Handoff{Service: "mail"}); strings.Contains(user, "memories") {
		t.Errorf("a service without memories got a block:\n%s", user)
	}

	// Metrics.
	if got := testutil.ToFloat64(m.metrics.recorded.WithLabelValues("confirmed")); got != 5 {
		t.Errorf("recorded confirmed = %v, want 5", got)
	}
	want := `
# HELP claudeops_memories Memories stored, by service (the 50 services with the most; the rest as service="_other").
# TYPE claudeops_memories gauge
claudeops_memories{service="db"} 1
claudeops_memories{service="web"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "claudeops_memories"); err != nil {
		t.Error(err)
	}

	// Closing again (after a crash) changes nothing; a restart keeps them.
	st.Close()
	st2, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if got, _ := st2.ListMemories(context.Background(), store.MemoryQuery{Service: "web"}); len(got) != 5 {
		t.Errorf("%d web memories after a restart, want 5", len(got))
	}
}

func TestBoundSeries(t *testing.T) {
	counts := map[string]int{}
	for i := range maxSeries + 5 {
		counts[fmt.Sprintf("svc%03d", i)] = 1
	}
	counts["big"] = 10
	got := boundSeries(counts, maxSeries)
	if len(got) != maxSeries+1 || got["big"] != 10 || got[otherService] != 6 {
		t.Errorf("%d series, big %d, other %d", len(got), got["big"], got[otherService])
	}
	total := 0
	for _, n := range got {
		total += n
	}
	if total != maxSeries+5+10 {
		t.Errorf("total %d", total)
	}
}
