package runner

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/policy"
	"github.com/claude-ops/claude-ops/session"
)

// Integration tests: the real, pinned CLI against internal/fakeapi.

const fakeKey = "sk-ant-fake-key-0123456789"

func tier1OK() map[string]any {
	return map[string]any{
		"summary": "all good",
		"services": []any{map[string]any{"name": "web", "checks": []any{map[string]any{
			"name": "http", "type": "http", "status": "ok", "latency_ms": 12.5, "detail": "200 OK",
		}}}},
	}
}

func remediationOK() map[string]any {
	return map[string]any{"summary": "restarted", "outcome": "fixed", "findings": "it was down",
		"actions": []any{map[string]any{"service": "web", "action": "restart", "target": "web", "result": "ok"}}}
}

// cliRunner is a Runner of the real CLI against srv, writing transcripts to
// a temp dir.
func cliRunner(t *testing.T, srv *fakeapi.Server, mut func(*Config)) *Runner {
	t.Helper()
	cfg := Config{
		ClaudePath: fakeapi.CLIPath(t),
		ResultsDir: t.TempDir(),
		APIKey:     fakeKey,
		BaseURL:    srv.URL(),
		Timeout:    30 * time.Second,
		Grace:      2 * time.Second,
		// A HOME of the test's: the Bash tool sources the user's shell
		// profile, which must not change PATH or stall (pyenv's rehash lock).
		ExtraEnv: map[string]string{"CLAUDE_CODE_MAX_RETRIES": "1", "HOME": t.TempDir()},
		Logger:   testLogger(t),
	}
	if dir := os.Getenv("CLAUDEOPS_TEST_RESULTS"); dir != "" {
		cfg.ResultsDir = dir // keep transcripts for a look
	}
	if mut != nil {
		mut(&cfg)
	}
	return New(cfg)
}

func tierRequest(t *testing.T, tier session.Tier, model string) session.Request {
	dir := t.TempDir()
	return session.Request{
		Tier: tier, Model: model, Trigger: session.TriggerManual,
		Prompt: "check the services", Policy: policy.ForTier(tier, dir, false), Dir: dir,
	}
}

func TestCLITier1TwoTurns(t *testing.T) {
	srv := fakeapi.Start(t, fakeapi.Sequence(
		fakeapi.Turn{Text: "Let me check.", Tools: []fakeapi.ToolUse{fakeapi.Bash("echo hello")}},
		fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(tier1OK())}},
	))
	run := cliRunner(t, srv, nil)
	req := tierRequest(t, session.Tier1, "haiku")
	req.SystemPrompt = "You are Tier 1."
	rec := run.Run(context.Background(), req)

	if rec.Outcome != session.OutcomeHealthy {
		t.Fatalf("outcome %q (%s: %s), want healthy", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	var got, want any
	_ = json.Unmarshal(rec.StructuredOutput, &got)
	b, _ := json.Marshal(tier1OK())
	_ = json.Unmarshal(b, &want)
	if !jsonEqual(got, want) {
		t.Errorf("structured output %s", rec.StructuredOutput)
	}
	if rec.CostUSD <= 0 || rec.Turns < 2 || rec.CLISessionID == "" {
		t.Errorf("cost %v turns %d cli session %q", rec.CostUSD, rec.Turns, rec.CLISessionID)
	}
	tok, ok := rec.Tokens["claude-haiku-5-5"]
	if !ok || tok.Input != 200 || tok.Output == 0 {
		t.Errorf("tokens %+v", rec.Tokens)
	}
	if rec.Duration <= 0 || rec.End.Before(rec.Start) || rec.Trigger != session.TriggerManual || rec.Model != "haiku" {
		t.Errorf("record %+v", rec)
	}

	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d API requests, want 2", len(reqs))
	}
	if reqs[0].Prompt != "check the services" || !strings.Contains(reqs[0].System, "You are Tier 1.") || reqs[0].APIKey != fakeKey {
		t.Errorf("first request: prompt %q, key %q", reqs[0].Prompt, reqs[0].APIKey)
	}
	if tr := reqs[1].ToolResults; len(tr) != 1 || tr[0].Content != "hello" || tr[0].IsError {
		t.Errorf("tool results sent back: %+v", tr)
	}

	lines := transcriptLines(t, rec.Transcript)
	types := eventTypes(lines)
	for _, want := range []string{"claudeops/start", "system/init", "assistant", "user", "result/success", "claudeops/end"} {
		if !slices.Contains(types, want) {
			t.Errorf("transcript lacks %s: %v", want, types)
		}
	}
	if types[0] != "claudeops/start" || types[len(types)-1] != "claudeops/end" {
		t.Errorf("transcript order %v", types)
	}
	end := lines[len(lines)-1]["record"].(map[string]any)
	if end["outcome"] != "healthy" || end["transcript"] != rec.Transcript {
		t.Errorf("end record %v", end)
	}
}

