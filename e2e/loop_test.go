package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/mixin"
)

// fakeDocker stands in for docker on the daemon's PATH: `docker restart web`
// leaves a marker in dir, which is what the next Tier 1 run looks at.
func fakeDocker(dir string) string {
	return fmt.Sprintf(`#!/bin/sh
echo "$*" >> %[1]q/docker.log
if [ "$1" = restart ]; then touch %[1]q/restarted-"$2"; echo "$2"; fi
`, dir)
}

// corePanels must return data at the end of the loop.
var corePanels = map[string][]string{
	"claude-ops-overview":    {"Services discovered", "Open incidents", "Last Tier 1 run", "Last Tier 1 success", "Checks", "Version", "Spend today"},
	"claude-ops-sessions":    {"Sessions in range", "Cost in range", "Tokens in range"},
	"claude-ops-remediation": {"Firing alerts received", "Actions allowed", "Queue depth"},
}

// TestWholeLoop is issue 6's loop, against Debian's Prometheus and
// Alertmanager started with the deploy configs and the mixin's rules: Tier 1
// reports web down → ClaudeOpsCheckFailing → Alertmanager → webhook → Tier 2
// restarts it → the next Tier 1 reports it up → the alert resolves → the
// incident is remediated. Then every dashboard and rule expression runs
// against that Prometheus.
func TestWholeLoop(t *testing.T) {
	start := time.Now()
	d := newDirs(t)
	markers := t.TempDir()
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "docker"), fakeDocker(markers))
	if err := os.Chmod(filepath.Join(bin, "docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	restarted := filepath.Join(markers, "restarted-web")

	api := fakeapi.Start(t, func(r *fakeapi.Request) fakeapi.Turn {
		if strings.Contains(r.Model, "haiku") {
			status := "down"
			if _, err := os.Stat(restarted); err == nil {
				status = "ok"
			}
			return fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(tier1Result{
				Summary: "web " + status,
				Services: []service{{Name: "web", Checks: []check{
					{Name: "http", Type: "http", Status: status, LatencyMS: 40, Detail: "GET /healthz"},
				}}},
			})}}
		}
		// Tier 2: restart web, then report it fixed.
		if r.Turn == 0 {
			return fakeapi.Turn{Text: "Restarting web.", Tools: []fakeapi.ToolUse{fakeapi.Bash("docker restart web")}}
		}
		return answer(remediation{Summary: "restarted web", Outcome: "fixed",
			Actions:  []map[string]any{{"service": "web", "action": "restart", "target": "web", "result": "restarted"}},
			Findings: "web's health check failed; a restart brought it back"})(r)
	})

	token := filepath.Join(d.State, "webhook-token")
	writeFile(t, token, "loop-token\n")
	addr := freePort(t)
	am := startAlertmanager(t, "http://"+addr+"/api/v1/webhook", token)
	prom := startPrometheus(t, addr, strings.TrimPrefix(am.URL, "http://"))
	dm := startDaemonAt(t, addr, api, d, "--schedule.interval=2s", "--webhook.token-file="+token,
		"--alertmanager.url="+am.URL, "--remediation.verify-timeout=60s")

	waitFor(t, 90*time.Second, "the incident to be remediated", func() bool {
		return sampleValue(dm.scrape(t), `claudeops_incidents_total{outcome="remediated"}`) == "1"
	})
	if _, err := os.Stat(restarted); err != nil {
		t.Fatalf("the allowed restart did not run: %v", err)
	}
	t.Logf("loop closed in %v", time.Since(start).Round(100*time.Millisecond))

	// The metrics and Alertmanager agree.
	scrape := dm.scrape(t)
	for series, want := range map[string]string{
		`claudeops_check_success{check="http",service="web",type="http"}`:                      "1",
		`claudeops_incidents_open`:                                                             "0",
		`claudeops_remediation_actions_total{action="restart",result="allowed",service="web"}`: "1",
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
	waitFor(t, 30*time.Second, "recording rules over the loop's data", func() bool {
		r := prom.query(t, "claudeops:spend_today_usd:sum")
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
