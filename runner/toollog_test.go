package runner

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestToolLogger: one info line per tool_use block of an assistant event,
// the Bash command shown, secrets redacted, long inputs cut; other events
// log nothing, and every line still reaches the transcript.
func TestToolLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var passed int
	sink := toolLogger(log, newRedactor("s3cr3t-value"), func([]byte, bool) { passed++ })
	long := strings.Repeat("x", 500)
	for _, line := range []string{
		`{"type":"assistant","message":{"content":[{"type":"text","text":"look"},` +
			`{"type":"tool_use","name":"Bash","input":{"command":"curl -H 'Authorization: s3cr3t-value' http://web/"}},` +
			`{"type":"tool_use","name":"mcp__ops__restart_service","input":{"service":"web"}}]}}`,
		`{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Read","input":{"file_path":"/repos/` + long + `"}}]}}`,
		`{"type":"user","message":{"content":[{"type":"tool_result","content":"tool_use"}]}}`,
		`not json tool_use`,
	} {
		sink([]byte(line), strings.HasPrefix(line, "{"))
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if passed != 4 || len(lines) != 3 {
		t.Fatalf("passed %d lines, logged %d:\n%s", passed, len(lines), out)
	}
	for i, want := range []string{
		`msg="tool call" tool=Bash input="curl -H 'Authorization: ` + redacted + `' http://web/"`,
		`msg="tool call" tool=mcp__ops__restart_service input="{\"service\":\"web\"}"`,
		`msg="tool call" tool=Read input="{\"file_path\":\"/repos/xxx`,
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %s\nwant it to contain %s", i, lines[i], want)
		}
	}
	if strings.Contains(out, "s3cr3t-value") || strings.Count(lines[2], "x") > maxToolLogInput {
		t.Errorf("secret or the whole long input logged:\n%s", out)
	}
}
