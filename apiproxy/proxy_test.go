package apiproxy

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/session"
)

// apiError is the Anthropic error body.
type apiError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

func decodeError(t *testing.T, body string) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Type != "error" || e.Error.Type == "" ||
		e.Error.Message == "" || !strings.HasPrefix(e.RequestID, "req_") {
		t.Fatalf("not an Anthropic error body (%v): %s", err, body)
	}
	return e
}

func TestAuth(t *testing.T) {
	up := fakeapi.Start(t, fakeapi.Sequence())
	p, _ := newProxy(t, up.URL(), nil)
	srv := serve(t, p)
	live, _ := p.Register(Session{ID: "live"})
	old, unregister := p.Register(Session{ID: "old"})
	unregister()
	unregister() // twice is fine

	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"no token", nil, 401},
		{"bad token", map[string]string{"X-Api-Key": strings.Repeat("ab", 32)}, 401},
		{"real key is no token", map[string]string{"X-Api-Key": realKey}, 401},
		{"token prefix", map[string]string{"X-Api-Key": live[:32]}, 401},
		{"old token after unregister", map[string]string{"X-Api-Key": old}, 401},
		{"old bearer after unregister", map[string]string{"Authorization": "Bearer " + old}, 401},
		{"x-api-key", map[string]string{"X-Api-Key": live}, 200},
		{"bearer", map[string]string{"Authorization": "Bearer " + live}, 200},
		{"bad x-api-key, good bearer", map[string]string{"X-Api-Key": "nope", "Authorization": "bearer " + live}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.Requests())
			resp := post(t, srv.URL, "/v1/messages?beta=true", "", messagesBody, tc.hdr)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			sent := len(up.Requests()) - before
			if tc.status == 401 {
				if e := decodeError(t, body); e.Error.Type != "authentication_error" {
					t.Errorf("error type %q", e.Error.Type)
				}
				if resp.Header.Get("X-Should-Retry") != "false" {
					t.Errorf("x-should-retry %q", resp.Header.Get("X-Should-Retry"))
				}
				if sent != 0 {
					t.Errorf("%d requests reached upstream", sent)
				}
			} else if sent != 1 {
				t.Errorf("%d requests reached upstream, want 1", sent)
			}
		})
	}
	if got := testutil.ToFloat64(p.metrics.refusals.WithLabelValues(ReasonAuth)); got != 6 {
		t.Errorf("auth refusals %v, want 6", got)
	}
	for _, r := range up.Requests() {
		if r.APIKey != realKey {
			t.Errorf("upstream got key %q", r.APIKey)
		}
	}
}

