package runner

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

// Unit tests of Run with fake `claude` shell scripts.

const okResult = `{"type":"result","subtype":"success","is_error":false,"num_turns":2,"session_id":"sess-1",` +
	`"total_cost_usd":0.0125,"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":3,"cache_creation_input_tokens":2},` +
	`"permission_denials":[],"structured_output":{"summary":"ok","services":[]}}`

// fakeCLI writes a shell script standing in for the CLI and returns a Runner
// of it.
func fakeCLI(t *testing.T, script string, mut func(*Config)) *Runner {
	t.Helper()
	path := filepath.Join(t.TempDir(), "claude")
	writeExec(t, path, "#!/bin/sh\n"+script)
	cfg := Config{ClaudePath: path, ResultsDir: t.TempDir(), APIKey: "sk-unit-key",
		Timeout: 10 * time.Second, Grace: time.Second, Logger: testLogger(t)}
	if mut != nil {
		mut(&cfg)
	}
	return New(cfg)
}

func unitRequest() session.Request {
	return session.Request{Tier: session.Tier1, Model: "haiku", Trigger: session.TriggerSchedule,
		Prompt: "check", Policy: session.Policy{Tools: []string{"Bash"}}}
}

func TestRunGarbageAndUnknownEvents(t *testing.T) {
	run := fakeCLI(t, `echo 'not json at all'
echo '{"type":"system","subtype":"init","session_id":"sess-1"}'
echo '{"type":"brand_new_event","x":1}'
echo '[1,2'
echo ''
echo '`+okResult+`'
`, nil)
	rec := run.Run(context.Background(), unitRequest())
	if rec.Outcome != session.OutcomeHealthy {
		t.Fatalf("outcome %q (%s: %s)", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	if rec.CLISessionID != "sess-1" || rec.Turns != 2 || rec.CostUSD != 0.0125 {
		t.Errorf("record %+v", rec)
	}
	// No modelUsage: the usage falls back to the record's model.
	if tok := rec.Tokens["haiku"]; tok != (session.Tokens{Input: 10, Output: 5, CacheRead: 3, CacheCreation: 2}) {
		t.Errorf("tokens %+v", rec.Tokens)
	}
	types := eventTypes(transcriptLines(t, rec.Transcript))
	want := []string{"claudeops/start", "stdout", "system/init", "brand_new_event", "stdout", "result/success", "claudeops/end"}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Errorf("transcript %v, want %v", types, want)
	}
}

func TestRunFailures(t *testing.T) {
	for _, tc := range []struct {
		name, script  string
		subtype       string
		reasonHas     []string
		wantTranscrip bool
	}{
		{"no result line", "echo '{\"type\":\"system\",\"subtype\":\"init\"}'\n", subtypeNoResult,
			[]string{"exited without a result line"}, true},
		{"exit 3", "echo first >&2\necho 'boom: bad flag' >&2\nexit 3\n", subtypeExitStatus,
			[]string{"exit status 3", "boom: bad flag"}, true},
		{"result without structured output", `echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1}'`,
			subtypeNoStructuredOutput, []string{"no structured_output"}, true},
		{"output breaks the schema", `echo '{"type":"result","subtype":"success","num_turns":1,"structured_output":{"summary":3}}'`,
			subtypeInvalidOutput, []string{"schema"}, true},
		{"max turns", `echo '{"type":"result","subtype":"error_max_turns","is_error":true,"errors":["Reached maximum number of turns (1)"]}'; exit 1`,
			"error_max_turns", []string{"Reached maximum number of turns"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := fakeCLI(t, tc.script, nil).Run(context.Background(), unitRequest())
			if rec.Outcome != session.OutcomeError || rec.ErrorSubtype != tc.subtype {
				t.Fatalf("outcome %q subtype %q reason %q", rec.Outcome, rec.ErrorSubtype, rec.Reason)
			}
			for _, s := range tc.reasonHas {
				if !strings.Contains(rec.Reason, s) {
					t.Errorf("reason %q lacks %q", rec.Reason, s)
				}
			}
			lines := transcriptLines(t, rec.Transcript)
			if last := lines[len(lines)-1]; last["event"] != "end" {
				t.Errorf("last transcript line %v", last)
			}
		})
	}
}

func TestRunCLIMissing(t *testing.T) {
	run := New(Config{ClaudePath: filepath.Join(t.TempDir(), "nope", "claude"), ResultsDir: t.TempDir()})
	rec := run.Run(context.Background(), unitRequest())
	if rec.Outcome != session.OutcomeError || rec.ErrorSubtype != subtypeCLIMissing ||
		!strings.HasPrefix(rec.Reason, "claude CLI not found at ") {
		t.Fatalf("outcome %q subtype %q reason %q", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	if types := eventTypes(transcriptLines(t, rec.Transcript)); len(types) != 2 {
		t.Errorf("transcript %v", types)
	}
}

func TestRunBadRequest(t *testing.T) {
	req := unitRequest()
	req.Tier = 0
	rec := fakeCLI(t, "exit 0\n", nil).Run(context.Background(), req)
	if rec.Outcome != session.OutcomeError || rec.ErrorSubtype != subtypeBadRequest {
		t.Fatalf("outcome %q subtype %q reason %q", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
}

func TestRunTimeoutKillsGroup(t *testing.T) {
	// Ignores SIGTERM, so only the SIGKILL after the grace period ends it.
	run := fakeCLI(t, "trap '' TERM\necho '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}'\nwhile :; do sleep 0.05; done\n",
		func(c *Config) { c.Timeout, c.Grace = 300*time.Millisecond, 300*time.Millisecond })
	// Without the SIGKILL, Run would never return (caught by go test's timeout).
	rec := run.Run(context.Background(), unitRequest())
	if rec.Outcome != session.OutcomeTimeout || rec.Reason != "timed out after 300ms" {
		t.Fatalf("outcome %q reason %q", rec.Outcome, rec.Reason)
	}
	waitGroupGone(t, startPGID(t, rec.Transcript))
	if rec.CLISessionID != "s" {
		t.Errorf("lines before the timeout were not parsed: %+v", rec)
	}
}

func TestRunCancel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cause error
		want  session.Outcome
	}{
		{"resolved", session.Cancelled(session.OutcomeResolved), session.OutcomeResolved},
		{"shutdown", nil, session.OutcomeInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := fakeCLI(t, "sleep 30\n", nil)
			ctx, cancel := context.WithCancelCause(context.Background())
			time.AfterFunc(300*time.Millisecond, func() { cancel(tc.cause) })
			rec := run.Run(ctx, unitRequest())
			if rec.Outcome != tc.want {
				t.Fatalf("outcome %q reason %q, want %q", rec.Outcome, rec.Reason, tc.want)
			}
			if rec.Duration > 5*time.Second {
				t.Errorf("took %s", rec.Duration)
			}
		})
	}
}

func TestRunKillsBackgroundGrandchild(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	run := fakeCLI(t, "sleep 60 &\necho $! > "+pidFile+"\necho '"+okResult+"'\n", nil)
	start := time.Now()
	rec := run.Run(context.Background(), unitRequest())
	if rec.Outcome != session.OutcomeHealthy {
		t.Fatalf("outcome %q (%s: %s)", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	if took := time.Since(start); took >= 60*time.Second { // the grandchild's life
		t.Errorf("Run took %s: it waited for the grandchild", took)
	}
	b, err := os.ReadFile(pidFile)
	must(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	must(t, err)
	if !processDead(pid) {
		t.Errorf("background sleep %d still alive", pid)
	}
	waitGroupGone(t, startPGID(t, rec.Transcript))
}

func TestRunEscapedGrandchildDoesNotHang(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// setsid leaves our process group but keeps stdout open.
	run := fakeCLI(t, "setsid sh -c 'echo $$ > "+pidFile+"; exec sleep 30' &\nsleep 0.2\necho '"+okResult+"'\n", nil)
	start := time.Now()
	rec := run.Run(context.Background(), unitRequest())
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL) // the sleep this test started
		}
	}
	if rec.Outcome != session.OutcomeHealthy {
		t.Fatalf("outcome %q (%s: %s)", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	if took := time.Since(start); took >= 30*time.Second { // the escaped sleep's life
		t.Errorf("Run took %s: it waited for the escaped grandchild", took)
	}
}

func TestRunEnvironment(t *testing.T) {
	t.Setenv("CLAUDEOPS_DAEMON_ONLY", "must-not-leak")
	t.Setenv("BROWSER_CRED_SITE", "browser-password")
	out := t.TempDir()
	run := fakeCLI(t, "env > "+out+"/env\npwd > "+out+"/pwd\nreadlink /proc/self/fd/0 > "+out+"/stdin\necho '"+okResult+"'\n",
		func(c *Config) {
			c.BaseURL = "http://127.0.0.1:1"
			c.ExtraEnv = map[string]string{"CLAUDE_CODE_MAX_RETRIES": "1"}
		})
	req := unitRequest()
	req.Env = map[string]string{"CLAUDEOPS_GATE_URL": "http://127.0.0.1:2"}
	rec := run.Run(context.Background(), req)
	if rec.Outcome != session.OutcomeHealthy {
		t.Fatalf("outcome %q (%s: %s)", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	b, err := os.ReadFile(out + "/env")
	must(t, err)
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, v := range map[string]string{
		"ANTHROPIC_API_KEY": "sk-unit-key", "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "ENABLE_TOOL_SEARCH": "false",
		"CLAUDE_CODE_MAX_RETRIES": "1", "CLAUDEOPS_GATE_URL": "http://127.0.0.1:2",
		"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"),
	} {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	for k := range env {
		switch k {
		case "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "ENABLE_TOOL_SEARCH",
			"CLAUDE_CODE_MAX_RETRIES", "CLAUDEOPS_GATE_URL", "PATH", "HOME", "CLAUDE_CONFIG_DIR", "TMPDIR",
			"PWD", "SHLVL", "_", "OLDPWD": // the last four are set by sh itself
		default:
			t.Errorf("unexpected variable %s=%s", k, env[k])
		}
	}
	scratch := filepath.Dir(env["CLAUDE_CONFIG_DIR"])
	if filepath.Dir(env["TMPDIR"]) != scratch {
		t.Errorf("TMPDIR %s not in the scratch dir %s", env["TMPDIR"], scratch)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("scratch dir %s left behind (%v)", scratch, err)
	}
	pwd, _ := os.ReadFile(out + "/pwd")
	if !strings.HasPrefix(string(pwd), scratch+"/") {
		t.Errorf("working dir %s not a per-session dir", pwd)
	}
	if stdin, _ := os.ReadFile(out + "/stdin"); strings.TrimSpace(string(stdin)) != "/dev/null" {
		t.Errorf("stdin is %s", stdin)
	}
}

func TestRunOversizedLine(t *testing.T) {
	run := fakeCLI(t, "head -c "+strconv.Itoa(maxLine+10)+" /dev/zero | tr '\\0' a\necho\necho '"+okResult+"'\n", nil)
	rec := run.Run(context.Background(), unitRequest())
	if rec.Outcome != session.OutcomeError || rec.ErrorSubtype != subtypeLineTooLong {
		t.Fatalf("outcome %q subtype %q reason %q", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	types := eventTypes(transcriptLines(t, rec.Transcript))
	if strings.Join(types, " ") != "claudeops/start claudeops/line_too_long result/success claudeops/end" {
		t.Errorf("transcript %v", types)
	}
}

// TestRunTranscriptFollowable: each line is in the file while the CLI still runs.
func TestRunTranscriptFollowable(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "go-on")
	run := fakeCLI(t, "echo '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"live\"}'\n"+
		"i=0; while [ ! -e "+gate+" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\necho '"+okResult+"'\n",
		func(c *Config) { c.ResultsDir = dir })
	req := unitRequest()
	req.ID = "follow"
	done := make(chan session.Record)
	go func() { done <- run.Run(context.Background(), req) }()
	path := filepath.Join(dir, "follow.jsonl")
	deadline := time.Now().Add(4 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), `"session_id":"live"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("init line not in the transcript while running: %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, os.WriteFile(gate, nil, 0o600))
	if rec := <-done; rec.Outcome != session.OutcomeHealthy || rec.Transcript != path {
		t.Fatalf("record %+v", rec)
	}
}
