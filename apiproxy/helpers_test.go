package apiproxy

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/session"
)

const realKey = "sk-ant-real-key-0123456789"

// usageCall is one Meter.Usage call.
type usageCall struct {
	Session, Model string
	Tokens         session.Tokens
	Cost           float64
}

// testMeter records usage; Allow returns refuse when set.
type testMeter struct {
	mu      sync.Mutex
	calls   []usageCall
	allows  int
	refuse  error
	refuseN int // refuse from the refuseN-th Allow on (1-based); 0 = always when refuse is set
	panicky bool
}

func (m *testMeter) Usage(id, model string, u session.Tokens, cost float64) {
	m.mu.Lock()
	m.calls = append(m.calls, usageCall{id, model, u, cost})
	m.mu.Unlock()
	if m.panicky {
		panic("meter broke")
	}
}

func (m *testMeter) Allow(string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.allows++
	if m.refuse != nil && m.allows >= m.refuseN {
		return m.refuse
	}
	return nil
}

func (m *testMeter) Allows() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.allows
}

func (m *testMeter) Calls() []usageCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]usageCall(nil), m.calls...)
}

// Total sums the usage calls.
func (m *testMeter) Total() (session.Tokens, float64) {
	var t session.Tokens
	var c float64
	for _, u := range m.Calls() {
		t.Input += u.Tokens.Input
		t.Output += u.Tokens.Output
		t.CacheRead += u.Tokens.CacheRead
		t.CacheCreation += u.Tokens.CacheCreation
		c += u.Cost
	}
	return t, c
}

var errBudget = errors.New("spent 2.01 of 2.00 USD")

// newProxy is a proxy to upstream with its own registry.
func newProxy(t testing.TB, upstream string, mut func(*Config)) (*Proxy, *prometheus.Registry) {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := Config{Upstream: u, APIKey: realKey, Registerer: reg, Logger: testLogger(t)}
	if mut != nil {
		mut(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, reg
}

func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// testServer serves the proxy. Wait waits until the requests it began
// have ended: a client can have the whole body (its length was known) before
// the proxy is done metering it.
type testServer struct {
	*httptest.Server
	wg sync.WaitGroup
}

func (s *testServer) Wait() { s.wg.Wait() }

// serve starts the proxy on a test server.
func serve(t testing.TB, p http.Handler) *testServer {
	t.Helper()
	s := &testServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.wg.Add(1)
		defer s.wg.Done()
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// upstreamRecorder is an upstream that records the requests it gets and
// answers with a fixed status, headers and body.
type upstreamRecorder struct {
	mu     sync.Mutex
	reqs   []recorded
	status int
	header http.Header
	body   string
}

type recorded struct {
	Method, Path, Query, Host string
	Header                    http.Header
	Body                      string
}

func (u *upstreamRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.reqs = append(u.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Clone(), string(b)})
	u.mu.Unlock()
	for k, vs := range u.header {
		w.Header()[k] = vs
	}
	status := u.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, u.body)
}

func (u *upstreamRecorder) Requests() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recorded(nil), u.reqs...)
}

// post sends body to the proxy with key as x-api-key (none when empty).
func post(t testing.TB, base, path, key, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const messagesBody = `{"model":"claude-haiku-5-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
