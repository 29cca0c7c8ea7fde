package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

type fakeStore struct {
	mu   sync.Mutex
	recs map[string]session.Record
	opts store.ListOptions
}

func (f *fakeStore) GetSession(_ context.Context, id string) (session.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.recs[id]
	if !ok {
		return r, fmt.Errorf("session %q: %w", id, store.ErrNotFound)
	}
	return r, nil
}

func (f *fakeStore) ListSessions(_ context.Context, o store.ListOptions) ([]session.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts = o
	var out []session.Record
	for _, r := range f.recs {
		if o.Tier == 0 || r.Tier == o.Tier {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeStore) put(r session.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs[r.ID] = r
}

type fakeLive struct {
	mu   sync.Mutex
	recs map[string]session.Record
	done map[string]chan struct{}
}

func (f *fakeLive) Get(id string) (session.Record, <-chan struct{}, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.recs[id]
	return r, f.done[id], ok
}

func (f *fakeLive) end(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.recs, id)
	close(f.done[id])
}

type fixture struct {
	srv      *httptest.Server
	store    *fakeStore
	live     *fakeLive
	dir      string
	triggers int
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{
		store: &fakeStore{recs: map[string]session.Record{}},
		live:  &fakeLive{recs: map[string]session.Record{}, done: map[string]chan struct{}{}},
		dir:   t.TempDir(),
	}
	var mu sync.Mutex
	running := ""
	a := &API{
		Trigger: func() (string, bool) {
			mu.Lock()
			defer mu.Unlock()
			f.triggers++
			if running != "" {
				return running, false
			}
			running = "s-new"
			return running, true
		},
		Store: f.store, Live: f.live, ResultsDir: f.dir,
		Cooldowns:  func(context.Context) (any, error) { return map[string]any{"cooldowns": map[string]any{}}, nil },
		Incidents:  func(context.Context) (any, error) { return nil, fmt.Errorf("boom") },
		Status:     func() any { return map[string]string{"version": "test"} },
		Logger:     slog.New(slog.DiscardHandler),
		FollowPoll: 10 * time.Millisecond,
	}
	mux := http.NewServeMux()
	a.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRuns(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, body string
		code       int
		want       string
	}{
		{"tier 1 starts a run", `{"tier":1}`, 202, `"id":"s-new","started":true`},
		{"a run during a run names it", `{"tier":1}`, 202, `"id":"s-new","started":false`},
		{"an empty body means tier 1", ``, 202, `"id":"s-new"`},
		{"tier 2 by hand is refused", `{"tier":2}`, 400, "tiers 2 and 3 start from alerts"},
		{"tier 9", `{"tier":9}`, 400, "only tier 1"},
		{"not JSON", `{"tier":`, 400, "invalid request body"},
		{"unknown field", `{"tier":1,"rm":"-rf"}`, 400, "unknown field"},
		{"tier as a string", `{"tier":"1"}`, 400, "invalid request body"},
		{"a body over the limit", `{"tier":1,"x":"` + strings.Repeat("a", 5000) + `"}`, 400, "invalid request body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, http.MethodPost, f.srv.URL+"/api/v1/runs", tt.body)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("POST %s = %d %q, want %d containing %q", tt.body, code, body, tt.code, tt.want)
			}
			if code >= 400 && strings.Count(strings.TrimSpace(body), "\n") != 0 {
				t.Errorf("reason is not one line: %q", body)
			}
		})
	}
	if f.triggers != 3 {
		t.Errorf("Trigger called %d times, want 3 (bad requests change nothing)", f.triggers)
	}
	if code, _ := do(t, http.MethodGet, f.srv.URL+"/api/v1/runs", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/v1/runs = %d, want 405", code)
	}
}