func TestUpstreamRequest(t *testing.T) {
	rec := &upstreamRecorder{header: http.Header{"Content-Type": {"application/json"}}, body: `{"input_tokens":12}`}
	up := httptest.NewServer(rec)
	defer up.Close()

	for _, tc := range []struct {
		name, upstream, path, wantPath, wantQuery string
		mut                                       func(*Config)
		wantKey, wantAuth                         string
	}{
		{name: "messages", upstream: up.URL, path: "/v1/messages?beta=true",
			wantPath: "/v1/messages", wantQuery: "beta=true", wantKey: realKey},
		{name: "count_tokens", upstream: up.URL + "/", path: "/v1/messages/count_tokens?beta=true",
			wantPath: "/v1/messages/count_tokens", wantQuery: "beta=true", wantKey: realKey},
		{name: "gateway prefix and bearer", upstream: up.URL + "/litellm/anthropic/?team=ops", path: "/v1/messages?beta=true",
			wantPath: "/litellm/anthropic/v1/messages", wantQuery: "team=ops&beta=true",
			mut: func(c *Config) {
				c.APIKey = ""
				c.UpstreamHeader = http.Header{"authorization": {"Bearer gw-secret"}}
			},
			wantAuth: "Bearer gw-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newProxy(t, tc.upstream, tc.mut)
			srv := serve(t, p)
			tok, _ := p.Register(Session{ID: "s"})
			before := len(rec.Requests())
			resp := post(t, srv.URL, tc.path, tok, messagesBody, map[string]string{
				"Anthropic-Version":          "2023-06-01",
				"Anthropic-Beta":             "claude-code-20250219,effort-2025-11-24",
				"User-Agent":                 "claude-cli/2.1.330 (external, sdk-cli)",
				"X-Stainless-Retry-Count":    "0",
				"X-Stainless-Timeout":        "600",
				"X-App":                      "cli",
				"X-Claude-Code-Session-Id":   "uuid-1",
				"Authorization":              "Bearer " + tok,
				"Cookie":                     "a=b",
				"Proxy-Authorization":        "Basic eA==",
				"Te":                         "trailers",
				"Connection":                 "X-Stainless-Drop-Me",
				"X-Stainless-Drop-Me":        "1",
				"X-Forwarded-For":            "10.0.0.1",
				"Anthropic-Dangerous-Direct": "true",
			})
			body := readAll(t, resp)
			if resp.StatusCode != 200 || body != `{"input_tokens":12}` {
				t.Fatalf("answer %d %s", resp.StatusCode, body)
			}
			reqs := rec.Requests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("%d upstream requests", len(reqs))
			}
			r := reqs[0]
			if r.Method != "POST" || r.Path != tc.wantPath || r.Query != tc.wantQuery || r.Body != messagesBody {
				t.Errorf("upstream got %s %s ? %s body %q", r.Method, r.Path, r.Query, r.Body)
			}
			if got := r.Header.Get("X-Api-Key"); got != tc.wantKey {
				t.Errorf("x-api-key %q, want %q", got, tc.wantKey)
			}
			if got := r.Header.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("authorization %q, want %q", got, tc.wantAuth)
			}
			for k, vs := range r.Header {
				for _, v := range vs {
					if strings.Contains(v, tok) {
						t.Errorf("session token reached upstream in %s", k)
					}
				}
			}
			for _, k := range []string{"Anthropic-Version", "Anthropic-Beta", "User-Agent", "X-Stainless-Retry-Count",
				"X-Stainless-Timeout", "X-App", "X-Claude-Code-Session-Id", "Content-Type", "Anthropic-Dangerous-Direct"} {
				if r.Header.Get(k) == "" {
					t.Errorf("%s not passed on", k)
				}
			}
			if r.Header.Get("Anthropic-Beta") != "claude-code-20250219,effort-2025-11-24" {
				t.Errorf("anthropic-beta %q", r.Header.Get("Anthropic-Beta"))
			}
			for _, k := range []string{"Cookie", "Proxy-Authorization", "Te", "X-Stainless-Drop-Me", "X-Forwarded-For"} {
				if v := r.Header.Get(k); v != "" {
					t.Errorf("%s passed on: %q", k, v)
				}
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	rec := &upstreamRecorder{}
	up := httptest.NewServer(rec)
	defer up.Close()
	p, _ := newProxy(t, up.URL, nil)
	srv := serve(t, p)
	tok, _ := p.Register(Session{ID: "s"})
	for _, tc := range []struct {
		method, path string
		key          string
		status       int
	}{
		{"HEAD", "/api/hello", "", 200},
		{"HEAD", "/api/hello", tok, 200},
		{"GET", "/api/hello", tok, 404},
		{"GET", "/v1/messages", tok, 404},
		{"GET", "/v1/models", tok, 404},
		{"POST", "/v1/complete", tok, 404},
		{"POST", "/v1/messages/batches", tok, 404},
		{"POST", "/v1/files", tok, 404},
		{"POST", "/api/event_logging/v2/batch", tok, 404},
		{"POST", "/v1/messages/", tok, 404},
		{"POST", "/", "", 404},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("{}"))
		if tc.key != "" {
			req.Header.Set("X-Api-Key", tc.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if tc.status == 404 {
			if e := decodeError(t, body); e.Error.Type != "not_found_error" {
				t.Errorf("%s %s: error type %q", tc.method, tc.path, e.Error.Type)
			}
		}
	}
	if n := len(rec.Requests()); n != 0 {
		t.Errorf("%d requests reached upstream", n)
	}
}

// sseFixture is a stream as the real API sends it, with pings, a comment and
// a message_delta that repeats the (cumulative) input and cache counts.
const sseFixture = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-5-0","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1200,"cache_creation_input_tokens":300,"cache_read_input_tokens":4000,"output_tokens":2,"service_tier":"standard"}}}` + "\n\n" +
	": a comment\n\n" +
	"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
	"event: content_block_start\n" +
	`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello – ünïcode"}}` + "\n\n" +
	"event: content_block_stop\n" +
	`data: {"type":"content_block_stop","index":0}` + "\n\n" +
	"event: message_delta\n" +
	`data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":1200,"cache_creation_input_tokens":300,"cache_read_input_tokens":4000,"output_tokens":57}}` + "\n\n" +
	"event: message_stop\n" +
	`data: {"type":"message_stop"}` + "\n\n"