func TestCLINoStructuredOutput(t *testing.T) {
	srv := fakeapi.Start(t, fakeapi.Sequence(fakeapi.Turn{Text: "Everything looks fine."}))
	rec := cliRunner(t, srv, nil).Run(context.Background(), tierRequest(t, session.Tier1, "haiku"))
	if rec.Outcome != session.OutcomeError || rec.ErrorSubtype != subtypeNoStructuredOutput || rec.Reason != "no structured_output" {
		t.Fatalf("outcome %q %q %q", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	if len(srv.Requests()) < 2 {
		t.Errorf("the CLI should have asked again for StructuredOutput; %d requests", len(srv.Requests()))
	}
}

func TestCLIDeniedCommands(t *testing.T) {
	outside := t.TempDir()
	sentinel := filepath.Join(outside, "sentinel")
	// A docker that would leave a mark if it ever ran.
	bin := t.TempDir()
	dockerMark := filepath.Join(outside, "docker-ran")
	writeExec(t, filepath.Join(bin, "docker"), "#!/bin/sh\ntouch "+dockerMark+"\n")

	srv := fakeapi.Start(t, fakeapi.Sequence(
		fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.Bash("touch " + sentinel), fakeapi.Bash("docker restart x")}},
		fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(tier1OK())}},
	))
	run := cliRunner(t, srv, func(c *Config) {
		c.ExtraEnv["PATH"] = bin + ":" + os.Getenv("PATH")
	})
	rec := run.Run(context.Background(), tierRequest(t, session.Tier1, "haiku"))

	if rec.Outcome != session.OutcomeHealthy {
		t.Fatalf("outcome %q (%s: %s): a denial must not end the run", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	var cmds []string
	for _, d := range rec.Denials {
		var in struct{ Command string }
		_ = json.Unmarshal(d.Input, &in)
		cmds = append(cmds, in.Command)
		if d.Tool != "Bash" || d.ToolID == "" || d.Reason == "" {
			t.Errorf("denial %+v", d)
		}
	}
	slices.Sort(cmds)
	if want := []string{"docker restart x", "touch " + sentinel}; !slices.Equal(cmds, want) {
		t.Errorf("denied %q, want %q", cmds, want)
	}
	for _, f := range []string{sentinel, dockerMark} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s exists: a denied command ran", f)
		}
	}
	if tr := srv.Requests()[1].ToolResults; len(tr) != 2 || !tr[0].IsError || !tr[1].IsError {
		t.Errorf("tool results %+v, want two errors", tr)
	}
}

// TestCLISettingsSources: a repo's own .claude/settings.json cannot widen the
// rules, while hooks given with --settings still run.
func TestCLISettingsSources(t *testing.T) {
	req := tierRequest(t, session.Tier1, "haiku")
	outside := t.TempDir()
	sentinel := filepath.Join(outside, "sentinel")
	must(t, os.MkdirAll(filepath.Join(req.Dir, ".claude"), 0o755))
	must(t, os.WriteFile(filepath.Join(req.Dir, ".claude", "settings.json"),
		[]byte(`{"permissions":{"allow":["Bash(touch:*)","Bash(*)"],"defaultMode":"bypassPermissions"}}`), 0o644))
	hook := filepath.Join(outside, "hook.sh")
	writeExec(t, hook, "#!/bin/sh\nif grep -q 'cat /etc/hostname'; then echo 'BLOCKED by test hook' >&2; exit 2; fi\nexit 0\n")
	req.Settings = json.RawMessage(`{"hooks":{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"` + hook + `"}]}]}}`)

	srv := fakeapi.Start(t, fakeapi.Sequence(
		fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.Bash("touch " + sentinel), fakeapi.Bash("cat /etc/hostname")}},
		fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(tier1OK())}},
	))
	rec := cliRunner(t, srv, nil).Run(context.Background(), req)
	if rec.Outcome != session.OutcomeHealthy {
		t.Fatalf("outcome %q (%s: %s)", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	if _, err := os.Stat(sentinel); err == nil {
		t.Errorf("the repo's settings allowed touch outside the working dir")
	}
	tr := srv.Requests()[1].ToolResults
	if len(tr) != 2 || !tr[1].IsError || !strings.Contains(tr[1].Content, "BLOCKED by test hook") {
		t.Errorf("tool results %+v: the --settings hook did not block cat", tr)
	}
	if len(rec.Denials) != 2 {
		t.Errorf("denials %+v", rec.Denials)
	}
}

func TestCLIAPIErrors(t *testing.T) {
	for _, status := range []int{529, 500} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv := fakeapi.Start(t, fakeapi.Sequence(fakeapi.Turn{Status: status}))
			start := time.Now()
			rec := cliRunner(t, srv, nil).Run(context.Background(), tierRequest(t, session.Tier1, "haiku"))
			t.Logf("took %s, %d requests, reason %q", time.Since(start), len(srv.Requests()), rec.Reason)
			if rec.Outcome != session.OutcomeError || !strings.Contains(rec.Reason, strconv.Itoa(status)) {
				t.Fatalf("outcome %q subtype %q reason %q", rec.Outcome, rec.ErrorSubtype, rec.Reason)
			}
			if !strings.HasPrefix(rec.Reason, "api_error: ") || rec.ErrorSubtype != "api_error" {
				t.Errorf("subtype %q reason %q", rec.ErrorSubtype, rec.Reason)
			}
		})
	}
}

