package e2e

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

// probeHTTP is a web server on a fixed address the test stops and starts.
type probeHTTP struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func (p *probeHTTP) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }),
		ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(l) }()
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
}

func (p *probeHTTP) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		_ = p.srv.Close()
		p.srv = nil
	}
}

// planView is the part of GET /api/v1/plan the test reads.
type planView struct {
	Mode   string `json:"mode"`
	Active bool   `json:"active"`
	Plan   *struct {
		Version   int64  `json:"version"`
		SessionID string `json:"session_id"`
		ReposHash string `json:"repos_hash"`
		Probes    []struct {
			Service string `json:"service"`
			Name    string `json:"name"`
			Type    string `json:"type"`
			Refused string `json:"refused"`
		} `json:"probes"`
		Unplanned []struct{ Service, Check, Reason string } `json:"unplanned"`
	} `json:"plan"`
	Results []struct{ Service, Check, Status, Detail string } `json:"results"`
}

func (d *daemon) plan(t testing.TB) planView {
	t.Helper()
	var v planView
	getJSON(t, d.URL+"/api/v1/plan", &v)
	return v
}

func (d *daemon) tier1Sessions(t testing.TB) []sessionView {
	t.Helper()
	var out []sessionView
	for _, s := range d.sessions(t) {
		if s.Tier == 1 {
			out = append(out, s)
		}
	}
	return out
}

