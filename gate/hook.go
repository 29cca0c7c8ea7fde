package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Environment variables the runner gives the CLI (session.Request.Env), which
// passes them on to the hook.
const (
	EnvSocket    = "CLAUDEOPS_GATE_SOCKET"
	EnvSessionID = "CLAUDEOPS_SESSION_ID"
	EnvToken     = "CLAUDEOPS_GATE_TOKEN"
)

// Env returns the variables a session's CLI needs for its hook to reach the
// gate.
func Env(socketPath, sessionID, token string) map[string]string {
	return map[string]string{EnvSocket: socketPath, EnvSessionID: sessionID, EnvToken: token}
}

// HookTimeout is how long the CLI lets the hook run; the hook gives the daemon
// a little less.
const HookTimeout = 30 * time.Second

// Settings returns the --settings JSON that makes the CLI run hookCommand
// (our own binary and "hook pre-tool-use") before every tool call, whatever
// the tool. Each word is shell-quoted: the CLI runs the command with a shell.
func Settings(hookCommand []string) json.RawMessage {
	words := make([]string, len(hookCommand))
	for i, w := range hookCommand {
		words[i] = shellQuote(w)
	}
	type hook struct {
		Type    string `json:"type"`
		Command string `json:"command"`
		Timeout int    `json:"timeout"`
	}
	type matcher struct {
		Matcher string `json:"matcher"`
		Hooks   []hook `json:"hooks"`
	}
	v := map[string]any{"hooks": map[string][]matcher{
		"PreToolUse": {{Matcher: "*", Hooks: []hook{{Type: "command", Command: strings.Join(words, " "), Timeout: int(HookTimeout / time.Second)}}}},
	}}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static types: cannot fail
	}
	return b
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// hookInput is the part of the CLI's PreToolUse stdin the gate needs.
type hookInput struct {
	HookEventName string          `json:"hook_event_name"`
	ToolName      string          `json:"tool_name"`
	ToolInput     json.RawMessage `json:"tool_input"`
	Cwd           string          `json:"cwd"`
}

// maxHookInput bounds what the hook reads from the CLI.
const maxHookInput = 8 << 20

// RunHook is the `claude-ops hook pre-tool-use` command: it reads the CLI's
// PreToolUse JSON from stdin, asks the gate, and answers by exit code: 0 (and
// no output, so the CLI's own permission rules still apply) when allowed, 2
// with the reason on stderr when denied, which blocks the call. Anything that
// goes wrong denies.
func RunHook(stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	_ = stdout
	d, err := askGate(stdin, env)
	if err != nil {
		fmt.Fprintf(stderr, "claude-ops gate: denied (fail closed): %v\n", err)
		return 2
	}
	if !d.Allow {
		reason := d.Reason
		if reason == "" {
			reason = "denied"
		}
		fmt.Fprintf(stderr, "claude-ops gate: denied: %s\n", reason)
		return 2
	}
	return 0
}

func askGate(stdin io.Reader, env func(string) string) (Decision, error) {
	socket, id, token := env(EnvSocket), env(EnvSessionID), env(EnvToken)
	if socket == "" || id == "" || token == "" {
		return Decision{}, fmt.Errorf("%s, %s or %s is not set", EnvSocket, EnvSessionID, EnvToken)
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, maxHookInput+1))
	if err != nil {
		return Decision{}, fmt.Errorf("read hook input: %w", err)
	}
	if len(raw) > maxHookInput {
		return Decision{}, fmt.Errorf("hook input too large")
	}
	var in hookInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return Decision{}, fmt.Errorf("malformed hook input: %w", err)
	}
	if in.ToolName == "" {
		return Decision{}, fmt.Errorf("hook input without tool_name")
	}
	if in.HookEventName != "" && in.HookEventName != "PreToolUse" {
		return Decision{}, fmt.Errorf("unexpected hook event %q", in.HookEventName)
	}
	body, err := json.Marshal(DecideRequest{SessionID: id, Token: token, ToolName: in.ToolName, ToolInput: in.ToolInput, Cwd: in.Cwd})
	if err != nil {
		return Decision{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), HookTimeout-5*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://gate"+DecidePath, bytes.NewReader(body))
	if err != nil {
		return Decision{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Decision{}, fmt.Errorf("gate unreachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Decision{}, fmt.Errorf("gate answered %s", resp.Status)
	}
	var answer struct {
		Allow  *bool  `json:"allow"`
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&answer); err != nil {
		return Decision{}, fmt.Errorf("malformed gate answer: %w", err)
	}
	if answer.Allow == nil {
		return Decision{}, fmt.Errorf("gate answer without a decision")
	}
	return Decision{Allow: *answer.Allow, Reason: answer.Reason}, nil
}
