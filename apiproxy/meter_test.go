package apiproxy

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/session"
)

// ev is one SSE event with its event line.
func ev(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }

func start(model string, in, out, cacheRead, cacheWrite int) string {
	return ev("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"output_tokens":%d,"cache_read_input_tokens":%d,"cache_creation_input_tokens":%d}}}`,
		model, in, out, cacheRead, cacheWrite))
}

func delta(usage string) string {
	return ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":`+usage+`}`)
}

var (
	text = ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`) +
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	stop = ev("message_stop", `{"type":"message_stop"}`)
)

func TestMeterStreams(t *testing.T) {
	const haiku = "claude-haiku-5-5"
	for _, tc := range []struct {
		name       string
		stream     string
		model      string
		want       []session.Tokens
		meterError bool
	}{
		{name: "delta with output only",
			stream: start(haiku, 100, 1, 5, 6) + text + delta(`{"output_tokens":20}`) + stop,
			want:   []session.Tokens{{Input: 100, Output: 1, CacheRead: 5, CacheCreation: 6}, {Output: 19}}},
		{name: "delta repeats input and cache counts",
			stream: start(haiku, 100, 1, 5, 6) + text +
				delta(`{"input_tokens":100,"output_tokens":20,"cache_read_input_tokens":5,"cache_creation_input_tokens":6}`) + stop,
			want: []session.Tokens{{Input: 100, Output: 1, CacheRead: 5, CacheCreation: 6}, {Output: 19}}},
		{name: "delta raises input and cache counts (server tools)",
			stream: start(haiku, 100, 1, 0, 0) + text +
				delta(`{"input_tokens":150,"output_tokens":20,"cache_read_input_tokens":30,"cache_creation_input_tokens":0}`) + stop,
			want: []session.Tokens{{Input: 100, Output: 1}, {Input: 50, Output: 19, CacheRead: 30}}},
		{name: "delta with null fields",
			stream: start(haiku, 100, 1, 5, 0) + text +
				delta(`{"input_tokens":null,"output_tokens":20,"cache_read_input_tokens":null,"cache_creation_input_tokens":null}`) + stop,
			want: []session.Tokens{{Input: 100, Output: 1, CacheRead: 5}, {Output: 19}}},
		{name: "several deltas, one going back",
			stream: start(haiku, 100, 1, 0, 0) + delta(`{"output_tokens":10}`) + delta(`{"output_tokens":8}`) +
				delta(`{"output_tokens":12}`) + stop,
			want: []session.Tokens{{Input: 100, Output: 1}, {Output: 9}, {Output: 2}}},
		{name: "two messages in one stream",
			stream: start(haiku, 100, 1, 0, 0) + delta(`{"output_tokens":10}`) + stop +
				start(haiku, 200, 1, 0, 0) + delta(`{"output_tokens":4}`) + stop,
			want: []session.Tokens{{Input: 100, Output: 1}, {Output: 9}, {Input: 200, Output: 1}, {Output: 3}}},
		{name: "pings and a comment",
			stream: start(haiku, 100, 1, 0, 0) + ev("ping", `{"type": "ping"}`) + ": keepalive\n\n" + text +
				delta(`{"output_tokens":3}`) + stop,
			want: []session.Tokens{{Input: 100, Output: 1}, {Output: 2}}},
		{name: "no event lines",
			stream: strings.ReplaceAll(start(haiku, 100, 1, 0, 0)+delta(`{"output_tokens":3}`), "event: message_start\n", ""),
			want:   []session.Tokens{{Input: 100, Output: 1}, {Output: 2}}},
		{name: "CRLF line ends",
			stream: strings.ReplaceAll(start(haiku, 100, 1, 0, 0)+text+delta(`{"output_tokens":3}`)+stop, "\n", "\r\n"),
			want:   []session.Tokens{{Input: 100, Output: 1}, {Output: 2}}},
		{name: "error event mid-stream",
			stream: start(haiku, 100, 1, 0, 0) + text +
				ev("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`),
			want: []session.Tokens{{Input: 100, Output: 1}}},
		{name: "bad event is skipped",
			stream: start(haiku, 100, 1, 0, 0) + ev("message_delta", `{"type":"message_delta","usage":{"output_tokens":`) +
				text + delta(`{"output_tokens":7}`) + stop,
			want: []session.Tokens{{Input: 100, Output: 1}, {Output: 6}}, meterError: true},
		{name: "unknown model is priced at the fallback",
			stream: start("gpt-9", 1000, 1, 0, 0) + delta(`{"output_tokens":1000}`),
			model:  "gpt-9",
			want:   []session.Tokens{{Input: 1000, Output: 1}, {Output: 999}}},
		{name: "empty stream", stream: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &upstreamRecorder{header: http.Header{"Content-Type": {"text/event-stream"}}, body: tc.stream}
			up := httptest.NewServer(rec)
			defer up.Close()
			p, _ := newProxy(t, up.URL, nil)
			srv := serve(t, p)
			m := &testMeter{}
			tok, _ := p.Register(Session{ID: "s", Meter: m})
			resp := post(t, srv.URL, "/v1/messages?beta=true", tok, messagesBody, nil)
			if body := readAll(t, resp); body != tc.stream {
				t.Fatalf("body changed:\n%q\nwant\n%q", body, tc.stream)
			}
			srv.Wait()
			calls := m.Calls()
			if len(calls) != len(tc.want) {
				t.Fatalf("usage calls %+v, want %+v", calls, tc.want)
			}
			model := tc.model
			if model == "" {
				model = haiku
			}
			price, _ := DefaultPrices().Lookup(model)
			for i, c := range calls {
				if c.Tokens != tc.want[i] || c.Model != model || c.Session != "s" || c.Cost != price.Cost(tc.want[i]) {
					t.Errorf("call %d: %+v, want %+v (%s, cost %v)", i, c, tc.want[i], model, price.Cost(tc.want[i]))
				}
			}
			if got := testutil.ToFloat64(p.metrics.meterErrors) > 0; got != tc.meterError {
				t.Errorf("metering error %v, want %v", got, tc.meterError)
			}
		})
	}
}

