package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/claude-ops/claude-ops/session"
)

// parseFile runs a recorded stream (testdata, from the real CLI 2.1.330)
// through the production parser and judge.
func parseFile(t *testing.T, path string, tier session.Tier) session.Record {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	var n int
	res, err := parseStream(f, func([]byte, bool) { n++ })
	must(t, err)
	if n != res.Lines || res.Garbage != 0 {
		t.Errorf("%d lines to the sink, %d parsed, %d garbage", n, res.Lines, res.Garbage)
	}
	rec := session.Record{Tier: tier, Model: "haiku"}
	res.fill(&rec)
	res.judge(&rec, nil, "")
	return rec
}

func TestParseRecordedSuccess(t *testing.T) {
	rec := parseFile(t, "testdata/tier1-success.jsonl", session.Tier1)
	if rec.Outcome != session.OutcomeHealthy || rec.Turns != 3 || rec.CostUSD != 0.0000485 {
		t.Fatalf("record %+v", rec)
	}
	if rec.CLISessionID != "69a18e4f-2346-418b-9645-cb5d28a3152d" {
		t.Errorf("session id %q", rec.CLISessionID)
	}
	if tok := rec.Tokens["claude-haiku-5-5"]; tok != (session.Tokens{Input: 200, Output: 57}) {
		t.Errorf("tokens %+v", rec.Tokens)
	}
	if !bytes.Contains(rec.StructuredOutput, []byte(`"summary":"all good"`)) {
		t.Errorf("structured output %s", rec.StructuredOutput)
	}
}

func TestParseRecordedDenials(t *testing.T) {
	rec := parseFile(t, "testdata/tier1-denied.jsonl", session.Tier1)
	if rec.Outcome != session.OutcomeHealthy || len(rec.Denials) != 2 {
		t.Fatalf("record %+v", rec)
	}
	d := rec.Denials[1]
	if d.Tool != "Bash" || d.ToolID != "toolu_fake000004" || d.Reason != "This command requires approval" ||
		!bytes.Contains(d.Input, []byte(`"command":"docker restart x"`)) {
		t.Errorf("denial %+v input %s", d, d.Input)
	}
	if !strings.Contains(rec.Denials[0].Reason, "outside the working directories") {
		t.Errorf("denial %+v", rec.Denials[0])
	}
}

func TestParseRecordedAPIError(t *testing.T) {
	rec := parseFile(t, "testdata/api-error-529.jsonl", session.Tier1)
	if rec.Outcome != session.OutcomeError || rec.ErrorSubtype != "api_error" || rec.Reason != "api_error: 529 overloaded" {
		t.Fatalf("outcome %q subtype %q reason %q", rec.Outcome, rec.ErrorSubtype, rec.Reason)
	}
}

func TestParseAPIErrorWithoutRetryEvent(t *testing.T) {
	in := `{"type":"assistant","message":{"model":"<synthetic>","content":[{"type":"text","text":"API Error: 400 fake bad request"}]},"is_api_error_message":true}
{"type":"result","subtype":"success","is_error":true,"terminal_reason":"api_error","api_error_status":400,"result":"API Error: 400 fake bad request"}
`
	res, err := parseStream(strings.NewReader(in), func([]byte, bool) {})
	must(t, err)
	rec := session.Record{Tier: session.Tier1}
	res.fill(&rec)
	res.judge(&rec, nil, "")
	if rec.Reason != "api_error: 400 fake bad request" || rec.ErrorSubtype != "api_error" {
		t.Errorf("subtype %q reason %q", rec.ErrorSubtype, rec.Reason)
	}
}

func TestParseLongLines(t *testing.T) {
	// Lines longer than the read buffer but under maxLine are whole.
	big := `{"type":"user","pad":"` + strings.Repeat("x", 200<<10) + `"}`
	in := big + "\n" + "garbage\r\n" + okResult // last line without newline
	var got []string
	res, err := parseStream(strings.NewReader(in), func(l []byte, isJSON bool) {
		got = append(got, fmt.Sprintf("%d:%v", len(l), isJSON))
	})
	must(t, err)
	want := []string{fmt.Sprintf("%d:true", len(big)), "7:false", fmt.Sprintf("%d:true", len(okResult))}
	if !slices.Equal(got, want) || res.Result == nil || res.Oversized != 0 {
		t.Errorf("sink got %v, want %v; result %v", got, want, res.Result)
	}
}

