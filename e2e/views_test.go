package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/mixin"
)

// Issue 15's views: what the seed's web UI showed, in Grafana, read from the
// daemon's JSON views; a transcript a person can read; Run now.

// viewsWorld runs a daemon with a token through a day in miniature: Tier 1
// finds web down, an alert opens web's incident, Tier 2 restarts web (done,
// through the engine) and tries a redeploy (refused at the tier stage), the
// alert keeps firing, Tier 3 gives up: needs a human.
func viewsWorld(t *testing.T) (*daemon, *typedWorld) {
	t.Helper()
	w := newTypedWorld(t)
	tier1 := fakeapi.Turn{Text: "Checking web and db.", Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(tier1Result{
		Summary: "web answers 502, db is fine",
		Services: []service{
			{Name: "web", Checks: []check{{Name: "http", Type: "http", Status: "down", LatencyMS: 12, Detail: "502 Bad Gateway"}}},
			{Name: "db", Checks: []check{{Name: "tcp", Type: "database", Status: "ok", LatencyMS: 3, Detail: "accepts connections"}}},
		},
	})}}
	web2 := newScripted(
		fakeapi.Turn{Text: "web answers 502: restarting it.", Tools: []fakeapi.ToolUse{opsCall("restart_service", svc("web"))}},
		fakeapi.Turn{Text: "Still 502; a redeploy, then.", Tools: []fakeapi.ToolUse{opsCall("redeploy_service", svc("web"))}},
		fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(map[string]any{
			"summary": "restarted web; a redeploy needs tier 3", "outcome": "fixed", "actions": []any{}, "findings": "web's pool was exhausted",
		})}})
	web3 := newScripted(fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(map[string]any{
		"summary": "web's disk is full; a human must grow it", "outcome": "not_fixed", "actions": []any{}, "findings": "disk full",
	})}})
	api := fakeapi.Start(t, func(r *fakeapi.Request) fakeapi.Turn {
		switch {
		case strings.Contains(r.Model, "haiku"):
			return fakeapi.Sequence(tier1)(r)
		case strings.Contains(r.Model, "sonnet"):
			return web2.script(r)
		case strings.Contains(r.Model, "opus"):
			return web3.script(r)
		}
		return fakeapi.Turn{Status: 400}
	})
	token := filepath.Join(w.d.State, "webhook-token")
	writeFile(t, token, "views-e2e-token\n")
	dm := startDaemon(t, api, w.d, "--schedule.interval=1h", "--tier1.mode=check", "--webhook.token-file="+token,
		"--engine.host="+w.pm.Host, "--remediation.verify-timeout=2s")
	waitFor(t, 60*time.Second, "the start-up tier 1 run", func() bool {
		ss := dm.sessions(t)
		return len(ss) == 1 && ss[0].Outcome != "running"
	})
	if code, body := httpPost(t, dm.URL+"/api/v1/webhook", "application/json", firingAlert("WebDown", "web"),
		map[string]string{"Authorization": "Bearer " + dm.Token}); code/100 != 2 {
		t.Fatalf("POST /api/v1/webhook: %d %s", code, body)
	}
	waitFor(t, 180*time.Second, "web's incident to need a human", func() bool {
		in, ok := dm.incidentOf(t, "web")
		return ok && in.State == "needs_human"
	})
	return dm, w
}