// TestMeterFakeAPI: the Meter gets what the fake served, per turn.
func TestMeterFakeAPI(t *testing.T) {
	up := fakeapi.Start(t, fakeapi.Sequence(
		fakeapi.Turn{Text: "Let me check.", Tools: []fakeapi.ToolUse{fakeapi.Bash("echo hello")},
			Usage: fakeapi.Usage{InputTokens: 321, OutputTokens: 7, CacheRead: 5, CacheCreation: 6}},
	))
	p, _ := newProxy(t, up.URL(), nil)
	srv := serve(t, p)
	m := &testMeter{}
	tok, _ := p.Register(Session{ID: "s", Meter: m})
	for range 2 {
		resp := post(t, srv.URL, "/v1/messages?beta=true", tok, messagesBody, nil)
		if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "message_stop") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	srv.Wait()
	want := []session.Tokens{{Input: 321, Output: 1, CacheRead: 5, CacheCreation: 6}, {Output: 6}}
	want = append(want, want...)
	calls := m.Calls()
	if len(calls) != len(want) {
		t.Fatalf("usage calls %+v", calls)
	}
	for i, c := range calls {
		if c.Tokens != want[i] || c.Model != "claude-haiku-5-5" {
			t.Errorf("call %d: %+v, want %+v", i, c, want[i])
		}
	}
	total, cost := m.Total()
	if total != (session.Tokens{Input: 642, Output: 14, CacheRead: 10, CacheCreation: 12}) {
		t.Errorf("total %+v", total)
	}
	if wantCost := DefaultPrices()["haiku"].Cost(total); fmt.Sprintf("%.12f", cost) != fmt.Sprintf("%.12f", wantCost) {
		t.Errorf("cost %v, want %v", cost, wantCost)
	}
}

func TestMeterJSON(t *testing.T) {
	for _, tc := range []struct {
		name, path, body, ctype string
		status                  int
		want                    []session.Tokens
		model                   string
		meterError              bool
	}{
		{name: "non-stream message", path: "/v1/messages", status: 200, ctype: "application/json",
			body:  `{"id":"msg_1","type":"message","role":"assistant","model":"claude-opus-5-1","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":20,"cache_read_input_tokens":30,"cache_creation_input_tokens":40}}`,
			model: "claude-opus-5-1", want: []session.Tokens{{Input: 10, Output: 20, CacheRead: 30, CacheCreation: 40}}},
		{name: "count_tokens", path: "/v1/messages/count_tokens", status: 200, ctype: "application/json",
			body: `{"input_tokens":12}`},
		{name: "error", path: "/v1/messages", status: 400, ctype: "application/json",
			body: `{"type":"error","error":{"type":"invalid_request_error","message":"no"},"request_id":"req_1"}`},
		{name: "bad JSON", path: "/v1/messages", status: 200, ctype: "application/json; charset=utf-8",
			body: `{"usage":`, meterError: true},
		{name: "plain text", path: "/v1/messages", status: 502, ctype: "text/html", body: "<html>bad gateway</html>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &upstreamRecorder{status: tc.status, header: http.Header{"Content-Type": {tc.ctype}}, body: tc.body}
			up := httptest.NewServer(rec)
			defer up.Close()
			p, _ := newProxy(t, up.URL, nil)
			srv := serve(t, p)
			m := &testMeter{}
			tok, _ := p.Register(Session{ID: "s", Meter: m})
			resp := post(t, srv.URL, tc.path, tok, `{"model":"claude-sonnet-5-0","max_tokens":5}`, nil)
			if body := readAll(t, resp); body != tc.body || resp.StatusCode != tc.status {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			srv.Wait()
			calls := m.Calls()
			if len(calls) != len(tc.want) {
				t.Fatalf("usage calls %+v", calls)
			}
			for i, c := range calls {
				if c.Tokens != tc.want[i] || c.Model != tc.model {
					t.Errorf("call %d: %+v", i, c)
				}
			}
			if got := testutil.ToFloat64(p.metrics.meterErrors) > 0; got != tc.meterError {
				t.Errorf("metering error %v, want %v", got, tc.meterError)
			}
		})
	}
}

