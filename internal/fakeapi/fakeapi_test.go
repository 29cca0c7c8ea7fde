package fakeapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	Name string
	Data map[string]any
}

// post sends a Messages API body and parses the SSE answer strictly: every
// event is "event: X" then "data: <JSON>" then a blank line, and the data's
// type equals the event name.
func post(t *testing.T, s *Server, body string) (int, []sseEvent, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL()+"/v1/messages?beta=true", strings.NewReader(body))
	req.Header.Set("x-api-key", "test-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, nil, string(b)
	}
	var events []sseEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, ok := strings.CutPrefix(sc.Text(), "event: ")
		if !ok {
			t.Fatalf("expected an event line, got %q", sc.Text())
		}
		if !sc.Scan() {
			t.Fatal("event without data")
		}
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			t.Fatalf("expected a data line, got %q", sc.Text())
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("data is not JSON: %v: %s", err, data)
		}
		if m["type"] != name {
			t.Errorf("event %s carries type %v", name, m["type"])
		}
		if !sc.Scan() || sc.Text() != "" {
			t.Fatalf("event not ended by a blank line: %q", sc.Text())
		}
		events = append(events, sseEvent{name, m})
	}
	return resp.StatusCode, events, ""
}

// conversation is a request body with n assistant messages, system messages
// in between (as the CLI 2.1.330 sends them) and a tool result at the end.
func conversation(n int) string {
	msgs := []any{
		map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "text", "text": "<system-reminder>x</system-reminder>"},
			map[string]any{"type": "text", "text": "check health"},
		}},
		map[string]any{"role": "system", "content": "env info"},
	}
	for i := range n {
		msgs = append(msgs,
			map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "tool_use", "id": fmt.Sprint("t", i), "name": "Bash", "input": map[string]any{}}}},
			map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": fmt.Sprint("t", i), "content": []any{map[string]any{"type": "text", "text": fmt.Sprint("out", i)}}, "is_error": i%2 == 1}}},
			map[string]any{"role": "system", "content": []any{map[string]any{"type": "text", "text": "<total_tokens>1</total_tokens>"}}},
		)
	}
	b, _ := json.Marshal(map[string]any{
		"model": "claude-haiku-5-5", "stream": true, "max_tokens": 1000,
		"system":   []any{map[string]any{"type": "text", "text": "billing"}, map[string]any{"type": "text", "text": "be brief"}},
		"tools":    []any{map[string]any{"name": "Bash", "input_schema": map[string]any{}}, map[string]any{"name": "StructuredOutput", "input_schema": map[string]any{}}},
		"messages": msgs,
	})
	return string(b)
}

func TestStreamFraming(t *testing.T) {
	s := Start(t, Sequence(Turn{Text: "Let me check.", Tools: []ToolUse{Bash("echo hello")},
		Usage: Usage{InputTokens: 321, OutputTokens: 7, CacheRead: 5, CacheCreation: 6}}))
	code, events, _ := post(t, s, conversation(0))
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	var names []string
	for _, e := range events {
		names = append(names, e.Name)
	}
	want := "message_start content_block_start content_block_delta content_block_stop " +
		"content_block_start content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if strings.Join(names, " ") != want {
		t.Fatalf("events %s", strings.Join(names, " "))
	}
	usage := events[0].Data["message"].(map[string]any)["usage"].(map[string]any)
	if usage["input_tokens"] != 321.0 || usage["cache_read_input_tokens"] != 5.0 || usage["cache_creation_input_tokens"] != 6.0 {
		t.Errorf("usage %v", usage)
	}
	if cb := events[4].Data["content_block"].(map[string]any); cb["type"] != "tool_use" || cb["name"] != "Bash" ||
		!strings.HasPrefix(cb["id"].(string), "toolu_") {
		t.Errorf("tool_use block %v", cb)
	}
	// The partial JSON pieces join into the tool input.
	var input string
	for _, e := range events[5:7] {
		input += e.Data["delta"].(map[string]any)["partial_json"].(string)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(input), &got); err != nil || got["command"] != "echo hello" {
		t.Errorf("tool input %q: %v", input, err)
	}
	md := events[8].Data
	if md["delta"].(map[string]any)["stop_reason"] != "tool_use" || md["usage"].(map[string]any)["output_tokens"] != 7.0 {
		t.Errorf("message_delta %v", md)
	}
}

func TestSequenceByAssistantCount(t *testing.T) {
	s := Start(t, Sequence(Turn{Text: "zero"}, Turn{Text: "one"}, Turn{Text: "two"}))
	for n, want := range []string{"zero", "one", "two", "two", "two"} {
		_, events, _ := post(t, s, conversation(n))
		got := events[2].Data["delta"].(map[string]any)["text"]
		if got != want {
			t.Errorf("%d assistant messages: %v, want %s", n, got, want)
		}
		if stop := events[len(events)-2].Data["delta"].(map[string]any)["stop_reason"]; stop != "end_turn" {
			t.Errorf("stop_reason %v", stop)
		}
	}
}

