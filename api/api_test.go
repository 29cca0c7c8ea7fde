package api

import (
	"bufio"
	"context"
	"encoding/json"
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

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

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

func (f *fakeLive) start(r session.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs[r.ID] = r
	f.done[r.ID] = make(chan struct{})
}

func (f *fakeLive) addAction(id string, a session.Action) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.recs[id]
	r.Actions = append(r.Actions, a)
	f.recs[id] = r
}

// end ends a running session: its final record is stored first, as the
// session manager does.
func (f *fakeLive) end(t *testing.T, st *store.Store, r session.Record) {
	t.Helper()
	if err := st.SaveSession(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.recs, r.ID)
	close(f.done[r.ID])
}

type fixture struct {
	srv      *httptest.Server
	api      *API
	st       *store.Store
	live     *fakeLive
	dir      string
	mu       sync.Mutex
	triggers int
	open     []remediator.Incident
}

// t0 is the fixture's now.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, opts ...func(*API)) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{
		st:   st,
		live: &fakeLive{recs: map[string]session.Record{}, done: map[string]chan struct{}{}},
		dir:  t.TempDir(),
	}
	running := ""
	f.api = &API{
		Trigger: func() (string, bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.triggers++
			if running != "" {
				return running, false
			}
			running = "s-new"
			return running, true
		},
		Store: st, Live: f.live, ResultsDir: f.dir,
		Cooldowns: func(context.Context) (any, error) { return map[string]any{"cooldowns": map[string]any{}}, nil },
		Actions:   func(context.Context) (any, error) { return map[string]any{"actions": []any{}}, nil },
		Incidents: func() []remediator.Incident {
			f.mu.Lock()
			defer f.mu.Unlock()
			return append([]remediator.Incident(nil), f.open...)
		},
		Status:     func() any { return map[string]string{"version": "test"} },
		Limits:     map[string]Limit{"restart": {Max: 2, Window: 4 * time.Hour}, "redeploy": {Max: 1, Window: 24 * time.Hour}},
		Logger:     slog.New(slog.DiscardHandler),
		FollowPoll: 10 * time.Millisecond,
		Now:        func() time.Time { return t0 },
		Landing:    web.LandingConfig{Name: "Claude Ops", Description: "test", Version: "test"},
	}
	for _, o := range opts {
		o(f.api)
	}
	mux := http.NewServeMux()
	if err := f.api.Register(mux); err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "up 1\n") })
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) save(t *testing.T, recs ...session.Record) {
	t.Helper()
	for _, r := range recs {
		if err := f.st.SaveSession(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) incident(t *testing.T, in remediator.Incident) {
	t.Helper()
	data, _ := json.Marshal(in)
	if err := f.st.SaveIncident(context.Background(), store.Incident{ID: in.ID, Service: in.Service, State: string(in.State),
		Opened: in.Opened, Updated: in.Updated, Closed: in.Closed, Data: data}); err != nil {
		t.Fatal(err)
	}
	if in.Closed.IsZero() {
		f.mu.Lock()
		f.open = append(f.open, in)
		f.mu.Unlock()
	}
}

func do(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	code, _, b := doFull(t, method, url, body, header...)
	return code, b
}

// doFull sends a request; header is name, value pairs.
func doFull(t *testing.T, method, url, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestRuns(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, body string
		code       int
		want       string
	}{
		{"tier 1 starts a run", `{"tier":1}`, 202, `"id":"s-new","page":"/sessions/s-new","started":true`},
		{"a run during a run names it", `{"tier":1}`, 202, `"id":"s-new","page":"/sessions/s-new","started":false`},
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
	f.save(t,
		session.Record{ID: "a", Tier: 1, Trigger: session.TriggerSchedule, Outcome: session.OutcomeHealthy, Start: t0.Add(-time.Hour), Duration: 1500 * time.Millisecond},
		session.Record{ID: "b", Tier: 2, Trigger: session.TriggerAlert, IncidentID: "in-web", Outcome: session.OutcomeRemediated, Start: t0.Add(-time.Minute)},
		session.Record{ID: "c", Tier: 2, Trigger: session.TriggerAlert, IncidentID: "in-db", Outcome: session.OutcomeNotFixed, Start: t0},
	)
	f.incident(t, remediator.Incident{ID: "in-web", Service: "web", State: remediator.StateClosed, Opened: t0, Updated: t0, Closed: t0})
	f.incident(t, remediator.Incident{ID: "in-db", Service: "db", State: remediator.StateClosed, Opened: t0, Updated: t0, Closed: t0})
	writeLines(t, filepath.Join(f.dir, "a.jsonl"), `{"type":"system"}`, `{"type":"result"}`)

	var list struct{ Sessions []map[string]any }
	get := func(q string) {
		t.Helper()
		code, body := do(t, http.MethodGet, f.srv.URL+"/api/v1/sessions"+q, "")
		list.Sessions = nil
		if code != 200 || json.Unmarshal([]byte(body), &list) != nil {
			t.Fatalf("GET sessions%s = %d %s", q, code, body)
		}
	}
	idsOf := func() string {
		var ids []string
		for _, s := range list.Sessions {
			ids = append(ids, s["id"].(string))
		}
		return strings.Join(ids, ",")
	}
	get("?tier=2&limit=5")
	if idsOf() != "c,b" {
		t.Errorf("tier 2: %s", idsOf())
	}
	get("?service=web")
	if idsOf() != "b" {
		t.Errorf("?service=web: %s, want b", idsOf())
	}
	get("?tier=1")
	if d, ok := list.Sessions[0]["duration_seconds"].(float64); !ok || d != 1.5 {
		t.Errorf("duration_seconds = %v, want 1.5", list.Sessions[0]["duration_seconds"])
	}
	if _, ok := list.Sessions[0]["duration_ns"]; ok {
		t.Errorf("duration_ns is still served: %v", list.Sessions[0])
	}
	for _, q := range []string{"tier=4", "tier=x", "limit=0", "limit=100000"} {
		if code, _ := do(t, http.MethodGet, f.srv.URL+"/api/v1/sessions?"+q, ""); code != 400 {
			t.Errorf("GET sessions?%s = %d, want 400", q, code)
		}
	}

	code, body := do(t, http.MethodGet, f.srv.URL+"/api/v1/sessions/a", "")
	var one struct {
		Session    map[string]any
		Transcript []json.RawMessage
	}
	if code != 200 || json.Unmarshal([]byte(body), &one) != nil || one.Session["id"] != "a" || len(one.Transcript) != 2 ||
		one.Session["duration_seconds"] != 1.5 {
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

// scriptedTranscript is what a Tier 2 session's transcript holds: the
// daemon's start line, the CLI's stream-json, and its end line.
var scriptedTranscript = []string{
	`{"type":"claudeops","event":"start","id":"run","tier":2,"model":"sonnet","trigger":"alert","incident_id":"in-web"}`,
	`{"type":"system","subtype":"init","session_id":"cli-1","tools":["Bash"]}`,
	`{"type":"assistant","message":{"content":[{"type":"text","text":"web answers 502; <script>alert(1)</script> restarting it."},{"type":"tool_use","id":"tu1","name":"mcp__ops__restart_service","input":{"service":"web"}}]}}`,
	`{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"tu1","content":[{"type":"text","text":"restarted web, verified by the engine"}]}]}}`,
	`{"type":"assistant","message":{"content":[{"type":"tool_use","id":"tu2","name":"Bash","input":{"command":"docker rm -f web"}}]}}`,
	`{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"tu2","is_error":true,"content":"refused: [REDACTED] may not change anything"}]}}`,
	`{"type":"result","subtype":"success","num_turns":3,"result":"Restarted web.","total_cost_usd":0.01,"structured_output":{"summary":"restarted web","outcome":"fixed","actions":[],"findings":"pool"}}`,
	`{"type":"claudeops","event":"end","record":{"id":"run"}}`,
}

var (
	restartDone = session.Action{Time: t0, Service: "web", Action: "restart", Result: "done", Stage: "verify", Target: "web", Tier: 2,
		Reason: "restarted web, verified by the engine"}
	rmRefused = session.Action{Time: t0, Service: "web", Action: "other", Result: "refused_never", Stage: "gate", Tier: 2,
		Command: "docker rm -f web", Reason: "docker rm is never allowed"}
)

func kinds(evs []Event) string {
	var k []string
	for _, e := range evs {
		k = append(k, e.Kind)
	}
	return strings.Join(k, ",")
}

func TestReaderPlacesDecisions(t *testing.T) {
	rd := newReader(func() []session.Action { return []session.Action{restartDone, rmRefused} })
	var evs []Event
	for _, l := range scriptedTranscript {
		evs = append(evs, rd.line([]byte(l))...)
	}
	rec := session.Record{ID: "run", Outcome: session.OutcomeRemediated, Actions: []session.Action{restartDone, rmRefused}}
	evs = append(evs, rd.finish(rec, Record{Record: rec})...)
	want := "start,text,tool_call,tool_result,action,tool_call,tool_result,action,result,outcome"
	if got := kinds(evs); got != want {
		t.Fatalf("kinds %s\nwant  %s", got, want)
	}
	if a := evs[4].Action; a == nil || a.Action != "restart" || a.Result != "done" {
		t.Errorf("the restart's decision: %+v", a)
	}
	if a := evs[7].Action; a == nil || a.Stage != "gate" || a.Command != "docker rm -f web" {
		t.Errorf("the gate's decision: %+v", a)
	}
	if evs[2].Tool != "mcp__ops__restart_service" || evs[2].Input != `{"service":"web"}` || evs[3].Text != "restarted web, verified by the engine" {
		t.Errorf("call and result: %+v %+v", evs[2], evs[3])
	}
	for i, e := range evs {
		if e.Seq != i+1 {
			t.Errorf("event %d has seq %d", i, e.Seq)
		}
	}
}

func TestFollowStreamsReadableEvents(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.dir, "run.jsonl")
	writeLines(t, path, scriptedTranscript[:2]...)
	rec := session.Record{ID: "run", Tier: 2, Trigger: session.TriggerAlert, Outcome: session.OutcomeRunning, Start: t0}
	f.save(t, rec)
	f.live.start(rec)

	resp, err := http.Get(f.srv.URL + "/api/v1/sessions/run?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() Event {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stream ended early: %v", lines.Err())
		}
		var e Event
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("%q: %v", lines.Text(), err)
		}
		return e
	}
	if e := next(); e.Kind != "start" || e.Tier != 2 {
		t.Fatalf("first event %+v", e)
	}
	// Lines written while following arrive; the typed action's decision
	// follows its result; a partial line only once whole.
	f.live.addAction("run", restartDone)
	appendTo(t, path, strings.Join(scriptedTranscript[2:4], "\n")+"\n"+scriptedTranscript[4][:20])
	for _, want := range []string{"text", "tool_call", "tool_result", "action"} {
		if e := next(); e.Kind != want {
			t.Fatalf("event %+v, want %s", e, want)
		} else if want == "action" && (e.Action == nil || e.Action.Result != "done") {
			t.Fatalf("action %+v", e.Action)
		}
	}
	appendTo(t, path, scriptedTranscript[4][20:]+"\n")
	if e := next(); e.Kind != "tool_call" || e.Tool != "Bash" {
		t.Fatalf("event %+v, want the Bash call", e)
	}
	// The end: the outcome with the final record closes the stream.
	f.live.addAction("run", rmRefused)
	appendTo(t, path, strings.Join(scriptedTranscript[5:], "\n")+"\n")
	final := rec
	final.Outcome, final.End, final.Duration = session.OutcomeRemediated, t0.Add(90*time.Second), 90*time.Second
	final.Actions = []session.Action{restartDone, rmRefused}
	f.live.end(t, f.st, final)
	for _, want := range []string{"tool_result", "action", "result"} {
		if e := next(); e.Kind != want {
			t.Fatalf("event %+v, want %s", e, want)
		}
	}
	last := next()
	if last.Kind != "outcome" || last.Outcome != session.OutcomeRemediated || last.Session == nil || last.Session.DurationSeconds != 90 {
		t.Fatalf("last event: %+v", last)
	}
	if lines.Scan() {
		t.Errorf("stream goes on after the outcome: %q", lines.Text())
	}
}

func TestSessionPage(t *testing.T) {
	f := newFixture(t)
	writeLines(t, filepath.Join(f.dir, "run.jsonl"), scriptedTranscript...)
	f.save(t, session.Record{ID: "run", Tier: 2, Model: "sonnet", Trigger: session.TriggerAlert, IncidentID: "in-web", Start: t0,
		Duration: 90 * time.Second, Outcome: session.OutcomeRemediated, CostUSD: 0.0123, Actions: []session.Action{restartDone, rmRefused}})
	f.incident(t, remediator.Incident{ID: "in-web", Service: "web", State: remediator.StateClosed, Opened: t0, Updated: t0, Closed: t0})
	code, h, body := doFull(t, http.MethodGet, f.srv.URL+"/sessions/run", "")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /sessions/run = %d %s", code, body)
	}
	for _, want := range []string{
		"Session run", "web answers 502; &lt;script&gt;alert(1)&lt;/script&gt; restarting it.", // escaped
		"mcp__ops__restart_service", "restarted web, verified by the engine",
		`<span class="tag done">restart done</span>`, "stage <b>verify</b>",
		`<span class="tag refused_never">other refused_never</span>`, "docker rm is never allowed",
		"[REDACTED]", // as the transcript was written
		`<span class="tag remediated">remediated</span>`, "1m30s", "$0.0123", "service web",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert(1)") || strings.Contains(body, "EventSource") {
		t.Errorf("an ended session's page has a script:\n%s", body)
	}
	if code, _ := do(t, http.MethodGet, f.srv.URL+"/sessions/nope", ""); code != 404 {
		t.Errorf("unknown session page = %d", code)
	}

	// The sessions page lists it with a link to the page.
	code, body = do(t, http.MethodGet, f.srv.URL+"/sessions", "")
	if code != 200 || !strings.Contains(body, `<a href="/sessions/run">run</a>`) || !strings.Contains(body, `action="/runs"`) {
		t.Errorf("GET /sessions = %d %s", code, body)
	}
}

