package e2e

import (
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/checks"
	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/playbooks"
	"github.com/claude-ops/claude-ops/policy"
	"github.com/claude-ops/claude-ops/prompts"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/session"
)

// Token economy (issue 3, item 5): the input tokens of one healthy Tier 1 run
// as the fake API receives them, ours against a naive configuration, on the
// same repos and the same scripted findings.

// healthyServices is what both configurations find: everything ok.
var healthyServices = tier1Result{
	Summary: "3 services, all ok",
	Services: []service{
		{Name: "web", Checks: []check{
			{Name: "http", Type: "http", Status: "ok", LatencyMS: 120, Detail: "200 OK"},
			{Name: "container", Type: "container", Status: "ok", LatencyMS: 15, Detail: "running"},
		}},
		{Name: "postgres", Checks: []check{
			{Name: "tcp", Type: "database", Status: "ok", LatencyMS: 3, Detail: "accepting connections"},
			{Name: "container", Type: "container", Status: "ok", LatencyMS: 10, Detail: "running"},
		}},
		{Name: "backup", Checks: []check{
			{Name: "last_run", Type: "custom", Status: "ok", LatencyMS: 0, Detail: "last run 3h ago"},
		}},
	},
}

// tokenRepos writes the two repos of e2e/tier1_test.go's setupRepos (which
// takes a *testing.T) and returns the repos dir.
func tokenRepos(tb testing.TB) string {
	dir := filepath.Join(tb.TempDir(), "repos")
	writeFile(tb, filepath.Join(dir, "repo-a", "CLAUDE-OPS.md"),
		"# repo-a\nRuns web and postgres with docker compose. Never touch the backup volume.\n")
	writeFile(tb, filepath.Join(dir, "repo-a", ".claude-ops", "checks", "backup.md"),
		"# Backup freshness\nCheck that /srv/backup/last-run is younger than 26h.\n")
	writeFile(tb, filepath.Join(dir, "repo-b", ".claude-ops", "mcp.json"), `{"mcpServers": {"broken": `)
	return dir
}

// checkCommand is the one read-only command both configurations run.
const checkCommand = "cat repo-a/CLAUDE-OPS.md"

// oursRequest is the Tier 1 request exactly as the daemon builds it
// (scheduler.Tier1Job.Prepare, then sessions.Manager.Run) with the default
// model. Two things of the daemon's request are left out, neither of which
// reaches the API: the action gate's --settings hook and --max-budget-usd
// (no budget is set by default).
func oursRequest(reposDir string) (session.Request, fakeapi.Script) {
	inv, _ := repos.Load(reposDir, nil) // repo-b's broken mcp.json is an inventory error, as in the daemon
	system, user := prompts.Tier1(inv.Prompt())
	req := session.Request{
		ID: session.NewID(time.Now()), Tier: session.Tier1, Trigger: session.TriggerSchedule, Model: "haiku",
		Prompt: user, SystemPrompt: system,
		Policy:    policy.ForTier(session.Tier1, reposDir, false),
		MCPConfig: inv.MCPConfig(), Dir: reposDir,
	}
	// The inventory is in the prompt: one check command, then the result.
	script := fakeapi.Sequence(
		fakeapi.Turn{Text: "Checking the services from the inventory.", Tools: []fakeapi.ToolUse{fakeapi.Bash(checkCommand)}},
		fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(healthyServices)}},
	)
	return req, script
}

// naiveSystem is every embedded Markdown file of prompts/, checks/ and
// playbooks/, concatenated, and an instruction to find the repos.
func naiveSystem(tb testing.TB) string {
	var b strings.Builder
	for _, fsys := range []fs.FS{prompts.FS(), checks.FS(), playbooks.FS()} {
		names, err := fs.Glob(fsys, "*.md")
		if err != nil {
			tb.Fatal(err)
		}
		for _, n := range names {
			text, err := fs.ReadFile(fsys, n)
			if err != nil {
				tb.Fatal(err)
			}
			b.Write(text)
			b.WriteString("\n\n")
		}
	}
	b.WriteString("The repos of the services are somewhere under the working directory. " +
		"Discover them yourself: list the files, read every manifest and check you find, then check every service.\n")
	return b.String()
}

// naiveRequest is the naive configuration: every generally useful tool, the
// long prompt, no inventory. The scripted model spends the three turns a real
// model needs to find what the inventory would have told it (Glob the repos,
// Read the manifest, Read the repo check) before the same check command and
// the same result.
func naiveRequest(tb testing.TB, reposDir string) (session.Request, fakeapi.Script) {
	p := policy.ForTier(session.Tier1, reposDir, false)
	p.Tools = []string{"Bash", "Read", "Grep", "Glob", "Task", "WebFetch", "WebSearch"}
	p.Allow = append(p.Allow, "Task", "WebFetch", "WebSearch")
	req := session.Request{
		ID: session.NewID(time.Now()), Tier: session.Tier1, Trigger: session.TriggerSchedule, Model: "haiku",
		Prompt:       "Run the health check of every service now, then return the structured result.",
		SystemPrompt: naiveSystem(tb),
		Policy:       p, Dir: reposDir,
	}
	script := fakeapi.Sequence(
		fakeapi.Turn{Text: "Let me find the repos.", Tools: []fakeapi.ToolUse{{Name: "Glob", Input: map[string]string{"pattern": "**/*", "path": reposDir}}}},
		fakeapi.Turn{Text: "Reading the manifest.", Tools: []fakeapi.ToolUse{{Name: "Read", Input: map[string]string{"file_path": filepath.Join(reposDir, "repo-a", "CLAUDE-OPS.md")}}}},
		fakeapi.Turn{Text: "Reading the repo's check.", Tools: []fakeapi.ToolUse{{Name: "Read", Input: map[string]string{"file_path": filepath.Join(reposDir, "repo-a", ".claude-ops", "checks", "backup.md")}}}},
		fakeapi.Turn{Text: "Checking the services.", Tools: []fakeapi.ToolUse{fakeapi.Bash(checkCommand)}},
		fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(healthyServices)}},
	)
	return req, script
}