// TestProbePlanMakesAndRuns is issue 16's end-to-end proof with the real
// CLI: Tier 1 (the scripted model, through the ops server's list_services)
// returns a probe plan; the daemon refuses the probe at a host outside the
// inventory with its reason, serves the plan on GET /api/v1/plan, runs it
// every --probe.interval into the check series, and a stopped web server
// fails its series (and comes back) without a second model run. A restart
// runs the stored plan without the model; a changed repo and POST
// /api/v1/runs re-plan; --tier1.mode=check is the hourly check.
func TestProbePlanMakesAndRuns(t *testing.T) {
	web := &probeHTTP{addr: "127.0.0.1:0"}
	web.start(t)
	t.Cleanup(web.stop)
	db, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	go func() {
		for {
			c, err := db.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	d := newDirs(t)
	writeFile(t, filepath.Join(d.Repos, "shop", "CLAUDE-OPS.md"), "# shop\nweb answers on /healthz; db is its database.\n")
	writeFile(t, filepath.Join(d.Repos, "shop", ".claude-ops", "services.yaml"),
		fmt.Sprintf("services:\n  - name: web\n    hosts: [%q]\n  - name: db\n    hosts: [%q]\n", web.addr, db.Addr().String()))
	writeFile(t, filepath.Join(d.Repos, "shop", ".claude-ops", "checks", "backup.md"),
		"# Backup\nAsk the DBA whether last night's backup looked right.\n")

	plan := map[string]any{"summary": "2 services planned", "services": []any{
		map[string]any{"name": "web", "checks": []any{}, "probes": []any{
			map[string]any{"name": "http", "type": "http", "timeout_seconds": 1,
				"http": map[string]any{"url": "http://" + web.addr + "/healthz", "valid_status_codes": []int{200}, "body_regexp": "ok"}},
			map[string]any{"name": "intranet", "type": "http", "http": map[string]any{"url": "http://192.0.2.1/"}},
		}},
		map[string]any{"name": "db", "checks": []any{}, "probes": []any{
			map[string]any{"name": "port", "type": "tcp", "tcp": map[string]any{"target": db.Addr().String()}},
		}, "unplanned": []any{map[string]any{"check": "backup", "reason": "needs the DBA's judgement"}}},
	}}
	var (
		mu      sync.Mutex
		prompts []string
	)
	api := fakeapi.Start(t, func(r *fakeapi.Request) fakeapi.Turn {
		if !strings.Contains(r.Model, "haiku") {
			t.Errorf("unexpected request: model %s", r.Model)
			return fakeapi.Turn{Status: 400}
		}
		if r.Turn == 0 {
			mu.Lock()
			prompts = append(prompts, r.Prompt)
			mu.Unlock()
			return fakeapi.Turn{Text: "Listing the services.", Tools: []fakeapi.ToolUse{opsCall("list_services", map[string]any{})}}
		}
		if strings.Contains(r.Prompt, "This run makes the probe plan") {
			return fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(plan)}}
		}
		return fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(tier1Result{Summary: "checked", Services: []service{
			{Name: "web", Checks: []check{{Name: "http", Type: "http", Status: "ok", LatencyMS: 3, Detail: "200"}}}}})}}
	})
	flags := []string{"--schedule.interval=1h", "--webhook.no-auth", "--probe.interval=1s"}
	dm := startDaemon(t, api, d, flags...)

	var v planView
	waitFor(t, 90*time.Second, "the first plan", func() bool {
		v = dm.plan(t)
		return v.Plan != nil && v.Plan.Version == 1 && len(v.Results) == 2
	})
	mu.Lock()
	if len(prompts) != 1 || !strings.Contains(prompts[0], "This run makes the probe plan (why now: there is no probe plan yet)") {
		t.Errorf("tier 1 prompts: %q", prompts)
	}
	mu.Unlock()
	if v.Mode != "plan" || !v.Active || len(v.Plan.Probes) != 3 || !strings.HasPrefix(v.Plan.ReposHash, "sha256:") {
		t.Errorf("plan: %+v", v)
	}
	for _, p := range v.Plan.Probes {
		want := ""
		if p.Name == "intranet" {
			want = "http: 192.0.2.1:80 is not a host of the inventory (no service declares it in .claude-ops/services.yaml)"
		}
		if p.Refused != want {
			t.Errorf("probe %s/%s refused %q, want %q", p.Service, p.Name, p.Refused, want)
		}
	}
	if len(v.Plan.Unplanned) != 1 || v.Plan.Unplanned[0].Check != "backup" {
		t.Errorf("unplanned: %+v", v.Plan.Unplanned)
	}
	webOK := `claudeops_check_success{check="http",service="web",type="http"}`
	dbOK := `claudeops_check_success{check="port",service="db",type="tcp"}`
	waitFor(t, 10*time.Second, "both probes passing", func() bool {
		s := dm.scrape(t)
		return sampleValue(s, webOK) == "1" && sampleValue(s, dbOK) == "1"
	})
	scrape := dm.scrape(t)
	for series, want := range map[string]string{
		`claudeops_check_status{check="http",service="web",status="ok",type="http"}`:      "1",
		`claudeops_check_status{check="http",service="web",status="failing",type="http"}`: "0",
		`claudeops_checks_unplanned{service="db"}`:                                        "1",
		`claudeops_probe_plan_version`:                                                    "1",
		`claudeops_probe_plan_probes{state="refused"}`:                                    "1",
		`claudeops_probe_plan_probes{state="accepted"}`:                                   "2",
		`claudeops_probe_interval_seconds`:                                                "1",
		`claudeops_schedule_interval_seconds`:                                             "86400",
		`claudeops_tier1_plan_runs_total{reason="no_plan"}`:                               "1",
	} {
		if got := sampleValue(scrape, series); got != want {
			t.Errorf("%s = %q, want %q", series, got, want)
		}
	}
	if n := len(metricLines(scrape, "claudeops_check_success{")); n != 2 {
		t.Errorf("%d check series, want the 2 probes'", n)
	}

	// The web server stops: its series fails within an interval or two,
	// and comes back when it starts again. No model runs for it.
	web.stop()
	stopped := time.Now()
	waitFor(t, 10*time.Second, "web's series to fail", func() bool { return sampleValue(dm.scrape(t), webOK) == "0" })
	t.Logf("web's series failed %v after the server stopped (probe interval 1s)", time.Since(stopped).Round(10*time.Millisecond))
	if got := sampleValue(dm.scrape(t), `claudeops_check_status{check="http",service="web",status="failing",type="http"}`); got != "1" {
		t.Errorf("state set of the failing probe: failing = %q", got)
	}
	web.start(t)
	waitFor(t, 10*time.Second, "web's series to pass again", func() bool { return sampleValue(dm.scrape(t), webOK) == "1" })
	if n := len(dm.tier1Sessions(t)); n != 1 {
		t.Errorf("%d tier 1 sessions, want 1: a failing probe is not a reason to run the model", n)
	}

	// A restart runs the stored plan: no model.
	dm.stop(t, 20*time.Second)
	dm = startDaemon(t, api, d, flags...)
	waitFor(t, 10*time.Second, "the stored plan's probes", func() bool {
		s := dm.scrape(t)
		return sampleValue(s, webOK) == "1" && sampleValue(s, dbOK) == "1"
	})
	if v := dm.plan(t); v.Plan == nil || v.Plan.Version != 1 {
		t.Errorf("plan after a restart: %+v", v.Plan)
	}
	// Three rounds later (the policy compares the repos' hash every probe
	// interval), still no model run.
	waitFor(t, 10*time.Second, "three probe rounds", func() bool {
		n := sampleValue(dm.scrape(t), "claudeops_probe_rounds_total")
		return n != "" && n != "0" && n != "1" && n != "2"
	})
	if n := len(dm.tier1Sessions(t)); n != 1 {
		t.Errorf("%d tier 1 sessions after a restart with an unchanged repo, want 1", n)
	}

	// The repo changes: a new plan, its reason in the prompt.
	writeFile(t, filepath.Join(d.Repos, "shop", "CLAUDE-OPS.md"), "# shop\nweb answers on /healthz; db is its database (moved).\n")
	waitFor(t, 90*time.Second, "a plan of the changed repo", func() bool {
		v := dm.plan(t)
		return v.Plan != nil && v.Plan.Version == 2
	})
	mu.Lock()
	if len(prompts) != 2 || !strings.Contains(prompts[1], "the repos changed since plan 1 was made") ||
		!strings.Contains(prompts[1], "- service web, probe intranet (http): http: 192.0.2.1:80 is not a host of the inventory") {
		t.Errorf("the re-plan's prompt: %q", prompts[len(prompts)-1])
	}
	mu.Unlock()

	// POST /api/v1/runs re-plans.
	code, body := httpPost(t, dm.URL+"/api/v1/runs", "application/json", `{"tier":1}`, nil)
	if code != 202 {
		t.Fatalf("POST /api/v1/runs: %d %s", code, body)
	}
	waitFor(t, 90*time.Second, "the plan asked for by hand", func() bool {
		v := dm.plan(t)
		return v.Plan != nil && v.Plan.Version == 3
	})

	// The check mode: the model checks, its statuses are the series, no plan.
	dm.stop(t, 20*time.Second)
	dm = startDaemon(t, api, d, "--schedule.interval=1h", "--webhook.no-auth", "--tier1.mode=check")
	waitFor(t, 90*time.Second, "the check-mode run", func() bool { return len(dm.tier1Sessions(t)) == 4 })
	waitFor(t, 10*time.Second, "the reported check", func() bool { return sampleValue(dm.scrape(t), webOK) == "1" })
	scrape = dm.scrape(t)
	// The reported check has its state set too; the plan's probes (db's
	// port) are gone.
	if got := sampleValue(scrape, `claudeops_check_status{check="http",service="web",status="ok",type="http"}`); got != "1" ||
		sampleValue(scrape, dbOK) != "" || len(metricLines(scrape, "claudeops_check_status{")) != 4 {
		t.Errorf("check mode: web ok = %q, db's probe %q, state set %v", got, sampleValue(scrape, dbOK), metricLines(scrape, "claudeops_check_status{"))
	}
	if v := dm.plan(t); v.Mode != "check" || v.Plan != nil {
		t.Errorf("GET /api/v1/plan in the check mode: %+v", v)
	}
}