func TestSessionPageFollowsARunningSession(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.dir, "run.jsonl")
	writeLines(t, path, scriptedTranscript[:3]...)
	rec := session.Record{ID: "run", Tier: 2, Trigger: session.TriggerAlert, Outcome: session.OutcomeRunning, Start: t0}
	f.save(t, rec)
	f.live.start(rec)

	_, body := do(t, http.MethodGet, f.srv.URL+"/sessions/run", "")
	if !strings.Contains(body, `data-after="3"`) || !strings.Contains(body, "EventSource") || !strings.Contains(body, "restarting it.") {
		t.Fatalf("a running session's page:\n%s", body)
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/sessions/run/events?after=2", nil)
	req.Header.Set("Last-Event-ID", "3")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	f.live.addAction("run", restartDone)
	appendTo(t, path, scriptedTranscript[3]+"\n")
	sc := bufio.NewScanner(resp.Body)
	type sse struct{ id, event, data string }
	next := func() sse {
		t.Helper()
		var e sse
		for sc.Scan() {
			l := sc.Text()
			switch {
			case l == "":
				return e
			case strings.HasPrefix(l, "id: "):
				e.id = l[4:]
			case strings.HasPrefix(l, "event: "):
				e.event = l[7:]
			case strings.HasPrefix(l, "data: "):
				e.data += l[6:] + "\n"
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return e
	}
	// Event 3 (the restart call) was on the page: the stream starts at 4.
	if e := next(); e.id != "4" || e.event != "row" || !strings.Contains(e.data, "restarted web, verified by the engine") {
		t.Fatalf("first event %+v", e)
	}
	if e := next(); e.id != "5" || !strings.Contains(e.data, "restart done") {
		t.Fatalf("second event %+v", e)
	}
	final := rec
	final.Outcome, final.Actions = session.OutcomeRemediated, []session.Action{restartDone}
	f.live.end(t, f.st, final)
	if e := next(); e.event != "end" || !strings.Contains(e.data, "remediated") {
		t.Fatalf("last event %+v", e)
	}
}

func TestRunForm(t *testing.T) {
	f := newFixture(t)
	form := "application/x-www-form-urlencoded"
	code, h, body := doFull(t, http.MethodPost, f.srv.URL+"/runs", "tier=1", "Content-Type", form)
	if code != http.StatusSeeOther || h.Get("Location") != "/sessions/s-new" {
		t.Fatalf("POST /runs = %d %v %s", code, h, body)
	}
	// The same run again: named, not doubled.
	if code, h, _ := doFull(t, http.MethodPost, f.srv.URL+"/runs", "", "Content-Type", form); code != 303 || h.Get("Location") != "/sessions/s-new" || f.triggers != 2 {
		t.Errorf("second POST = %d %v, triggers %d", code, h, f.triggers)
	}
	for _, tc := range []struct {
		name, body string
		header     []string
		code       int
	}{
		{"tier 2", "tier=2", []string{"Content-Type", form}, 400},
		{"JSON", `{"tier":1}`, []string{"Content-Type", "application/json"}, 415},
		{"cross-site", "tier=1", []string{"Content-Type", form, "Sec-Fetch-Site", "cross-site"}, 403},
		{"another origin", "tier=1", []string{"Content-Type", form, "Origin", "https://evil.example"}, 403},
	} {
		if code, _ := do(t, http.MethodPost, f.srv.URL+"/runs", tc.body, tc.header...); code != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.code)
		}
	}
	if f.triggers != 2 {
		t.Errorf("triggers = %d, want 2: refused forms started runs", f.triggers)
	}
}