// TestMeterClientGone: a CLI killed mid-stream (and its session
// unregistered) is charged what was streamed before; the upstream request
// is cancelled.
func TestMeterClientGone(t *testing.T) {
	upstreamDone := make(chan bool, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte(start("claude-opus-5-0", 1000, 1, 50, 0) + text))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			upstreamDone <- true
		case <-time.After(10 * time.Second):
			upstreamDone <- false
			_, _ = w.Write([]byte(delta(`{"output_tokens":500}`)))
		}
	}))
	defer up.Close()
	p, _ := newProxy(t, up.URL, nil)
	handled := make(chan struct{})
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(w, r)
		close(handled)
	}))
	m := &testMeter{}
	tok, unregister := p.Register(Session{ID: "killed", Meter: m})
	resp := post(t, srv.URL, "/v1/messages?beta=true", tok, messagesBody, nil)
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, "text_delta") {
			break
		}
	}
	unregister()
	resp.Body.Close() // the CLI is killed
	select {
	case <-handled:
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not end the request")
	}
	if !<-upstreamDone {
		t.Error("the upstream request was not cancelled")
	}
	total, cost := m.Total()
	want := session.Tokens{Input: 1000, Output: 1, CacheRead: 50}
	if total != want || cost != DefaultPrices()["opus"].Cost(want) {
		t.Errorf("charged %+v %v, want %+v", total, cost, want)
	}
}

// TestMeterPanics: a broken Meter does not break the stream.
func TestMeterPanics(t *testing.T) {
	rec := &upstreamRecorder{header: http.Header{"Content-Type": {"text/event-stream"}}, body: sseFixture}
	up := httptest.NewServer(rec)
	defer up.Close()
	p, _ := newProxy(t, up.URL, nil)
	srv := serve(t, p)
	m := &testMeter{panicky: true}
	tok, _ := p.Register(Session{ID: "s", Meter: m})
	resp := post(t, srv.URL, "/v1/messages", tok, messagesBody, nil)
	if body := readAll(t, resp); body != sseFixture {
		t.Fatalf("body changed: %q", body)
	}
	srv.Wait()
	if len(m.Calls()) != 2 || testutil.ToFloat64(p.metrics.meterErrors) != 1 {
		t.Errorf("calls %d, metering errors %v", len(m.Calls()), testutil.ToFloat64(p.metrics.meterErrors))
	}
}

// TestConcurrentSessions runs sessions in parallel (for the race detector)
// and checks that each is charged its own usage.
func TestConcurrentSessions(t *testing.T) {
	up := fakeapi.Start(t, fakeapi.Sequence(fakeapi.Turn{Text: "ok", Usage: fakeapi.Usage{InputTokens: 10, OutputTokens: 3}}))
	p, _ := newProxy(t, up.URL(), nil)
	srv := serve(t, p)
	const sessions, requests = 4, 5
	meters := make([]*testMeter, sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		meters[i] = &testMeter{}
		tok, unregister := p.Register(Session{ID: fmt.Sprint("s", i), Meter: meters[i]})
		defer unregister()
		for range requests {
			wg.Go(func() {
				resp := post(t, srv.URL, "/v1/messages", tok, messagesBody, nil)
				readAll(t, resp)
			})
		}
	}
	wg.Wait()
	srv.Wait()
	for i, m := range meters {
		total, _ := m.Total()
		if total != (session.Tokens{Input: 10 * requests, Output: 3 * requests}) {
			t.Errorf("session %d: %+v", i, total)
		}
		for _, c := range m.Calls() {
			if c.Session != fmt.Sprint("s", i) {
				t.Errorf("session %d charged for %s", i, c.Session)
			}
		}
	}
}