func TestRedactor(t *testing.T) {
	secret := "pa\"ss\\wo<rd>\n2"
	r := newRedactor(secret, "sk-key-1234", "", "abc", "sk-key-1234-longer")
	for _, in := range []string{
		secret,
		jsEscape(secret),
		jsEscape(jsEscape(secret)),
		string(mustJSON(t, secret)),
		string(mustJSON(t, string(mustJSON(t, secret)))),
		"sk-key-1234", "sk-key-1234-longer",
	} {
		out := string(r.appendRedacted(nil, []byte("x "+in+" y")))
		if !strings.Contains(out, redacted) || strings.Contains(out, "wo") || strings.Contains(out, "key") {
			t.Errorf("%q -> %q", in, out)
		}
	}
	// Short secrets are not redacted; lines without secrets are untouched.
	if got := r.String("abc def"); got != "abc def" {
		t.Errorf("short secret redacted: %q", got)
	}
	// Redacted JSON stays JSON.
	raw := json.RawMessage(`{"summary":` + string(mustJSON(t, "it was "+secret)) + `}`)
	if got := r.JSON(raw); !json.Valid(got) || bytes.Contains(got, []byte("wo<rd")) {
		t.Errorf("JSON %s", got)
	}
	if got := newRedactor("true").JSON(json.RawMessage(`{"a":true}`)); !json.Valid(got) {
		t.Errorf("JSON broken by a secret that is a JSON token: %s", got)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

func TestRedactSecretsFromEnv(t *testing.T) {
	got := RedactSecretsFromEnv([]string{"PATH=/bin", "BROWSER_CRED_A=one=two", "BROWSER_CRED_EMPTY=", "XBROWSER_CRED_B=no", "BROWSER_CRED_C=three"})
	if !slices.Equal(got, []string{"one=two", "three"}) {
		t.Errorf("got %q", got)
	}
}

func TestCLIArgs(t *testing.T) {
	req := session.Request{Tier: session.Tier2, Model: "sonnet", Prompt: "fix it", SystemPrompt: "sys",
		Policy:    session.Policy{Tools: []string{"Bash", "Read"}, Allow: []string{"Bash(docker ps:*)", "Read"}, Deny: []string{"Bash(rm:*)"}, MaxTurns: 40},
		MCPConfig: json.RawMessage(`{"mcpServers":{}}`), Settings: json.RawMessage(`{"hooks":{}}`), MaxBudgetUSD: 1.5}
	args, err := cliArgs(req)
	must(t, err)
	got := strings.Join(args, "|")
	for _, want := range []string{
		"-p|fix it|--model|sonnet|--output-format|stream-json|--verbose|--json-schema|{",
		"|--tools|Bash,Read|--setting-sources|user|--allowedTools|Bash(docker ps:*)|Read|--disallowedTools|Bash(rm:*)|--append-system-prompt|sys|",
		`|--mcp-config|{"mcpServers":{}}|--max-turns|40|--max-budget-usd|1.5|--settings|{"hooks":{}}|--no-session-persistence`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args %s\nlack %s", got, want)
		}
	}
	if !strings.HasSuffix(got, "--no-session-persistence") {
		t.Errorf("args end %s", got)
	}

	req = session.Request{Tier: session.Tier1, Prompt: "-starts with a dash"}
	args, err = cliArgs(req)
	must(t, err)
	if args[0] != "-p" || args[1] == req.Prompt || !slices.Equal(args[len(args)-2:], []string{"--", req.Prompt}) {
		t.Errorf("dash prompt args %q", args)
	}
	if i := slices.Index(args, "--tools"); args[i+1] != "" {
		t.Errorf("no tools in the policy should give --tools \"\", got %q", args[i+1])
	}
	for _, bad := range []session.Request{{Tier: 0, Prompt: "x"}, {Tier: session.Tier1, Prompt: " "}} {
		if _, err := cliArgs(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// BenchmarkParseStream measures the production path (parser, redaction and
// transcript writes) over a 10,000-line session.
func BenchmarkParseStream(b *testing.B) {
	stream := benchmarkStream(10_000)
	red := newRedactor("sk-ant-api-key-0123456789", "webhook-token-abcdef", `browser"pass\word`)
	tr := &transcript{w: io.Discard, red: red}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	b.ResetTimer()
	var lines int
	for b.Loop() {
		res, err := parseStream(bytes.NewReader(stream), tr.stdoutLine)
		if err != nil || res.Result == nil {
			b.Fatal(err)
		}
		lines += res.Lines
	}
	b.StopTimer()
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
		_, _ = parseStream(bytes.NewReader(stream), tr.stdoutLine)
	}))/10_000, "allocs/line")
}