func TestLandingPage(t *testing.T) {
	f := newFixture(t)
	code, body := do(t, http.MethodGet, f.srv.URL+"/", "")
	if code != 200 || !strings.Contains(body, `<form class="run" method="post" action="/runs">`) {
		t.Fatalf("GET / = %d %s", code, body)
	}
	if strings.Contains(body, "debug/pprof") {
		t.Errorf("the landing page links pprof, which is not served")
	}
	// Every link answers.
	n := 0
	for _, part := range strings.Split(body, `href="`)[1:] {
		href, _, _ := strings.Cut(part, `"`)
		if strings.HasPrefix(href, "http") {
			continue
		}
		n++
		if code, body := do(t, http.MethodGet, f.srv.URL+"/"+strings.TrimPrefix(href, "/"), ""); code != 200 {
			t.Errorf("link %s: %d %s", href, code, body)
		}
	}
	if n < 8 {
		t.Errorf("%d links on the landing page", n)
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t, func(a *API) { a.Token = []byte("s3cret-token") })
	f.save(t, session.Record{ID: "a", Tier: 1, Outcome: session.OutcomeHealthy, Start: t0})
	guarded := []struct{ method, path, body string }{
		{"POST", "/api/v1/runs", `{"tier":1}`},
		{"GET", "/api/v1/sessions", ""},
		{"GET", "/api/v1/sessions/a", ""},
		{"GET", "/api/v1/sessions/a?follow=1", ""},
		{"GET", "/sessions", ""},
		{"GET", "/sessions/a", ""},
		{"GET", "/sessions/a/events", ""},
		{"POST", "/runs", "tier=1"},
		{"GET", "/api/v1/views/tldr", ""},
		{"GET", "/api/v1/views/sessions", ""},
		{"GET", "/api/v1/views/events", ""},
		{"GET", "/api/v1/views/cooldowns", ""},
		{"GET", "/api/v1/views/config", ""},
	}
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	for _, g := range guarded {
		for _, bad := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "Basic dXNlcjp3cm9uZw=="}} {
			code, h, _ := doFull(t, g.method, f.srv.URL+g.path, g.body, append(bad, form...)...)
			if code != 401 || !strings.Contains(strings.Join(h.Values("WWW-Authenticate"), " "), "Basic") {
				t.Errorf("%s %s with %v = %d %v, want 401 asking for basic auth", g.method, g.path, bad, code, h.Values("WWW-Authenticate"))
			}
		}
		for _, good := range [][]string{{"Authorization", "Bearer s3cret-token"}, {"Authorization", "Basic YW55b25lOnMzY3JldC10b2tlbg=="}} {
			if code, _ := do(t, g.method, f.srv.URL+g.path, g.body, append(good, form...)...); code >= 400 {
				t.Errorf("%s %s with %v = %d", g.method, g.path, good, code)
			}
		}
	}
	if f.triggers != 4 {
		t.Errorf("triggers = %d, want 4 (only authorized runs)", f.triggers)
	}
	for _, open := range []string{"/api/v1/incidents", "/api/v1/status", "/api/v1/cooldowns", "/"} {
		if code, _ := do(t, http.MethodGet, f.srv.URL+open, ""); code != 200 {
			t.Errorf("GET %s = %d, want 200 without a token", open, code)
		}
	}
}