// TestViews runs every Infinity panel of the dashboards against a running
// daemon: the URL answers a JSON array of rows, and every row has every
// column the panel selects. Then the transcript page, the follow stream,
// the Run-now form and the landing page's links.
func TestViews(t *testing.T) {
	dm, _ := viewsWorld(t)
	auth := map[string]string{"Authorization": "Bearer " + dm.Token}

	queries, err := mixin.ViewQueries("../grafana/dashboards")
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) < 5 {
		t.Fatalf("%d Infinity queries in the dashboards, want the 5 views", len(queries))
	}
	now := time.Now()
	vars := map[string]string{ // Grafana's: the last hour, all services
		"__from": fmt.Sprint(now.Add(-time.Hour).UnixMilli()), "__to": fmt.Sprint(now.Add(time.Minute).UnixMilli()),
	}
	for _, q := range queries {
		t.Run(q.Panel, func(t *testing.T) {
			url := dm.URL + mixin.FillURL(q.URL, vars)
			if code, _ := httpGet(t, url); code != http.StatusUnauthorized {
				t.Errorf("GET %s without the token = %d, want 401", q.URL, code)
			}
			code, body := httpGetWith(t, url, auth)
			var rows []map[string]json.RawMessage
			if code != 200 || json.Unmarshal([]byte(body), &rows) != nil {
				t.Fatalf("GET %s = %d %s", url, code, body)
			}
			if len(rows) == 0 {
				t.Fatalf("GET %s: no rows; the world has data for every view", url)
			}
			for i, r := range rows {
				for _, c := range q.Columns {
					if _, ok := r[c]; !ok {
						t.Errorf("%s row %d has no column %q: %s", q.URL, i, c, body)
					}
				}
			}
			t.Logf("%s: %d rows", q.URL, len(rows))
		})
	}

	// What the events and the cooldowns say of this world.
	var events []map[string]any
	code, body := httpGetWith(t, dm.URL+"/api/v1/views/events?service=web", auth)
	if code != 200 || json.Unmarshal([]byte(body), &events) != nil {
		t.Fatalf("events: %d %s", code, body)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, fmt.Sprint(e["kind"], " ", e["result"], " ", e["stage"]))
	}
	for _, want := range []string{"service_state down ", "incident_opened open ", "action done verify", "action refused tier", "escalation 3 ", "needs_human human "} {
		if !strings.Contains(strings.Join(kinds, "\n"), want) {
			t.Errorf("no event %q in:\n%s", want, strings.Join(kinds, "\n"))
		}
	}
	var cooldowns []map[string]any
	httpGetJSON(t, dm.URL+"/api/v1/views/cooldowns", auth, &cooldowns)
	if len(cooldowns) != 1 || cooldowns[0]["service"] != "web" || cooldowns[0]["used"] != 1.0 || cooldowns[0]["left"] != 1.0 {
		t.Errorf("cooldowns: %v", cooldowns)
	}

	// The Tier 2 session's page: the restart with its decision, the refused
	// redeploy with its stage, the outcome; as a browser asks, basic auth.
	var tier2 string
	for _, s := range dm.sessions(t) {
		if s.Tier == 2 {
			tier2 = s.ID
		}
	}
	basic := map[string]string{"Authorization": "Basic " + basicAuth("anyone", dm.Token)}
	code, page := httpGetWith(t, dm.URL+"/sessions/"+tier2, basic)
	if code != 200 {
		t.Fatalf("GET /sessions/%s = %d %s", tier2, code, page)
	}
	for _, want := range []string{"web answers 502: restarting it.", "mcp__ops__restart_service", `<span class="tag done">restart done</span>`,
		`<span class="tag refused">redeploy refused</span>`, "stage <b>tier</b>", "restarted web; a redeploy needs tier 3"} {
		if !strings.Contains(page, want) {
			t.Errorf("the transcript page lacks %q", want)
		}
	}
	if strings.Contains(page, "sk-e2e-secret-key") || strings.Contains(page, dm.Token) {
		t.Error("the transcript page shows a secret")
	}
	if code, _ := httpGet(t, dm.URL+"/sessions/"+tier2); code != 401 {
		t.Errorf("the transcript page without the token = %d, want 401", code)
	}

	// ?follow=1: readable events, the outcome last.
	code, nd := httpGetWith(t, dm.URL+"/api/v1/sessions/"+tier2+"?follow=1", auth)
	sc := bufio.NewScanner(strings.NewReader(nd))
	sc.Buffer(nil, 1<<20)
	var evKinds []string
	var last struct {
		Kind    string `json:"kind"`
		Outcome string `json:"outcome"`
		Action  *struct {
			Action, Result, Stage string
		} `json:"action"`
	}
	for sc.Scan() {
		last.Action = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("follow line %q: %v", sc.Text(), err)
		}
		k := last.Kind
		if last.Action != nil {
			k += ":" + last.Action.Action + "/" + last.Action.Result
		}
		evKinds = append(evKinds, k)
	}
	joined := strings.Join(evKinds, ",")
	if code != 200 || last.Kind != "outcome" || last.Outcome == "" ||
		!strings.Contains(joined, "tool_call,tool_result,action:restart/done") || !strings.Contains(joined, "action:redeploy/refused") {
		t.Errorf("follow: %d %s", code, joined)
	}

	// Run now: the form's POST answers with the new session's page.
	req, _ := http.NewRequest(http.MethodPost, dm.URL+"/runs", strings.NewReader("tier=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+basicAuth("anyone", dm.Token))
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/sessions/") {
		t.Fatalf("POST /runs = %d %q", resp.StatusCode, loc)
	}
	if code, body := httpGetWith(t, dm.URL+loc, basic); code != 200 || !strings.Contains(body, "manual") {
		t.Errorf("GET %s = %d %s", loc, code, body)
	}
	dm.waitSession(t, strings.TrimPrefix(loc, "/sessions/"), 60*time.Second)

	// Every link of the landing page answers.
	code, landing := httpGet(t, dm.URL+"/")
	if code != 200 || !strings.Contains(landing, `action="/runs"`) {
		t.Fatalf("GET / = %d %s", code, landing)
	}
	for _, part := range strings.Split(landing, `href="`)[1:] {
		href, _, _ := strings.Cut(part, `"`)
		if strings.HasPrefix(href, "http") {
			continue
		}
		if code, body := httpGetWith(t, dm.URL+"/"+strings.TrimPrefix(href, "/"), basic); code != 200 {
			t.Errorf("landing link %s: %d %.200s", href, code, body)
		}
	}
}

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

func httpGetWith(t testing.TB, url string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}

func httpGetJSON(t testing.TB, url string, header map[string]string, v any) {
	t.Helper()
	code, body := httpGetWith(t, url, header)
	if code != 200 || json.Unmarshal([]byte(body), v) != nil {
		t.Fatalf("GET %s = %d %s", url, code, body)
	}
}
