package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/mixin"
	"github.com/claude-ops/claude-ops/runner/podmantest"
)

// corePanels must return data at the end of the loop.
var corePanels = map[string][]string{
	"claude-ops-overview":    {"Services discovered", "Open incidents", "Last Tier 1 run", "Last Tier 1 success", "Checks", "Version", "Spend today"},
	"claude-ops-sessions":    {"Sessions in range", "Cost in range", "Tokens in range"},
	"claude-ops-remediation": {"Firing alerts received", "Actions allowed", "Queue depth"},
}

// TestWholeLoop is issue 6's loop, against Debian's Prometheus and
// Alertmanager started with the deploy configs and the mixin's rules, and a
// real Podman: web is a container the repo declares, hung (as far as its
// health check goes) until it is restarted. Tier 1 reports web down →
// ClaudeOpsCheckFailing → Alertmanager → webhook → Tier 2 calls
// mcp__ops__restart_service → the daemon restarts the container through
// the engine API and verifies it → the next Tier 1 reports it up → the
// alert resolves → the incident is remediated. Then every dashboard and
// rule expression runs against that Prometheus.
//
// What the scripted Tier 1 model reports is the one thing the test
// controls: web's health check is down while the container's
// State.StartedAt, as the test reads it from the engine, is the one it had
// when the test began, and ok once it has moved: only a real restart of
// the container closes the loop.
func TestWholeLoop(t *testing.T) {
	start := time.Now()
	d := newDirs(t)
	pm := podmantest.Start(t)
	webID := pm.Run(t, "web", nil, quickStop...)
	writeFile(t, filepath.Join(d.Repos, "site", "CLAUDE-OPS.md"), "# site\nRuns web in a container.\n")
	writeFile(t, filepath.Join(d.Repos, "site", ".claude-ops", "services.yaml"), "services:\n  - name: web\n")
	eng, err := engine.New(pm.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	inspect := func() engine.Container {
		c, err := eng.Inspect(context.Background(), webID)
		if err != nil {
			t.Errorf("inspect web: %v", err)
		}
		return c
	}
	before := inspect()
	if before.State != "running" || before.StartedAt.IsZero() {
		t.Fatalf("web before the loop: %+v", before)
	}
	var restarted atomic.Bool // sticky: web stays healthy once restarted
	webHealthy := func() bool {
		if !restarted.Load() && inspect().StartedAt.After(before.StartedAt) {
			restarted.Store(true)
		}
		return restarted.Load()
	}

	tier2 := newScripted(
		fakeapi.Turn{Text: "Restarting web.", Tools: []fakeapi.ToolUse{opsCall("restart_service", svc("web"))}},
		fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(remediation{Summary: "restarted web", Outcome: "fixed",
			Actions:  []map[string]any{{"service": "web", "action": "restart", "target": "web", "result": "restarted"}},
			Findings: "web's health check failed; a restart brought it back"})}})
	api := fakeapi.Start(t, func(r *fakeapi.Request) fakeapi.Turn {
		if strings.Contains(r.Model, "haiku") {
			status := "down"
			if webHealthy() {
				status = "ok"
			}
			return fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(tier1Result{
				Summary: "web " + status,
				Services: []service{{Name: "web", Checks: []check{
					{Name: "http", Type: "http", Status: status, LatencyMS: 40, Detail: "GET /healthz"},
				}}},
			})}}
		}
		if !strings.Contains(r.Model, "sonnet") || !strings.Contains(r.Prompt, `service "web"`) {
			t.Errorf("unexpected request: model %s, prompt %.200q", r.Model, r.Prompt)
			return fakeapi.Turn{Status: 400}
		}
		return tier2.script(r)
	})

	token := filepath.Join(d.State, "webhook-token")
	writeFile(t, token, "loop-token\n")
	addr := freePort(t)
	am := startAlertmanager(t, "http://"+addr+"/api/v1/webhook", token)
	prom := startPrometheus(t, addr, strings.TrimPrefix(am.URL, "http://"))
	dm := startDaemonAt(t, addr, api, d, "--schedule.interval=2s", "--webhook.token-file="+token,
		"--alertmanager.url="+am.URL, "--remediation.verify-timeout=60s", "--engine.host="+pm.Host)

	waitFor(t, 90*time.Second, "the incident to be remediated", func() bool {
		return sampleValue(dm.scrape(t), `claudeops_incidents_total{outcome="remediated"}`) == "1"
	})
	t.Logf("loop closed in %v", time.Since(start).Round(100*time.Millisecond))

	// The restart was the typed action's, done through the engine and
	// verified: the model was told so, and the container really restarted.
	if res := tier2.result(t, 0); res.IsError || !strings.Contains(res.Content, "restarted web, verified by the engine") {
		t.Errorf("restart_service answered %+v", res)
	}
	if after := inspect(); after.ID != webID || after.State != "running" || !after.StartedAt.After(before.StartedAt) {
		t.Errorf("web after the loop: %+v (started at %s before)", after, before.StartedAt)
	}
	rows := dm.ledger(t)
	if len(rows) != 1 || rows[0].Service != "web" || rows[0].Action != "restart" || rows[0].Result != "allowed" ||
		rows[0].Stage != "verify" || rows[0].Outcome != "done" || rows[0].Tier != 2 {
		t.Errorf("ledger = %+v, want web's one restart, allowed and done", rows)
	}

	// The metrics and Alertmanager agree.
	scrape := dm.scrape(t)
	for series, want := range map[string]string{
		`claudeops_check_success{check="http",service="web",type="http"}`:                      "1",
		`claudeops_incidents_open`:                                                             "0",
		`claudeops_remediation_actions_total{action="restart",result="allowed",service="web"}`: "1",
		`claudeops_actions_total{action="restart",result="done",tier="2"}`:                     "1",
		`claudeops_cooldown_actions{action="restart",service="web"}`:                           "1",
		`claudeops_sessions_total{outcome="remediated",tier="2",trigger="alert"}`:              "1",
	} {
		if got := sampleValue(scrape, series); got != want {
			t.Errorf("%s = %q, want %q", series, got, want)
		}
	}
	if got := metricLines(scrape, "claudeops_needs_human_attention{"); len(got) != 0 {
		t.Errorf("needs-human series after a remediated incident: %v", got)
	}
	waitFor(t, 20*time.Second, "Alertmanager to drop ClaudeOpsCheckFailing", func() bool {
		return findAlert(am.alerts(t), "ClaudeOpsCheckFailing") == nil
	})
	alerts := am.alerts(t)
	if a := findAlert(alerts, "ClaudeOpsRemediated"); a == nil || a.Labels["service"] != "web" {
		t.Errorf("ClaudeOpsRemediated for web not in Alertmanager: %+v", alerts)
	}
	if a := findAlert(alerts, "ClaudeOpsNeedsHumanAttention"); a != nil {
		t.Errorf("Alertmanager has ClaudeOpsNeedsHumanAttention after a remediated incident: %+v", a)
	}

	// Every dashboard and rule expression parses against the real Prometheus;
	// the core panels return data.
	exprs, err := mixin.DashboardExprs("../grafana/dashboards")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{mixinOut + "/alerts.yaml", mixinOut + "/rules.yaml"} {
		re, err := mixin.RuleExprs(f)
		if err != nil {
			t.Fatal(err)
		}
		exprs = append(exprs, re...)
	}
	// The recording rule of the day's spend, by whatever name the mixin
	// gives it, has been evaluated over the loop's data.
	rules, err := mixin.LoadRules(mixinOut + "/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spend string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" && strings.Contains(r.Expr, "claudeops_budget_spent_usd") {
				spend = r.Record
			}
		}
	}
	if spend == "" {
		t.Fatalf("no recording rule over claudeops_budget_spent_usd in %s/rules.yaml", mixinOut)
	}
	waitFor(t, 30*time.Second, "recording rules over the loop's data ("+spend+")", func() bool {
		r := prom.query(t, spend)
		return len(r.Data.Result) > 0
	})
	withData := map[string]map[string]bool{}
	for _, e := range exprs {
		r := prom.query(t, mixin.Substitute(e.Expr))
		if r.Status != "success" {
			t.Errorf("%s / %s: %s: %s", e.Dashboard, e.Panel, r.Error, e.Expr)
			continue
		}
		if withData[e.Dashboard] == nil {
			withData[e.Dashboard] = map[string]bool{}
		}
		if len(r.Data.Result) > 0 {
			withData[e.Dashboard][e.Panel] = true
		}
	}
	for dash, panels := range corePanels {
		for _, p := range panels {
			if !withData[dash][p] {
				t.Errorf("core panel %s / %q returned no data", dash, p)
			}
		}
	}
	t.Logf("%d expressions checked in %v overall", len(exprs), time.Since(start).Round(100*time.Millisecond))
}
