package probes_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/claude-ops/claude-ops/collector"
	"github.com/claude-ops/claude-ops/probes"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

// mixinAlerts is the mixin's generated alert rules (make mixin).
const mixinAlerts = "../mixin/out/alerts.yaml"

// TestCheckAlertFiresOnProbeSeries: the mixin's ClaudeOpsCheckFailing fires
// on the series the probes export, not before its for: (10m), and resolves
// once the probe passes again. The input series are what the real probes
// exported, round after round (one round per 30s step): web's HTTP server
// answers for 2 minutes, fails for 22, answers again; db's port stays up.
// The times leave room for an alert over a window of the gauge (up to 5m).
func TestCheckAlertFiresOnProbeSeries(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found (apt-get install prometheus)")
		}
		t.Skip("promtool not found: apt-get install prometheus")
	}
	rules, err := filepath.Abs(mixinAlerts)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer web.Close()
	db := startTCP(t)
	webHost := strings.TrimPrefix(web.URL, "http://")
	cat := services.Build([]services.Decl{
		{Repo: "shop", Service: repos.ServiceDecl{Name: "web", Hosts: []string{webHost}}},
		{Repo: "shop", Service: repos.ServiceDecl{Name: "db", Hosts: []string{db.addr}}},
	}, nil)
	res := &session.Tier1Result{Services: []session.Service{
		{Name: "web", Probes: []session.Probe{{Name: "http", Type: session.ProbeTypeHTTP, HTTP: &session.HTTPProbeSpec{URL: web.URL + "/"}}}},
		{Name: "db", Probes: []session.Probe{{Name: "port", Type: session.ProbeTypeTCP, TCP: &session.TCPProbeSpec{Target: db.addr}}}},
	}}
	plan := probes.Build(res, cat, probes.Limits{})
	if len(plan.Refusals()) != 0 {
		t.Fatalf("refused: %+v", plan.Refusals())
	}
	c := collector.NewTier1Collector(0)
	r := probes.New(probes.Config{Sink: c, Catalog: func(context.Context) (*services.Catalog, error) { return cat, nil }})
	r.SetPlan(plan)

	// 4 rounds up, 44 down (22m), 16 up again: what each series was after
	// each round.
	const rounds = 64
	series := map[string][]string{}
	for i := range rounds {
		down.Store(i >= 4 && i < 48)
		r.Round(context.Background())
		mfs, err := c.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "claudeops_check_status" {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := []string{`job="claude-ops"`, `instance="co:9847"`}
				failing := false
				for _, l := range m.GetLabel() {
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
					failing = failing || l.GetName() == "status" && l.GetValue() == "failing"
				}
				if !failing { // the state the alert reads
					continue
				}
				sort.Strings(labels)
				key := "claudeops_check_status{" + strings.Join(labels, ",") + "}"
				series[key] = append(series[key], fmt.Sprint(m.GetGauge().GetValue()))
			}
		}
	}
	webSeries := `claudeops_check_status{check="http",instance="co:9847",job="claude-ops",service="web",status="failing",type="http"}`
	dbSeries := `claudeops_check_status{check="port",instance="co:9847",job="claude-ops",service="db",status="failing",type="tcp"}`
	if len(series) != 2 || len(series[webSeries]) != rounds || len(series[dbSeries]) != rounds {
		t.Fatalf("series: %v", series)
	}
	if got := strings.Join(series[webSeries][:6], " "); got != "0 0 0 0 1 1" {
		t.Fatalf("web's failing state starts %s, want 0 0 0 0 1 1", got)
	}

	var in strings.Builder
	for _, k := range []string{webSeries, dbSeries} {
		fmt.Fprintf(&in, "      - series: '%s'\n        values: '%s'\n", k, strings.Join(series[k], " "))
	}
	// Rounds are 30s apart: web fails from 2m to 24m.
	test := fmt.Sprintf(`rule_files:
  - %s
evaluation_interval: 30s
tests:
  - interval: 30s
    input_series:
%s    alert_rule_test:
      - eval_time: 11m  # failing for 9m: not yet
        alertname: ClaudeOpsCheckFailing
        exp_alerts: []
      - eval_time: 18m  # failing for 16m
        alertname: ClaudeOpsCheckFailing
        exp_alerts:
          - exp_labels:
              severity: warning
              job: claude-ops
              instance: co:9847
              service: web
              check: http
              type: http
              status: failing
            exp_annotations:
              summary: 'Check http of web is failing.'
              description: 'The http check http of service web has failed for more than 10m.'
              runbook_url: 'https://github.com/claude-ops/claude-ops/blob/main/mixin/runbook.md#claudeopscheckfailing'
      - eval_time: 31m  # the probe has passed again for 7m
        alertname: ClaudeOpsCheckFailing
        exp_alerts: []
`, rules, in.String())
	file := filepath.Join(t.TempDir(), "probe_alerts_test.yaml")
	if err := os.WriteFile(file, []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", file).CombinedOutput()
	if err != nil {
		t.Errorf("promtool test rules: %v\n%s\n--- %s ---\n%s", err, out, file, test)
	}
}
