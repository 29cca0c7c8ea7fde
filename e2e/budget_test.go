package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

// TestBudgetStopsRemediation: the start-up Tier 1 run reports a usage whose
// cost (the CLI's, at list price) is over --budget.daily-usd. An alert then
// starts no Tier 2 session: its incident goes to a human with reason
// budget, and the metrics say why; Tier 1 goes on (a manual run still runs).
func TestBudgetStopsRemediation(t *testing.T) {
	const limit = 0.5
	api := fakeapi.Start(t, func(r *fakeapi.Request) fakeapi.Turn {
		if strings.Contains(r.Model, "haiku") {
			return fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(tier1Result{Summary: "expensive", Services: []service{}})},
				Usage: fakeapi.Usage{InputTokens: 20_000_000, OutputTokens: 1000}}
		}
		t.Errorf("a %s session started although the budget is spent", r.Model)
		return answer(remediation{Summary: "should not run", Outcome: "not_fixed", Actions: []map[string]any{}, Findings: "-"})(r)
	})
	d := newDirs(t)
	dm := startDaemon(t, api, d, "--schedule.interval=1h", "--webhook.no-auth",
		"--budget.daily-usd="+strconv.FormatFloat(limit, 'f', -1, 64))

	metric := func(scrape, series string) float64 {
		t.Helper()
		v, err := strconv.ParseFloat(sampleValue(scrape, series), 64)
		if err != nil {
			t.Fatalf("%s: %v", series, err)
		}
		return v
	}
	var first sessionView
	waitFor(t, 60*time.Second, "the start-up tier 1 run", func() bool {
		ss := dm.sessions(t)
		if len(ss) != 1 || ss[0].Outcome == "running" {
			return false
		}
		first = ss[0]
		return true
	})
	var rec struct {
		Session struct {
			CostUSD float64 `json:"total_cost_usd"`
		} `json:"session"`
	}
	getJSON(t, dm.URL+"/api/v1/sessions/"+first.ID, &rec)
	if rec.Session.CostUSD < limit {
		t.Fatalf("the start-up run cost %v USD, want over the %v USD budget (tier 1 session %+v)", rec.Session.CostUSD, limit, first)
	}
	scrape := dm.scrape(t)
	spent, lim := metric(scrape, "claudeops_budget_spent_usd"), metric(scrape, "claudeops_budget_limit_usd")
	if lim != limit || spent < lim {
		t.Fatalf("budget metrics: spent %v, limit %v; want spent >= limit = %v", spent, lim, limit)
	}
	t.Logf("start-up run: outcome %s, %v USD (budget %v USD)", first.Outcome, rec.Session.CostUSD, limit)

	// An alert: no Tier 2, a human instead.
	dm.postAlert(t, "CheckoutDown", "checkout")
	var in incidentFull
	waitFor(t, 30*time.Second, "the incident to need a human", func() bool {
		var ok bool
		in, ok = dm.incidentOf(t, "checkout")
		return ok && in.State == "needs_human"
	})
	if in.Reason != "budget" {
		t.Errorf("incident reason %q (%s), want budget", in.Reason, in.Detail)
	}
	if len(in.Sessions) != 0 {
		t.Errorf("incident sessions = %+v, want none", in.Sessions)
	}
	scrape = dm.scrape(t)
	for series, want := range map[string]string{
		`claudeops_needs_human_attention{service="checkout"}`: "1",
		`claudeops_escalations_total{from="2",to="human"}`:    "1",
	} {
		if got := sampleValue(scrape, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
	for _, l := range metricLines(scrape, `claudeops_sessions_total{`) {
		if (strings.Contains(l, `tier="2"`) || strings.Contains(l, `tier="3"`)) && !strings.HasSuffix(l, " 0") {
			t.Errorf("a remediation session was counted: %s", l)
		}
	}
	if spent, lim := metric(scrape, "claudeops_budget_spent_usd"), metric(scrape, "claudeops_budget_limit_usd"); spent < lim || lim <= 0 {
		t.Errorf("budget metrics after the alert: spent %v, limit %v", spent, lim)
	}

	// Tier 1 goes on.
	code, body := httpPost(t, dm.URL+"/api/v1/runs", "application/json", `{"tier":1}`, nil)
	if code != 202 {
		t.Fatalf("POST /api/v1/runs: %d %s", code, body)
	}
	var run struct {
		ID      string `json:"id"`
		Started bool   `json:"started"`
	}
	if err := json.Unmarshal([]byte(body), &run); err != nil || !run.Started {
		t.Fatalf("POST /api/v1/runs answered %s", body)
	}
	if s := dm.waitSession(t, run.ID, 60*time.Second); s.Tier != 1 || s.Trigger != "manual" || s.Outcome != "healthy" {
		t.Errorf("manual tier 1 run over budget = %+v, want a healthy manual tier 1 session", s)
	}
	for _, s := range dm.sessions(t) {
		if s.Tier != 1 {
			t.Errorf("a tier %d session exists: %+v", s.Tier, s)
		}
	}
}