func TestSessions(t *testing.T) {
	f := newFixture(t)
	f.store.put(session.Record{ID: "a", Tier: 1, Outcome: session.OutcomeHealthy})
	f.store.put(session.Record{ID: "b", Tier: 2, Outcome: session.OutcomeRemediated})
	writeLines(t, filepath.Join(f.dir, "a.jsonl"), `{"type":"system"}`, `{"type":"result"}`)

	code, body := do(t, http.MethodGet, f.srv.URL+"/api/v1/sessions?tier=2&limit=5", "")
	var list struct{ Sessions []session.Record }
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Sessions) != 1 || list.Sessions[0].ID != "b" {
		t.Fatalf("GET sessions?tier=2 = %d %s", code, body)
	}
	if f.store.opts.Limit != 5 || f.store.opts.Tier != 2 {
		t.Errorf("store asked with %+v, want limit 5 tier 2", f.store.opts)
	}
	for _, q := range []string{"tier=4", "tier=x", "limit=0", "limit=100000"} {
		if code, _ := do(t, http.MethodGet, f.srv.URL+"/api/v1/sessions?"+q, ""); code != 400 {
			t.Errorf("GET sessions?%s = %d, want 400", q, code)
		}
	}

	code, body = do(t, http.MethodGet, f.srv.URL+"/api/v1/sessions/a", "")
	var one struct {
		Session    session.Record
		Transcript []json.RawMessage
	}
	if code != 200 || json.Unmarshal([]byte(body), &one) != nil || one.Session.ID != "a" || len(one.Transcript) != 2 {
		t.Fatalf("GET sessions/a = %d %s", code, body)
	}
	if code, _ := do(t, http.MethodGet, f.srv.URL+"/api/v1/sessions/nope", ""); code != 404 {
		t.Errorf("unknown session = %d, want 404", code)
	}
	for _, id := range []string{"..%2F..%2Fetc%2Fpasswd", ".hidden", "a%20b"} {
		if code, _ := do(t, http.MethodGet, f.srv.URL+"/api/v1/sessions/"+id, ""); code != 400 && code != 404 {
			t.Errorf("session id %q = %d, want 400", id, code)
		}
	}
}

func TestFollowStreamsARunningSession(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.dir, "run.jsonl")
	writeLines(t, path, `{"type":"system","n":1}`)
	f.live.recs["run"] = session.Record{ID: "run", Tier: 1, Outcome: session.OutcomeRunning}
	f.live.done["run"] = make(chan struct{})

	resp, err := http.Get(f.srv.URL + "/api/v1/sessions/run?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stream ended early: %v", lines.Err())
		}
		return lines.Text()
	}
	if l := next(); l != `{"type":"system","n":1}` {
		t.Fatalf("first line %q", l)
	}
	// A line written while following arrives, a partial one only once whole.
	appendTo(t, path, `{"type":"assistant","n":2}`+"\n"+`{"type":"user",`)
	if l := next(); l != `{"type":"assistant","n":2}` {
		t.Fatalf("second line %q", l)
	}
	appendTo(t, path, `"n":3}`+"\n")
	if l := next(); l != `{"type":"user","n":3}` {
		t.Fatalf("third line %q", l)
	}
	// The end: the final record closes the stream.
	f.store.put(session.Record{ID: "run", Tier: 1, Outcome: session.OutcomeHealthy})
	f.live.end("run")
	var last struct {
		Type    string
		Session session.Record
	}
	if err := json.Unmarshal([]byte(next()), &last); err != nil || last.Type != "claudeops_session" || last.Session.Outcome != session.OutcomeHealthy {
		t.Fatalf("last line: %+v %v", last, err)
	}
	if lines.Scan() {
		t.Errorf("stream goes on after the record: %q", lines.Text())
	}
}

func TestViews(t *testing.T) {
	f := newFixture(t)
	if code, body := do(t, http.MethodGet, f.srv.URL+"/api/v1/status", ""); code != 200 || !strings.Contains(body, `"version":"test"`) {
		t.Errorf("status = %d %s", code, body)
	}
	if code, body := do(t, http.MethodGet, f.srv.URL+"/api/v1/incidents", ""); code != 500 || strings.Contains(body, "boom") {
		t.Errorf("a failing view = %d %q, want 500 without the internal error", code, body)
	}
}

func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}