// TestCLITimeout: a session that outlives --session.timeout ends as
// timeout and its process group is gone. No bound on how long that took is
// asserted (a loaded machine may take its time); the timeout is long
// enough for the CLI to reach the model API first, which never answers.
func TestCLITimeout(t *testing.T) {
	const timeout = 10 * time.Second
	srv := fakeapi.Start(t, fakeapi.Sequence(fakeapi.Turn{Text: "slow", Delay: time.Hour}))
	run := cliRunner(t, srv, func(c *Config) { c.Timeout, c.Grace = timeout, time.Second })
	start := time.Now()
	rec := run.Run(context.Background(), tierRequest(t, session.Tier1, "haiku"))
	took := time.Since(start)
	if rec.Outcome != session.OutcomeTimeout {
		t.Fatalf("outcome %q (%s: %s), want timeout", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	if took < timeout {
		t.Errorf("Run ended after %s, before the timeout", took)
	}
	waitGroupGone(t, startPGID(t, rec.Transcript))
	t.Logf("timeout run took %s; model requests: %d", took, len(srv.Requests()))
}

func TestCLISecretsRedacted(t *testing.T) {
	secret := `tok"en\with-slash-1234`
	srv := fakeapi.Start(t, fakeapi.Sequence(
		fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.Bash("echo '" + secret + "' " + fakeKey)}},
		fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(map[string]any{
			"summary": "saw " + secret, "services": []any{},
		})}},
	))
	run := cliRunner(t, srv, func(c *Config) { c.Secrets = []string{secret, "ab"} })
	rec := run.Run(context.Background(), tierRequest(t, session.Tier1, "haiku"))
	if rec.Outcome != session.OutcomeHealthy {
		t.Fatalf("outcome %q (%s: %s)", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
	reqs := srv.Requests()
	if tr := reqs[1].ToolResults; len(tr) != 1 || !strings.Contains(tr[0].Content, secret) || !strings.Contains(tr[0].Content, fakeKey) {
		t.Fatalf("the secret did not go through the tool: %+v", tr)
	}
	data, err := os.ReadFile(rec.Transcript)
	must(t, err)
	for _, form := range []string{secret, jsEscape(secret), jsEscape(jsEscape(secret)), fakeKey} {
		if strings.Contains(string(data), form) {
			t.Errorf("transcript contains %q", form)
		}
	}
	if !strings.Contains(string(data), redacted) {
		t.Errorf("transcript has no %s marker", redacted)
	}
	if strings.Contains(string(rec.StructuredOutput), "with-slash") || !json.Valid(rec.StructuredOutput) {
		t.Errorf("structured output %s", rec.StructuredOutput)
	}
	transcriptLines(t, rec.Transcript) // still valid JSONL
}

func TestCLIToolSetPerTier(t *testing.T) {
	srv := fakeapi.Start(t, fakeapi.ByModel(map[string]fakeapi.Script{
		"haiku":  fakeapi.Sequence(fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(tier1OK())}}),
		"sonnet": fakeapi.Sequence(fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(remediationOK())}}),
		"opus":   fakeapi.Sequence(fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(remediationOK())}}),
	}))
	run := cliRunner(t, srv, nil)
	for _, tc := range []struct {
		tier  session.Tier
		model string
		want  []string
	}{
		{session.Tier1, "haiku", []string{"Bash", "Glob", "Grep", "Read", "StructuredOutput"}},
		// No Edit or Write at any tier: changes are typed actions (mcp__ops__*).
		{session.Tier2, "sonnet", []string{"Bash", "Glob", "Grep", "Read", "StructuredOutput"}},
		// policy's "Task" is the CLI's "Agent" tool.
		{session.Tier3, "opus", []string{"Agent", "Bash", "Glob", "Grep", "Read", "StructuredOutput"}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			n := len(srv.Requests())
			rec := run.Run(context.Background(), tierRequest(t, tc.tier, tc.model))
			if rec.Outcome == session.OutcomeError {
				t.Fatalf("outcome %q (%s: %s)", rec.Outcome, rec.ErrorSubtype, rec.Reason)
			}
			reqs := srv.Requests()[n:]
			if len(reqs) == 0 {
				t.Fatal("no request")
			}
			got := slices.Sorted(slices.Values(reqs[0].Tools))
			if !slices.Equal(got, tc.want) {
				t.Errorf("tier %d tools %q, want %q", tc.tier, got, tc.want)
			}
			t.Logf("tier %d: model %s, %d tools, request %d bytes (~%d tokens)", tc.tier, reqs[0].Model,
				len(got), reqs[0].BodyBytes, reqs[0].EstimatedInputTokens)
		})
	}
}

func startPGID(t *testing.T, path string) int {
	t.Helper()
	for _, l := range transcriptLines(t, path) {
		if l["type"] == "claudeops" && l["event"] == "start" {
			if pg, ok := l["pgid"].(float64); ok && pg > 0 {
				return int(pg)
			}
		}
	}
	t.Fatal("no pgid in the transcript's start event")
	return 0
}
