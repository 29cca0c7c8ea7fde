package apiproxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/session"
)

// cliRun is what one run of the real CLI gave.
type cliRun struct {
	Result   map[string]any // the final result line
	Retries  int            // system/api_retry events
	ExitCode int
	Elapsed  time.Duration
}

// runCLI runs the pinned CLI in -p mode against baseURL with key, in
// directories of the test's own.
func runCLI(t *testing.T, baseURL, key string) cliRun {
	t.Helper()
	return runCLIModel(t, baseURL, key, "haiku")
}

func runCLIModel(t *testing.T, baseURL, key, model string) cliRun {
	t.Helper()
	claude := fakeapi.CLIPath(t)
	dir := t.TempDir()
	for _, d := range []string{"home", "config", "tmp", "work"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, claude, "-p", "check health", "--model", model,
		"--output-format", "stream-json", "--verbose",
		"--allowedTools", "Bash(echo:*)", "--no-session-persistence")
	cmd.Dir = filepath.Join(dir, "work")
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + filepath.Join(dir, "home"),
		"CLAUDE_CONFIG_DIR=" + filepath.Join(dir, "config"),
		"TMPDIR=" + filepath.Join(dir, "tmp"),
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"ANTHROPIC_BASE_URL=" + baseURL,
		"ANTHROPIC_API_KEY=" + key,
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	begin := time.Now()
	err := cmd.Run()
	run := cliRun{Elapsed: time.Since(begin)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		run.ExitCode = exit.ExitCode()
	case err != nil:
		t.Fatalf("claude: %v; stderr: %s", err, stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("claude still running after %v; stderr: %s", run.Elapsed, stderr.String())
	}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch {
		case line["type"] == "result":
			run.Result = line
		case line["type"] == "system" && line["subtype"] == "api_retry":
			run.Retries++
		}
	}
	if run.Result == nil {
		t.Fatalf("no result line (exit %d); stderr: %s", run.ExitCode, stderr.String())
	}
	return run
}

