package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

type check struct {
	Name      string  `json:"name"`
	Type      string  `json:"type"`
	Status    string  `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Detail    string  `json:"detail"`
}

type service struct {
	Name   string  `json:"name"`
	Checks []check `json:"checks"`
}

type tier1Result struct {
	Summary  string    `json:"summary"`
	Services []service `json:"services"`
}

// threeServices is the scripted model's first finding: 3 services, 5 checks,
// one down.
var threeServices = tier1Result{
	Summary: "2 services healthy, postgres down",
	Services: []service{
		{Name: "web", Checks: []check{
			{Name: "http", Type: "http", Status: "ok", LatencyMS: 120, Detail: "200 OK"},
			{Name: "container", Type: "container", Status: "ok", LatencyMS: 15, Detail: "running"},
		}},
		{Name: "postgres", Checks: []check{
			{Name: "tcp", Type: "database", Status: "down", LatencyMS: 0, Detail: "connection refused"},
			{Name: "container", Type: "container", Status: "ok", LatencyMS: 10, Detail: "running"},
		}},
		{Name: "backup", Checks: []check{
			{Name: "last_run", Type: "custom", Status: "ok", LatencyMS: 2500, Detail: "from the repo's extra check"},
		}},
	},
}

// tier1Model answers every Tier 1 conversation with the current result,
// after one read-only tool call so the run has two turns.
type tier1Model struct {
	mu     sync.Mutex
	result tier1Result
	delay  time.Duration
}

func (m *tier1Model) set(r tier1Result, delay time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.result, m.delay = r, delay
}

func (m *tier1Model) script(r *fakeapi.Request) fakeapi.Turn {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.Turn == 0 {
		return fakeapi.Turn{Text: "Reading the inventory.", Tools: []fakeapi.ToolUse{fakeapi.Bash("cat repo-a/CLAUDE-OPS.md")}, Delay: m.delay}
	}
	return fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(m.result)}}
}

func setupRepos(t *testing.T, d dirs) {
	writeFile(t, filepath.Join(d.Repos, "repo-a", "CLAUDE-OPS.md"),
		"# repo-a\nRuns web and postgres with docker compose. Never touch the backup volume.\n")
	writeFile(t, filepath.Join(d.Repos, "repo-a", ".claude-ops", "checks", "backup.md"),
		"# Backup freshness\nCheck that /srv/backup/last-run is younger than 26h.\n")
	writeFile(t, filepath.Join(d.Repos, "repo-b", ".claude-ops", "mcp.json"), `{"mcpServers": {"broken": `)
}

// TestTier1ChecksBecomeMetrics is issue 3's integration test: the scripted
// model's result becomes exactly these series; the next run drops a service.
func TestTier1ChecksBecomeMetrics(t *testing.T) {
	promtool := requireTool(t, "promtool", "apt-get install prometheus")
	model := &tier1Model{result: threeServices}
	api := fakeapi.Start(t, model.script)
	d := newDirs(t)
	setupRepos(t, d)
	dm := startDaemon(t, api, d, "--schedule.interval=1h", "--webhook.no-auth")

	// The start-up run.
	waitFor(t, 60*time.Second, "the start-up tier 1 run", func() bool {
		return sampleValue(dm.scrape(t), "claudeops_tier1_last_success_timestamp_seconds") != "0" &&
			sampleValue(dm.scrape(t), "claudeops_tier1_last_success_timestamp_seconds") != ""
	})
	scrape := dm.scrape(t)
	want := map[string]string{
		`claudeops_check_success{check="http",service="web",type="http"}`:                   "1",
		`claudeops_check_success{check="container",service="web",type="container"}`:         "1",
		`claudeops_check_success{check="tcp",service="postgres",type="database"}`:           "0",
		`claudeops_check_success{check="container",service="postgres",type="container"}`:    "1",
		`claudeops_check_success{check="last_run",service="backup",type="custom"}`:          "1",
		`claudeops_check_duration_seconds{check="http",service="web",type="http"}`:          "0.12",
		`claudeops_check_duration_seconds{check="last_run",service="backup",type="custom"}`: "2.5",
		`claudeops_services_discovered`:                                                     "3",
		`claudeops_repo_errors{repo="repo-b"}`:                                              "1",
	}
	for series, v := range want {
		if got := sampleValue(scrape, series); got != v {
			t.Errorf("%s = %q, want %q", series, got, v)
		}
	}
	if n := len(metricLines(scrape, "claudeops_check_success{")); n != 5 {
		t.Errorf("%d claudeops_check_success series, want exactly 5:\n%s", n, strings.Join(metricLines(scrape, "claudeops_check_success"), "\n"))
	}
	if n := len(metricLines(scrape, "claudeops_repo_errors{")); n != 1 {
		t.Errorf("%d claudeops_repo_errors series, want 1 (repo-b)", n)
	}
	if got := sampleValue(scrape, `claudeops_sessions_total{outcome="issues_found",tier="1",trigger="schedule"}`); got != "1" {
		t.Errorf("sessions_total{issues_found,1,schedule} = %q, want 1", got)
	}
	// The effective configuration never shows a secret.
	if code, status := httpGet(t, dm.URL+"/api/v1/status"); code != 200 || strings.Contains(status, "sk-e2e-secret-key") ||
		!strings.Contains(status, `"anthropic.api-key":"\u003csecret\u003e"`) {
		t.Errorf("GET /api/v1/status = %d %s", code, status)
	}
	// Transcripts are redacted: the API key the CLI got is nowhere in them.
	for _, s := range dm.sessions(t) {
		var full struct {
			Transcript []json.RawMessage `json:"transcript"`
		}
		getJSON(t, dm.URL+"/api/v1/sessions/"+s.ID, &full)
		if len(full.Transcript) == 0 {
			t.Errorf("session %s has an empty transcript", s.ID)
		}
		for _, l := range full.Transcript {
			if strings.Contains(string(l), "sk-e2e-secret-key") {
				t.Errorf("session %s transcript holds the API key: %s", s.ID, l)
			}
		}
	}
	lint := exec.Command(promtool, "check", "metrics")
	lint.Stdin = strings.NewReader(scrape)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// What the CLI sent: Tier 1's tools only, and the inventory in the prompt.
	reqs := api.Requests()
	if len(reqs) == 0 {
		t.Fatal("the fake API received nothing")
	}
	first := reqs[0]
	if !strings.Contains(first.Prompt, "Runs web and postgres") || !strings.Contains(first.Prompt, "Backup freshness") {
		t.Errorf("the Tier 1 prompt lacks the inventory:\n%s", first.Prompt)
	}
	// Tier 1 observes: the CLI's read-only tools and the ops server's
	// probes (no prometheus_query without --prometheus.url), none of its
	// changes.
	tools := slices.Sorted(slices.Values(first.Tools))
	if want := []string{"Bash", "Glob", "Grep", "Read", "StructuredOutput",
		"mcp__ops__container_logs", "mcp__ops__container_status", "mcp__ops__declared_check",
		"mcp__ops__http_probe", "mcp__ops__list_services", "mcp__ops__unit_status"}; !slices.Equal(tools, want) {
		t.Errorf("tier 1 tools = %v, want %v", tools, want)
	}
	for _, change := range []string{"mcp__ops__restart_service", "mcp__ops__redeploy_service", "mcp__ops__run_playbook"} {
		if slices.Contains(tools, change) {
			t.Errorf("tier 1 is offered %s", change)
		}
	}
	if !strings.Contains(first.Model, "haiku") {
		t.Errorf("tier 1 model = %q, want haiku", first.Model)
	}

	// POST /-/reload re-reads the repos: the mended mcp.json's error goes.
	writeFile(t, filepath.Join(d.Repos, "repo-b", ".claude-ops", "mcp.json"), `{"mcpServers": {}}`)
	if code, body := httpPost(t, dm.URL+"/-/reload", "text/plain", "", nil); code != 200 {
		t.Fatalf("POST /-/reload: %d %s", code, body)
	}
	if got := metricLines(dm.scrape(t), "claudeops_repo_errors{"); len(got) != 0 {
		t.Errorf("repo errors after the repo was mended and reloaded: %v", got)
	}

	// The next run drops a service: its series vanish.
	model.set(tier1Result{Summary: "postgres gone", Services: threeServices.Services[:1:1]}, 0)
	model.mu.Lock()
	model.result.Services = append(model.result.Services, threeServices.Services[2])
	model.mu.Unlock()
	code, body := httpPost(t, dm.URL+"/api/v1/runs", "application/json", `{"tier":1}`, nil)
	if code != 202 {
		t.Fatalf("POST /api/v1/runs: %d %s", code, body)
	}
	var run struct {
		ID      string `json:"id"`
		Started bool   `json:"started"`
	}
	if err := json.Unmarshal([]byte(body), &run); err != nil || run.ID == "" || !run.Started {
		t.Fatalf("POST /api/v1/runs answered %s", body)
	}
	if s := dm.waitSession(t, run.ID, 60*time.Second); s.Outcome != "healthy" || s.Trigger != "manual" {
		t.Fatalf("manual run = %+v, want healthy and manual", s)
	}
	scrape = dm.scrape(t)
	if got := metricLines(scrape, `claudeops_check_success{check="tcp",service="postgres"`); len(got) != 0 {
		t.Errorf("postgres series still exported after it vanished from the result: %v", got)
	}
	if n := len(metricLines(scrape, "claudeops_check_success{")); n != 3 {
		t.Errorf("%d claudeops_check_success series, want 3", n)
	}
	if got := sampleValue(scrape, "claudeops_services_discovered"); got != "2" {
		t.Errorf("services_discovered = %q, want 2", got)
	}
}

// TestTier1SurvivesRestart: the results and the session history are there
// after a restart, with their real timestamps; a session running at shutdown
// is recorded as interrupted.
func TestTier1SurvivesRestart(t *testing.T) {
	model := &tier1Model{result: threeServices}
	api := fakeapi.Start(t, model.script)
	d := newDirs(t)
	setupRepos(t, d)
	dm := startDaemon(t, api, d, "--schedule.interval=1h", "--webhook.no-auth")
	var before string
	waitFor(t, 60*time.Second, "the start-up tier 1 run", func() bool {
		before = sampleValue(dm.scrape(t), "claudeops_tier1_last_success_timestamp_seconds")
		return before != "" && before != "0"
	})
	first := dm.sessions(t)
	dm.stop(t, 20*time.Second)

	// After the restart the start-up run hangs in the model, so what /metrics
	// shows is what was stored.
	model.set(threeServices, time.Minute)
	dm = startDaemon(t, api, d, "--schedule.interval=1h", "--webhook.no-auth")
	scrape := dm.scrape(t)
	if got := sampleValue(scrape, "claudeops_tier1_last_success_timestamp_seconds"); got != before {
		t.Errorf("last success after restart = %s, want the stored %s", got, before)
	}
	if got := sampleValue(scrape, `claudeops_check_success{check="tcp",service="postgres",type="database"}`); got != "0" {
		t.Errorf("postgres check after restart = %q, want 0", got)
	}
	if got := sampleValue(scrape, "claudeops_services_discovered"); got != "3" {
		t.Errorf("services_discovered after restart = %q, want 3", got)
	}
	var running string
	waitFor(t, 30*time.Second, "the hanging start-up run", func() bool {
		for _, s := range dm.sessions(t) {
			if s.Outcome == "running" {
				running = s.ID
			}
		}
		return running != ""
	})
	after := dm.sessions(t)
	if len(after) != len(first)+1 || !slices.ContainsFunc(after, func(s sessionView) bool { return s.ID == first[0].ID }) {
		t.Errorf("session history after restart = %+v, want %+v and the running one", after, first)
	}

	// Shutdown stops the running session and records it as interrupted.
	dm.stop(t, 20*time.Second)
	model.set(threeServices, 0)
	dm = startDaemon(t, api, d, "--schedule.interval=1h", "--webhook.no-auth")
	if s := dm.session(t, running); s.Outcome != "interrupted" {
		t.Errorf("session running at shutdown = %+v, want outcome interrupted", s)
	}
}