func TestStreamUnchanged(t *testing.T) {
	rec := &upstreamRecorder{
		header: http.Header{
			"Content-Type":                           {"text/event-stream; charset=utf-8"},
			"Cache-Control":                          {"no-cache"},
			"Request-Id":                             {"req_upstream_1"},
			"Anthropic-Ratelimit-Requests-Remaining": {"49"},
			"Keep-Alive":                             {"timeout=5"},
		},
		body: sseFixture,
	}
	up := httptest.NewServer(rec)
	defer up.Close()
	m := &testMeter{}
	p, _ := newProxy(t, up.URL, nil)
	srv := serve(t, p)
	tok, _ := p.Register(Session{ID: "s1", Tier: session.Tier2, Meter: m})

	resp := post(t, srv.URL, "/v1/messages?beta=true", tok, messagesBody, nil)
	body := readAll(t, resp)
	if resp.StatusCode != 200 || body != sseFixture {
		t.Fatalf("status %d, body differs:\n%q\nwant\n%q", resp.StatusCode, body, sseFixture)
	}
	for k, want := range map[string]string{
		"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
		"Request-Id": "req_upstream_1", "Anthropic-Ratelimit-Requests-Remaining": "49", "Keep-Alive": "",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("header %s %q, want %q", k, got, want)
		}
	}
	// message_start, then message_delta adds only the new output tokens.
	srv.Wait()
	calls := m.Calls()
	want := []session.Tokens{{Input: 1200, Output: 2, CacheRead: 4000, CacheCreation: 300}, {Output: 55}}
	if len(calls) != len(want) {
		t.Fatalf("usage calls %+v", calls)
	}
	sonnet := DefaultPrices()["sonnet"]
	for i, c := range calls {
		if c.Session != "s1" || c.Model != "claude-sonnet-5-0" || c.Tokens != want[i] || c.Cost != sonnet.Cost(want[i]) {
			t.Errorf("call %d: %+v, want %+v", i, c, want[i])
		}
	}
}

func TestStatusPassedOn(t *testing.T) {
	up := fakeapi.Start(t, fakeapi.Sequence(fakeapi.Turn{Status: 529}))
	m := &testMeter{}
	p, _ := newProxy(t, up.URL(), nil)
	srv := serve(t, p)
	tok, _ := p.Register(Session{ID: "s", Meter: m})
	resp := post(t, srv.URL, "/v1/messages?beta=true", tok, messagesBody, nil)
	body := readAll(t, resp)
	if resp.StatusCode != 529 || decodeError(t, body).Error.Type != "overloaded_error" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	srv.Wait()
	if resp.Header.Get("X-Should-Retry") != "" {
		t.Errorf("the proxy added x-should-retry to an upstream answer")
	}
	if len(m.Calls()) != 0 || testutil.ToFloat64(p.metrics.meterErrors) != 0 {
		t.Errorf("an error was metered: %+v", m.Calls())
	}
	if got := testutil.ToFloat64(p.metrics.requests.WithLabelValues("529")); got != 1 {
		t.Errorf("requests{code=529} %v", got)
	}
}