func TestIncidentList(t *testing.T) {
	f := newFixture(t)
	f.incident(t, remediator.Incident{ID: "open-web", Service: "web", State: remediator.StateTier2, Opened: t0, Updated: t0})
	f.incident(t, remediator.Incident{ID: "closed-web", Service: "web", State: remediator.StateClosed, Outcome: session.OutcomeRemediated,
		Opened: t0.Add(-2 * time.Hour), Updated: t0.Add(-time.Hour), Closed: t0.Add(-time.Hour)})
	f.incident(t, remediator.Incident{ID: "closed-db", Service: "db", State: remediator.StateClosed, Outcome: session.OutcomeResolved,
		Opened: t0.Add(-3 * time.Hour), Updated: t0.Add(-time.Hour), Closed: t0.Add(-time.Hour)})
	for q, want := range map[string]string{
		"":                          "open-web",
		"?state=open":               "open-web",
		"?state=closed":             "closed-web,closed-db",
		"?state=all":                "open-web,closed-web,closed-db",
		"?state=all&service=web":    "open-web,closed-web",
		"?state=closed&service=db":  "closed-db",
		"?state=all&limit=2":        "open-web,closed-web",
		"?state=open&service=nope":  "",
		"?state=closed&service=web": "closed-web",
	} {
		code, body := do(t, http.MethodGet, f.srv.URL+"/api/v1/incidents"+q, "")
		var list []remediator.Incident
		if code != 200 || json.Unmarshal([]byte(body), &list) != nil {
			t.Fatalf("GET incidents%s = %d %s", q, code, body)
		}
		var ids []string
		for _, in := range list {
			ids = append(ids, in.ID)
		}
		if got := strings.Join(ids, ","); got != want {
			t.Errorf("incidents%s = %s, want %s", q, got, want)
		}
	}
	if code, _ := do(t, http.MethodGet, f.srv.URL+"/api/v1/incidents?state=sideways", ""); code != 400 {
		t.Errorf("a bad state = %d, want 400", code)
	}
}

func TestViews(t *testing.T) {
	f := newFixture(t)
	if code, body := do(t, http.MethodGet, f.srv.URL+"/api/v1/status", ""); code != 200 || !strings.Contains(body, `"version":"test"`) {
		t.Errorf("status = %d %s", code, body)
	}
	if code, body := do(t, http.MethodGet, f.srv.URL+"/api/v1/views/events?from=x", ""); code != 400 || !strings.Contains(body, "from must be") {
		t.Errorf("a bad from = %d %q, want 400", code, body)
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