func TestRecording(t *testing.T) {
	s := Start(t, Sequence(Turn{Text: "ok"}), EstimateUsage())
	body := conversation(3)
	_, events, _ := post(t, s, body)
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Model != "claude-haiku-5-5" || r.Prompt != "check health" || r.System != "billing\nbe brief" ||
		r.Turn != 3 || r.APIKey != "test-key" || r.BodyBytes != len(body) {
		t.Errorf("request %+v", r)
	}
	if strings.Join(r.Tools, ",") != "Bash,StructuredOutput" {
		t.Errorf("tools %v", r.Tools)
	}
	if len(r.ToolResults) != 1 || r.ToolResults[0] != (ToolResult{ToolUseID: "t2", Content: "out2"}) {
		t.Errorf("tool results %+v", r.ToolResults)
	}
	if r.EstimatedInputTokens < 100 || r.EstimatedInputTokens > len(body)/4 {
		t.Errorf("estimate %d for %d bytes", r.EstimatedInputTokens, len(body))
	}
	usage := events[0].Data["message"].(map[string]any)["usage"].(map[string]any)
	if usage["input_tokens"] != float64(r.EstimatedInputTokens) {
		t.Errorf("reported input tokens %v, estimate %d", usage["input_tokens"], r.EstimatedInputTokens)
	}
}

func TestErrorsAndProbes(t *testing.T) {
	s := Start(t, Sequence(Turn{Status: 529}))
	code, _, body := post(t, s, conversation(0))
	var e struct {
		Type  string
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || code != 529 || e.Type != "error" || e.Error.Type != "overloaded_error" {
		t.Errorf("529 answer %d %s", code, body)
	}
	s.SetScript(Sequence(Turn{Status: 500, ErrorType: "api_error"}))
	if code, _, body := post(t, s, conversation(0)); code != 500 || !strings.Contains(body, `"api_error"`) {
		t.Errorf("500 answer %d %s", code, body)
	}
	resp, err := http.Head(s.URL() + "/api/hello")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("HEAD /api/hello: %v %v", resp, err)
	}
}

func TestRouting(t *testing.T) {
	byModel := ByModel(map[string]Script{
		"haiku":            Sequence(Turn{Text: "h"}),
		"claude-haiku-5-5": Sequence(Turn{Text: "exact"}),
		"sonnet":           Sequence(Turn{Text: "s"}),
	})
	for model, want := range map[string]string{"claude-haiku-5-5": "exact", "claude-haiku-4-5": "h", "claude-sonnet-5-5": "s"} {
		if got := byModel(&Request{Model: model}); got.Text != want {
			t.Errorf("%s: %q, want %q", model, got.Text, want)
		}
	}
	if got := byModel(&Request{Model: "opus"}); got.Status != 400 {
		t.Errorf("unknown model: %+v", got)
	}
	byPrompt := ByPrompt(func(p string) Script {
		if strings.Contains(p, "Tier 2") {
			return Sequence(Turn{Text: "t2"})
		}
		return nil
	})
	if byPrompt(&Request{Prompt: "You are Tier 2"}).Text != "t2" || byPrompt(&Request{Prompt: "x"}).Status != 400 {
		t.Error("ByPrompt routing")
	}
}

func TestDelayEndsOnClose(t *testing.T) {
	s := New(Sequence(Turn{Text: "late", Delay: time.Minute}))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		req, _ := http.NewRequest("POST", s.URL()+"/v1/messages", strings.NewReader(conversation(0)))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	for len(s.Requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	s.Close()
	wg.Wait()
	if time.Since(start) >= time.Minute { // the delay
		t.Errorf("Close waited for the delay")
	}
}

func TestCLIPathSkipOrFail(t *testing.T) {
	t.Setenv("CLAUDEOPS_TEST_CLAUDE", "/nonexistent/claude")
	t.Setenv("CI", "")
	ft := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); CLIPath(ft) }()
	<-done
	if !ft.skipped || !strings.Contains(ft.msg, InstallCommand) {
		t.Errorf("skipped %v msg %q", ft.skipped, ft.msg)
	}
	t.Setenv("CI", "true")
	ft = &fakeTB{TB: t}
	done = make(chan struct{})
	go func() { defer close(done); CLIPath(ft) }()
	<-done
	if !ft.failed {
		t.Errorf("in CI a missing CLI must fail the test")
	}
}

// fakeTB records Skip and Fatal; both end the calling goroutine like the real ones.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestNonStreaming: a request without "stream": true is answered with one
// JSON message, as the real API does (the CLI retries a broken stream so).
func TestNonStreaming(t *testing.T) {
	s := Start(t, Sequence(Turn{Text: "Hi.", Tools: []ToolUse{Bash("ls")}, Usage: Usage{InputTokens: 7, OutputTokens: 3}}))
	code, events, body := post(t, s, `{"model":"claude-haiku-5-5","stream":false,"messages":[{"role":"user","content":"x"}]}`)
	if code != 200 || events != nil {
		t.Fatalf("code %d, events %v", code, events)
	}
	var m struct {
		Type       string `json:"type"`
		StopReason string `json:"stop_reason"`
		Content    []struct {
			Type, Text, Name string
			Input            map[string]any
		} `json:"content"`
		Usage struct {
			Input  int `json:"input_tokens"`
			Output int `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if m.Type != "message" || m.StopReason != "tool_use" || len(m.Content) != 2 || m.Content[0].Text != "Hi." ||
		m.Content[1].Name != "Bash" || m.Content[1].Input["command"] != "ls" || m.Usage.Input != 7 || m.Usage.Output != 3 {
		t.Errorf("message = %+v", m)
	}
}