// TestFlushes checks that each event reaches the CLI while upstream is still
// streaming, not when it is done.
func TestFlushes(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("event: ping\ndata: {\"type\":\"ping\"}\n\n"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(release)
	p, _ := newProxy(t, up.URL, nil)
	srv := serve(t, p)
	tok, _ := p.Register(Session{ID: "s"})
	resp := post(t, srv.URL, "/v1/messages", tok, messagesBody, nil)
	defer resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "event: ping\n" {
			t.Errorf("first line %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event was held back")
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxRequests int
		meter       *testMeter
		reason      string
		wantSent    int
		wantMessage string
	}{
		{name: "budget on the first request", meter: &testMeter{refuse: errBudget},
			reason: ReasonBudget, wantSent: 0, wantMessage: "budget exhausted: spent 2.01 of 2.00 USD"},
		{name: "budget on the third request", meter: &testMeter{refuse: errBudget, refuseN: 3},
			reason: ReasonBudget, wantSent: 2, wantMessage: "budget exhausted"},
		{name: "runaway", maxRequests: 2, meter: &testMeter{},
			reason: ReasonRunaway, wantSent: 2, wantMessage: "more than 2 API requests"},
		{name: "runaway without meter", maxRequests: 2,
			reason: ReasonRunaway, wantSent: 2, wantMessage: "runaway guard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := fakeapi.Start(t, fakeapi.Sequence())
			p, _ := newProxy(t, up.URL(), func(c *Config) { c.MaxRequestsPerSession = tc.maxRequests })
			srv := serve(t, p)
			s := Session{ID: "s"}
			if tc.meter != nil {
				s.Meter = tc.meter
			}
			tok, _ := p.Register(s)
			other, _ := p.Register(Session{ID: "other"})
			var last *http.Response
			var body string
			for range tc.wantSent + 1 {
				last = post(t, srv.URL, "/v1/messages?beta=true", tok, messagesBody, nil)
				body = readAll(t, last)
			}
			if last.StatusCode != http.StatusPaymentRequired {
				t.Fatalf("status %d: %s", last.StatusCode, body)
			}
			e := decodeError(t, body)
			if e.Error.Type != "billing_error" || !strings.Contains(e.Error.Message, tc.wantMessage) {
				t.Errorf("error %+v", e.Error)
			}
			if last.Header.Get("X-Should-Retry") != "false" || last.Header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", last.Header)
			}
			if n := len(up.Requests()); n != tc.wantSent {
				t.Errorf("%d requests reached upstream, want %d", n, tc.wantSent)
			}
			if got := testutil.ToFloat64(p.metrics.refusals.WithLabelValues(tc.reason)); got != 1 {
				t.Errorf("refusals{%s} %v", tc.reason, got)
			}
			// Another session is not affected.
			if resp := post(t, srv.URL, "/v1/messages", other, messagesBody, nil); resp.StatusCode != 200 {
				t.Errorf("other session: %d", resp.StatusCode)
			} else {
				readAll(t, resp)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	rec := &upstreamRecorder{}
	up := httptest.NewServer(rec)
	defer up.Close()
	p, _ := newProxy(t, up.URL, func(c *Config) { c.MaxRequestBytes = 1000 })
	srv := serve(t, p)
	tok, _ := p.Register(Session{ID: "s"})
	resp := post(t, srv.URL, "/v1/messages", tok, `{"model":"x","pad":"`+strings.Repeat("a", 2000)+`"}`, nil)
	body := readAll(t, resp)
	if resp.StatusCode != 413 || decodeError(t, body).Error.Type != "request_too_large" {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	resp = post(t, srv.URL, "/v1/messages", tok, messagesBody, nil)
	readAll(t, resp)
	if resp.StatusCode != 200 || len(rec.Requests()) != 1 {
		t.Errorf("small body: %d, %d upstream requests", resp.StatusCode, len(rec.Requests()))
	}
}

func TestUpstreamDown(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	addr := up.URL
	up.Close()
	p, _ := newProxy(t, addr, nil)
	srv := serve(t, p)
	tok, _ := p.Register(Session{ID: "s"})
	resp := post(t, srv.URL, "/v1/messages", tok, messagesBody, nil)
	body := readAll(t, resp)
	if resp.StatusCode != 502 || decodeError(t, body).Error.Type != "api_error" || resp.Header.Get("X-Should-Retry") != "" {
		t.Errorf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
}

func TestNewErrors(t *testing.T) {
	for _, u := range []string{"ftp://x", "/relative", "http://user:pw@host"} {
		up, _ := url.Parse(u)
		if _, err := New(Config{Upstream: up}); err == nil {
			t.Errorf("New accepted upstream %q", u)
		}
	}
	if _, err := New(Config{MaxRequestsPerSession: -1}); err == nil {
		t.Error("New accepted a negative limit")
	}
	p, err := New(Config{})
	in, _ := url.Parse("/v1/messages?beta=true")
	if err != nil || p.target(in) != "https://api.anthropic.com/v1/messages?beta=true" {
		t.Errorf("default upstream: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	up := fakeapi.Start(t, fakeapi.Sequence())
	p, reg := newProxy(t, up.URL(), func(c *Config) { c.MaxRequestsPerSession = 1 })
	srv := serve(t, p)
	tok, _ := p.Register(Session{ID: "s"})
	for _, key := range []string{tok, tok, "bad"} {
		readAll(t, post(t, srv.URL, "/v1/messages", key, messagesBody, nil))
	}
	srv.Wait()
	const want = `
# HELP claudeops_proxy_refusals_total Requests refused without going upstream, by reason (auth, budget, runaway).
# TYPE claudeops_proxy_refusals_total counter
claudeops_proxy_refusals_total{reason="auth"} 1
claudeops_proxy_refusals_total{reason="budget"} 0
claudeops_proxy_refusals_total{reason="runaway"} 1
# HELP claudeops_proxy_requests_total Requests the Messages API proxy answered, by HTTP status code sent to the CLI.
# TYPE claudeops_proxy_requests_total counter
claudeops_proxy_requests_total{code="200"} 1
claudeops_proxy_requests_total{code="400"} 0
claudeops_proxy_requests_total{code="401"} 1
claudeops_proxy_requests_total{code="402"} 1
claudeops_proxy_requests_total{code="413"} 0
claudeops_proxy_requests_total{code="502"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"claudeops_proxy_refusals_total", "claudeops_proxy_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "claudeops_proxy_request_duration_seconds", "claudeops_proxy_first_byte_seconds",
		"claudeops_proxy_metering_errors_total"); n != 3 {
		t.Errorf("%d series", n)
	}
}