// TestCLI drives the real Claude Code CLI through the proxy, with a session
// token as its API key and internal/fakeapi as upstream.
func TestCLI(t *testing.T) {
	fakeapi.CLIPath(t) // skip early when the CLI is missing
	turns := []fakeapi.Turn{
		{Text: "Let me check.", Tools: []fakeapi.ToolUse{fakeapi.Bash("echo hello")},
			Usage: fakeapi.Usage{InputTokens: 1000, OutputTokens: 30, CacheRead: 200, CacheCreation: 100}},
		{Text: "All healthy.", Usage: fakeapi.Usage{InputTokens: 1100, OutputTokens: 12, CacheRead: 1300}},
	}

	t.Run("two turns", func(t *testing.T) {
		up := fakeapi.Start(t, fakeapi.Sequence(turns...))
		p, _ := newProxy(t, up.URL(), func(c *Config) { c.MaxRequestsPerSession = 10 })
		srv := serve(t, p)
		m := &testMeter{}
		tok, unregister := p.Register(Session{ID: "cli-1", Tier: session.Tier1, Service: "web", Meter: m})
		defer unregister()

		run := runCLI(t, srv.URL, tok)
		srv.Wait()
		r := run.Result
		t.Logf("2-turn run: %v, exit %d, result %v/%v %q", run.Elapsed.Round(time.Millisecond), run.ExitCode,
			r["subtype"], r["terminal_reason"], r["result"])
		if run.ExitCode != 0 || r["subtype"] != "success" || r["is_error"] != false || r["result"] != "All healthy." {
			t.Fatalf("run failed: exit %d, result %v", run.ExitCode, r)
		}
		reqs := up.Requests()
		if len(reqs) != 2 {
			t.Fatalf("upstream got %d requests, want 2", len(reqs))
		}
		for i, rq := range reqs {
			if rq.APIKey != realKey {
				t.Errorf("request %d: upstream key %q", i, rq.APIKey)
			}
			if bytes.Contains(rq.Body, []byte(tok)) {
				t.Errorf("request %d: the session token is in the body", i)
			}
		}
		if tr := reqs[1].ToolResults; len(tr) != 1 || tr[0].Content != "hello" {
			t.Errorf("tool results %+v", tr)
		}
		// The Meter got what the fake served, and agrees with the CLI's own tally.
		total, cost := m.Total()
		want := session.Tokens{Input: 2100, Output: 42, CacheRead: 1500, CacheCreation: 100}
		if total != want {
			t.Errorf("metered %+v, want %+v", total, want)
		}
		if u, _ := r["usage"].(map[string]any); u["input_tokens"] != float64(want.Input) ||
			u["output_tokens"] != float64(want.Output) || u["cache_read_input_tokens"] != float64(want.CacheRead) ||
			u["cache_creation_input_tokens"] != float64(want.CacheCreation) {
			t.Errorf("CLI usage %v, metered %+v", u, total)
		}
		t.Logf("metered %+v = %.6f USD at our prices; the CLI reported total_cost_usd %v", total, cost, r["total_cost_usd"])
		for _, c := range m.Calls() {
			if c.Model != "claude-haiku-5-5" || c.Session != "cli-1" {
				t.Errorf("usage call %+v", c)
			}
		}
	})

	t.Run("budget refusal on the second request", func(t *testing.T) {
		up := fakeapi.Start(t, fakeapi.Sequence(turns...))
		p, _ := newProxy(t, up.URL(), nil)
		srv := serve(t, p)
		m := &testMeter{refuse: errBudget, refuseN: 2}
		tok, unregister := p.Register(Session{ID: "cli-2", Tier: session.Tier1, Meter: m})
		defer unregister()

		run := runCLI(t, srv.URL, tok)
		srv.Wait()
		r := run.Result
		t.Logf("refused run: %v, exit %d, %d Allow calls, %d api_retry; result subtype=%v is_error=%v terminal_reason=%v api_error_status=%v result=%q",
			run.Elapsed.Round(time.Millisecond), run.ExitCode, m.Allows(), run.Retries,
			r["subtype"], r["is_error"], r["terminal_reason"], r["api_error_status"], r["result"])
		if n := len(up.Requests()); n != 1 {
			t.Errorf("upstream got %d requests, want 1", n)
		}
		if m.Allows() != 2 || run.Retries != 0 {
			t.Errorf("the CLI retried: %d requests to the proxy, %d api_retry events", m.Allows(), run.Retries)
		}
		if run.ExitCode != 1 || r["is_error"] != true || r["api_error_status"] != float64(402) ||
			!strings.Contains(r["result"].(string), "budget exhausted") {
			t.Errorf("result %v", r)
		}
		if run.Elapsed > 20*time.Second {
			t.Errorf("the CLI took %v to give up", run.Elapsed)
		}
		// What was served before the refusal is charged.
		if total, _ := m.Total(); total != (session.Tokens{Input: 1000, Output: 30, CacheRead: 200, CacheCreation: 100}) {
			t.Errorf("metered %+v", total)
		}
	})
	t.Run("revoked token", func(t *testing.T) {
		up := fakeapi.Start(t, fakeapi.Sequence(turns...))
		p, _ := newProxy(t, up.URL(), nil)
		srv := serve(t, p)
		tok, unregister := p.Register(Session{ID: "cli-3", Meter: &testMeter{}})
		unregister()

		run := runCLI(t, srv.URL, tok)
		r := run.Result
		t.Logf("revoked token: %v, exit %d, %d api_retry; result is_error=%v api_error_status=%v result=%q",
			run.Elapsed.Round(time.Millisecond), run.ExitCode, run.Retries, r["is_error"], r["api_error_status"], r["result"])
		if n := len(up.Requests()); n != 0 {
			t.Errorf("upstream got %d requests", n)
		}
		// x-should-retry: false keeps the CLI from retrying the 401 with
		// backoff (without it, it was still retrying after 90 s).
		if run.ExitCode != 1 || r["is_error"] != true || run.Retries != 0 || run.Elapsed > 20*time.Second {
			t.Errorf("exit %d, %d retries, %v: %v", run.ExitCode, run.Retries, run.Elapsed, r)
		}
	})
}