// benchmarkStream builds n lines like a real session's: assistant text and
// tool calls, tool results (some long), system events, one result line.
func benchmarkStream(n int) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"type":"system","subtype":"init","cwd":"/repos","session_id":"91ce0000-0000-4000-8000-000000000000","tools":["Bash","Read","Grep","Glob","StructuredOutput"],"model":"claude-haiku-5-5","permissionMode":"default","apiKeySource":"ANTHROPIC_API_KEY","claude_code_version":"2.1.330"}` + "\n")
	output := strings.Repeat("CONTAINER ID   IMAGE   STATUS   PORTS\\n", 40)
	for i := 1; i < n-1; i++ {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&buf, `{"type":"assistant","message":{"id":"msg_%d","model":"claude-haiku-5-5","role":"assistant","content":[{"type":"text","text":"Let me check the service number %d."}],"stop_reason":null,"usage":{"input_tokens":1200,"output_tokens":1,"cache_read_input_tokens":9000}},"parent_tool_use_id":null,"session_id":"91ce","uuid":"u-%d"}`+"\n", i, i, i)
		case 1:
			fmt.Fprintf(&buf, `{"type":"assistant","message":{"id":"msg_%d","model":"claude-haiku-5-5","role":"assistant","content":[{"type":"tool_use","id":"toolu_%d","name":"Bash","input":{"command":"docker ps --filter name=web%d","description":"List containers"}}],"stop_reason":null},"parent_tool_use_id":null,"session_id":"91ce","uuid":"u-%d"}`+"\n", i, i, i, i)
		case 2:
			fmt.Fprintf(&buf, `{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_%d","type":"tool_result","content":"%s","is_error":false}]},"parent_tool_use_id":null,"session_id":"91ce","uuid":"u-%d","tool_use_result":{"stdout":"%s","stderr":"","interrupted":false},"tool_result_meta":[{"id":"toolu_%d","permission_decision":{"decision":"accept","source":"config"}}]}`+"\n", i-1, output, i, output, i-1)
		case 3:
			if i%50 == 3 {
				fmt.Fprintf(&buf, `{"type":"system","subtype":"permission_denied","tool_name":"Bash","tool_use_id":"toolu_%d","message":"This command requires approval","session_id":"91ce","uuid":"u-%d"}`+"\n", i, i)
				continue
			}
			fmt.Fprintf(&buf, `{"type":"system","subtype":"status","status":"requesting","session_id":"91ce","uuid":"u-%d"}`+"\n", i)
		default:
			fmt.Fprintf(&buf, `{"type":"rate_limit_event","rate_limit_info":{"status":"allowed"},"session_id":"91ce","uuid":"u-%d"}`+"\n", i)
		}
	}
	buf.WriteString(okResult + "\n")
	return buf.Bytes()
}

func TestEnvelope(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"system","subtype":"init"}`:                                                      "system/init",
		` { "uuid" : "a\"}" , "message":{"type":"x","c":[{"type":"y"}]}, "type" : "assistant" } `: "assistant/", //nolint:gocritic // the spaces are the case
		`{"duration":1,"nested":[[],{}],"is_error":false,"subtype":"success","type":"result"}`:    "result/success",
		`{"type":3}`:          "/",
		`[{"type":"system"}]`: "/",
		`{}`:                  "/",
	} {
		typ, sub := envelope([]byte(in))
		if got := string(typ) + "/" + string(sub); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