// tokenRun is what one run cost, as the fake API received it.
type tokenRun struct {
	requests  int
	estimated int   // sum of fakeapi.Request.EstimatedInputTokens
	bodyBytes int   // sum of raw request bodies
	first     int   // estimated input tokens of the first request
	cli       int64 // input tokens (incl. cache) the CLI reports in the record, all models
	byModel   map[string]session.Tokens
	tools     []string
	// Bytes of the first request's system, tools and messages.
	system, toolDefs, messages int
}

// runTokens runs one session of the real CLI against a fake API that reports
// its estimate as usage, and sums what it received.
func runTokens(tb testing.TB, reposDir string, req session.Request, script fakeapi.Script) tokenRun {
	api := fakeapi.Start(tb, script, fakeapi.EstimateUsage())
	rn := runner.New(runner.Config{
		ClaudePath: fakeapi.CLIPath(tb), ResultsDir: tb.TempDir(), APIKey: "sk-ant-fake-key-0123456789",
		BaseURL: api.URL(), Timeout: 120 * time.Second, Grace: 2 * time.Second,
		ExtraEnv: map[string]string{"HOME": tb.TempDir(), "CLAUDE_CODE_MAX_RETRIES": "1"},
	})
	rec := rn.Run(context.Background(), req)
	if rec.Outcome != session.OutcomeHealthy {
		tb.Fatalf("outcome %q (%s: %s), want healthy; transcript %s", rec.Outcome, rec.ErrorSubtype, rec.Reason, rec.Transcript)
	}
	var r tokenRun
	for i, q := range api.Requests() {
		r.requests++
		r.estimated += q.EstimatedInputTokens
		r.bodyBytes += q.BodyBytes
		if i == 0 {
			r.first, r.tools = q.EstimatedInputTokens, slices.Sorted(slices.Values(q.Tools))
			var body struct{ System, Tools, Messages json.RawMessage }
			if err := json.Unmarshal(q.Body, &body); err != nil {
				tb.Fatal(err)
			}
			r.system, r.toolDefs, r.messages = len(body.System), len(body.Tools), len(body.Messages)
		}
	}
	r.byModel = rec.Tokens
	for _, t := range rec.Tokens {
		r.cli += t.Input + t.CacheRead + t.CacheCreation
	}
	return r
}

func tier1Tokens(tb testing.TB) (ours, naive tokenRun) {
	dir := tokenRepos(tb)
	req, script := oursRequest(dir)
	ours = runTokens(tb, dir, req, script)
	req, script = naiveRequest(tb, dir)
	naive = runTokens(tb, dir, req, script)
	return ours, naive
}

// TestTier1InputTokens keeps issue 3's target: a healthy Tier 1 run costs
// under half the input tokens of the naive configuration.
func TestTier1InputTokens(t *testing.T) {
	ours, naive := tier1Tokens(t)
	for _, r := range []struct {
		name string
		tokenRun
	}{{"ours", ours}, {"naive", naive}} {
		t.Logf("%-5s %d requests, %d estimated input tokens, %d body bytes, CLI-reported %d %+v; first request %d tokens "+
			"(system %d B, tools %d B, messages %d B); tools %v",
			r.name, r.requests, r.estimated, r.bodyBytes, r.cli, r.byModel, r.first, r.system, r.toolDefs, r.messages, r.tools)
	}
	if want := []string{"Bash", "Glob", "Grep", "Read", "StructuredOutput"}; !slices.Equal(ours.tools, want) {
		t.Errorf("tier 1 tools %v, want %v", ours.tools, want)
	}
	if 2*ours.estimated >= naive.estimated {
		t.Errorf("tier 1 run costs %d input tokens, the naive one %d: want under half", ours.estimated, naive.estimated)
	}
}

// BenchmarkTier1InputTokens reports both runs' input tokens per run (the fake
// API's bytes/4 estimate and the raw body bytes, summed over every request),
// what the CLI reports in the record, and ours/naive.
func BenchmarkTier1InputTokens(b *testing.B) {
	var ours, naive tokenRun
	for b.Loop() {
		ours, naive = tier1Tokens(b)
	}
	b.ReportMetric(float64(ours.estimated), "ours-input-tokens")
	b.ReportMetric(float64(naive.estimated), "naive-input-tokens")
	b.ReportMetric(float64(ours.estimated)/float64(naive.estimated), "ours/naive")
	b.ReportMetric(float64(ours.first), "ours-first-request-tokens")
	b.ReportMetric(float64(naive.first), "naive-first-request-tokens")
	b.ReportMetric(float64(ours.bodyBytes), "ours-body-bytes")
	b.ReportMetric(float64(naive.bodyBytes), "naive-body-bytes")
	b.ReportMetric(float64(ours.cli), "ours-cli-input-tokens")
	b.ReportMetric(float64(naive.cli), "naive-cli-input-tokens")
	b.ReportMetric(float64(ours.requests), "ours-requests")
	b.ReportMetric(float64(naive.requests), "naive-requests")
}
