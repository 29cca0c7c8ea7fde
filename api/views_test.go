package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// getRows reads a view: a JSON array of objects.
func getRows(t *testing.T, url string) []map[string]any {
	t.Helper()
	code, body := do(t, http.MethodGet, url, "")
	var rows []map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &rows) != nil {
		t.Fatalf("GET %s = %d %s", url, code, body)
	}
	return rows
}

// checkColumns fails unless every row has exactly the columns.
func checkColumns(t *testing.T, view string, rows []map[string]any, cols ...string) {
	t.Helper()
	for i, r := range rows {
		var keys []string
		for k := range r {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := slices.Clone(cols)
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Errorf("%s row %d: columns %v, want %v", view, i, keys, want)
		}
	}
}

func tier1Output(summary string, states map[string]string) json.RawMessage {
	var svcs []map[string]any
	for _, name := range slices.Sorted(maps.Keys(states)) {
		svcs = append(svcs, map[string]any{"name": name, "checks": []map[string]any{
			{"name": "http", "type": "http", "status": states[name], "detail": "status " + states[name]},
		}})
	}
	b, _ := json.Marshal(map[string]any{"summary": summary, "services": svcs})
	return b
}

// seed is a day of Claude Ops: three Tier 1 runs in which web goes down and
// db stays ok, an incident of web fixed by Tier 2 then escalated to Tier 3
// and a human, a closed incident of db, and the ledger's actions.
func seed(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	at := func(d time.Duration) time.Time { return t0.Add(-d) }
	f.save(t,
		session.Record{ID: "t1-old", Tier: 1, Model: "haiku", Trigger: session.TriggerSchedule, Start: at(3 * time.Hour), End: at(3*time.Hour - time.Minute),
			Outcome: session.OutcomeHealthy, StructuredOutput: tier1Output("all good", map[string]string{"web": "ok", "db": "ok"})},
		session.Record{ID: "t1-mid", Tier: 1, Model: "haiku", Trigger: session.TriggerSchedule, Start: at(2 * time.Hour), End: at(2*time.Hour - time.Minute),
			Outcome: session.OutcomeIssuesFound, StructuredOutput: tier1Output("web down", map[string]string{"web": "down", "db": "ok"})},
		session.Record{ID: "t1-new", Tier: 1, Model: "haiku", Trigger: session.TriggerManual, Start: at(30 * time.Minute), End: at(29 * time.Minute),
			Duration: time.Minute, Outcome: session.OutcomeIssuesFound, CostUSD: 0.02,
			Tokens:           map[string]session.Tokens{"haiku": {Input: 100, Output: 20, CacheRead: 5, CacheCreation: 1}},
			StructuredOutput: tier1Output("web still down, db ok", map[string]string{"web": "down", "db": "ok"})},
		session.Record{ID: "web-2", Tier: 2, Model: "sonnet", Trigger: session.TriggerAlert, IncidentID: "in-web", Start: at(110 * time.Minute),
			Duration: 2 * time.Minute, Outcome: session.OutcomeRemediated, CostUSD: 0.3},
		session.Record{ID: "web-3", Tier: 3, Model: "opus", Trigger: session.TriggerAlert, IncidentID: "in-web", Start: at(90 * time.Minute),
			Duration: 3 * time.Minute, Outcome: session.OutcomeNotFixed, CostUSD: 1.1},
	)
	f.incident(t, remediator.Incident{ID: "in-web", Service: "web", State: remediator.StateNeedsHuman, Opened: at(115 * time.Minute),
		Updated: at(80 * time.Minute), NeedsHumanSince: at(80 * time.Minute), Reason: remediator.ReasonNotFixed, Detail: "tier 3 did not fix it",
		Alerts: []*remediator.Alert{{Fingerprint: "f1", Status: "firing", Labels: labels.FromStrings("alertname", "WebDown", "service", "web")}},
		Sessions: []remediator.SessionRef{
			{ID: "web-2", Tier: 2, Start: at(110 * time.Minute), Outcome: session.OutcomeRemediated, CostUSD: 0.3,
				Result: &session.RemediationResult{Summary: "restarted web", Outcome: "fixed"}},
			{ID: "web-3", Tier: 3, Start: at(90 * time.Minute), Outcome: session.OutcomeNotFixed, CostUSD: 1.1,
				Result: &session.RemediationResult{Summary: "web's disk is full; a human must grow it", Outcome: "not_fixed"}},
		}})
	f.incident(t, remediator.Incident{ID: "in-db", Service: "db", State: remediator.StateClosed, Outcome: session.OutcomeResolved,
		Opened: at(31 * time.Hour), Updated: at(30 * time.Hour), Closed: at(30 * time.Hour)})
	for _, r := range []store.ActionRecord{
		{Time: at(108 * time.Minute), SessionID: "web-2", IncidentID: "in-web", Service: "web", Action: "restart", Result: store.ResultAllowed,
			Stage: "verify", Outcome: "done", Tier: 2, Command: "restart web", Reason: "restarted web, verified by the engine"},
		{Time: at(107 * time.Minute), SessionID: "web-2", IncidentID: "in-web", Service: "web", Action: "redeploy", Result: "refused_tier",
			Stage: "tier", Tier: 2, Command: "redeploy web", Reason: "redeploy needs tier 3"},
		{Time: at(85 * time.Minute), SessionID: "web-3", IncidentID: "in-web", Service: "web", Action: "restart", Result: store.ResultAllowed,
			Stage: "verify", Outcome: "done", Tier: 3, Command: "restart web"},
		{Time: at(84 * time.Minute), SessionID: "web-3", IncidentID: "in-web", Service: "web", Action: "restart", Result: store.ResultDryRun,
			Stage: "dry_run", Tier: 3, Command: "restart web"},
	} {
		if err := f.st.RecordAction(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTLDRView(t *testing.T) {
	f := newFixture(t)
	seed(t, f)
	rows := getRows(t, f.srv.URL+"/api/v1/views/tldr")
	checkColumns(t, "tldr", rows, "time", "kind", "service", "tier", "state", "outcome", "summary", "cost_usd", "session_id", "incident_id", "link")
	if len(rows) != 2 {
		t.Fatalf("tldr: %d rows, want the newest tier 1 run and the open incident (db's closed 30h ago): %v", len(rows), rows)
	}
	if r := rows[0]; r["kind"] != "tier1" || r["session_id"] != "t1-new" || r["summary"] != "web still down, db ok" || r["cost_usd"] != 0.02 ||
		r["link"] != "/sessions/t1-new" || r["outcome"] != "issues_found" {
		t.Errorf("tier 1 row: %v", r)
	}
	if r := rows[1]; r["kind"] != "incident" || r["service"] != "web" || r["tier"] != 3.0 || r["summary"] != "web's disk is full; a human must grow it" ||
		r["outcome"] != "needs_human" || math.Abs(r["cost_usd"].(float64)-1.4) > 1e-9 || r["link"] != "/sessions/web-3" {
		t.Errorf("incident row: %v", r)
	}
	// Over a longer range, db's closed incident too.
	rows = getRows(t, f.srv.URL+"/api/v1/views/tldr?from="+t0.Add(-48*time.Hour).Format(time.RFC3339))
	if len(rows) != 3 || rows[2]["incident_id"] != "in-db" || rows[2]["outcome"] != "resolved" {
		t.Errorf("tldr over 48h: %v", rows)
	}
}

func TestSessionsView(t *testing.T) {
	f := newFixture(t)
	seed(t, f)
	rows := getRows(t, f.srv.URL+"/api/v1/views/sessions")
	checkColumns(t, "sessions", rows, "time", "id", "kind", "tier", "model", "duration_seconds", "tokens", "cost_usd", "outcome",
		"service", "incident_id", "summary", "link")
	var ids []string
	for _, r := range rows {
		ids = append(ids, r["id"].(string))
	}
	if got := strings.Join(ids, ","); got != "t1-new,web-3,web-2,t1-mid,t1-old" {
		t.Errorf("sessions %s", got)
	}
	if r := rows[0]; r["kind"] != "manual" || r["tokens"] != 126.0 || r["duration_seconds"] != 60.0 || r["model"] != "haiku" || r["link"] != "/sessions/t1-new" {
		t.Errorf("t1-new: %v", r)
	}
	if r := rows[1]; r["kind"] != "incident" || r["service"] != "web" || r["tier"] != 3.0 || r["duration_seconds"] != 180.0 {
		t.Errorf("web-3: %v", r)
	}
	if r := rows[3]; r["kind"] != "scheduled" {
		t.Errorf("t1-mid: %v", r)
	}
	rows = getRows(t, f.srv.URL+"/api/v1/views/sessions?service=web&tier=2")
	if len(rows) != 1 || rows[0]["id"] != "web-2" {
		t.Errorf("?service=web&tier=2: %v", rows)
	}
	// Grafana's time range, in milliseconds.
	from, to := t0.Add(-100*time.Minute).UnixMilli(), t0.Add(-60*time.Minute).UnixMilli()
	rows = getRows(t, f.srv.URL+"/api/v1/views/sessions?from="+itoa(from)+"&to="+itoa(to))
	if len(rows) != 1 || rows[0]["id"] != "web-3" {
		t.Errorf("from..to: %v", rows)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestEventsView(t *testing.T) {
	f := newFixture(t)
	seed(t, f)
	rows := getRows(t, f.srv.URL+"/api/v1/views/events")
	checkColumns(t, "events", rows, "time", "kind", "service", "tier", "action", "result", "stage", "detail", "session_id", "incident_id", "link")
	var got []string
	for i, r := range rows {
		got = append(got, r["kind"].(string)+" "+r["service"].(string)+" "+r["result"].(string)+" "+r["stage"].(string))
		if i > 0 && r["time"].(string) > rows[i-1]["time"].(string) {
			t.Errorf("not newest first at %d", i)
		}
	}
	want := []string{
		"needs_human web human ",
		"action web proposed dry_run",
		"action web done verify",
		"escalation web 3 ",
		"action web refused tier",
		"action web done verify",
		"incident_opened web open ",
		"service_state web down ",
		"incident_closed db resolved ",
		"incident_opened db open ",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, r := range rows {
		if r["kind"] == "service_state" && (r["detail"] != "ok → down; http: status down" || r["session_id"] != "t1-mid" || r["link"] != "/sessions/t1-mid") {
			t.Errorf("the state change: %v", r)
		}
		if r["kind"] == "action" && r["result"] == "refused" && r["detail"] != "redeploy web: redeploy needs tier 3" {
			t.Errorf("the refusal: %v", r)
		}
		if r["kind"] == "needs_human" && r["detail"] != "not_fixed: tier 3 did not fix it" {
			t.Errorf("needs human: %v", r)
		}
	}
	// ?service= filters; a later range drops what was before.
	for _, r := range getRows(t, f.srv.URL+"/api/v1/views/events?service=db") {
		if r["service"] != "db" {
			t.Errorf("?service=db: %v", r)
		}
	}
	rows = getRows(t, f.srv.URL+"/api/v1/views/events?from="+itoa(t0.Add(-86*time.Minute).UnixMilli())+"&limit=2")
	if len(rows) != 2 || rows[0]["kind"] != "needs_human" || rows[1]["result"] != "proposed" {
		t.Errorf("from 86m ago, limit 2: %v", rows)
	}
}

func TestCooldownsView(t *testing.T) {
	f := newFixture(t)
	seed(t, f)
	rows := getRows(t, f.srv.URL+"/api/v1/views/cooldowns")
	checkColumns(t, "cooldowns", rows, "service", "action", "used", "left", "limit", "window_seconds", "next_free", "next_free_seconds")
	if len(rows) != 1 {
		t.Fatalf("cooldowns: %v", rows)
	}
	r := rows[0]
	free := t0.Add(-108 * time.Minute).Add(4 * time.Hour)
	if r["service"] != "web" || r["action"] != "restart" || r["used"] != 2.0 || r["left"] != 0.0 || r["limit"] != 2.0 ||
		r["window_seconds"] != 14400.0 || r["next_free"] != free.Format(time.RFC3339) || r["next_free_seconds"] != free.Sub(t0).Seconds() {
		t.Errorf("web's restarts: %v", r)
	}
	if rows := getRows(t, f.srv.URL+"/api/v1/views/cooldowns?service=db"); len(rows) != 0 {
		t.Errorf("?service=db: %v", rows)
	}
}

func TestConfigView(t *testing.T) {
	app := kingpin.New("claude-ops", "")
	app.Flag("alertmanager.url", "").Default("http://am:9093").String()
	app.Flag("claude.base-url", "").Envar("ANTHROPIC_BASE_URL").String()
	app.Flag("webhook.token-file", "").String()
	app.Flag("proxy.token", "").String()
	app.Flag("engine.host", "").String()
	app.Flag("session.pass-env", "").Default("HTTPS_PROXY", "NO_PROXY").Strings()
	app.Flag("hidden", "").Hidden().String()
	if _, err := app.Parse([]string{
		"--claude.base-url=https://user:hunter2@litellm.example/v1", "--webhook.token-file=/run/token",
		"--proxy.token=abcdef", "--engine.host=tcp://TOKEN123@docker:2376",
	}); err != nil {
		t.Fatal(err)
	}
	rows := ConfigRows(app.Model())
	f := newFixture(t, func(a *API) { a.Config = rows })
	got := getRows(t, f.srv.URL+"/api/v1/views/config")
	checkColumns(t, "config", got, "flag", "value", "default", "env", "help")
	values := map[string]string{}
	for _, r := range got {
		values[r["flag"].(string)] = r["value"].(string)
	}
	for flag, want := range map[string]string{
		"alertmanager.url":   "http://am:9093",
		"claude.base-url":    "https://user:xxxxx@litellm.example/v1",
		"webhook.token-file": "/run/token",
		"proxy.token":        "<secret>",
		"engine.host":        "tcp://xxxxx@docker:2376",
		"session.pass-env":   "HTTPS_PROXY,NO_PROXY",
	} {
		if values[flag] != want {
			t.Errorf("%s = %q, want %q", flag, values[flag], want)
		}
	}
	for _, hidden := range []string{"help", "hidden", "version"} {
		if _, ok := values[hidden]; ok {
			t.Errorf("%s is shown", hidden)
		}
	}
	if m := ConfigMap(rows); m["claude.base-url"] != "https://user:xxxxx@litellm.example/v1" {
		t.Errorf("status config: %v", m)
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	day := 24 * time.Hour
	recs := []session.Record{
		{ID: "old", Tier: 1, Outcome: session.OutcomeHealthy, Start: t0.Add(-31 * day)},
		{ID: "old-running", Tier: 2, Outcome: session.OutcomeRunning, Start: t0.Add(-31 * day)},
		{ID: "recent", Tier: 1, Outcome: session.OutcomeHealthy, Start: t0.Add(-29 * day)},
	}
	for _, r := range recs {
		if err := st.SaveSession(ctx, r); err != nil {
			t.Fatal(err)
		}
		writeLines(t, filepath.Join(dir, r.ID+".jsonl"), `{"type":"result"}`)
	}
	// A transcript whose row is gone, last written 40 days ago; a file that
	// is not a transcript.
	writeLines(t, filepath.Join(dir, "orphan.jsonl"), `{}`)
	writeLines(t, filepath.Join(dir, "notes.txt"), `keep`)
	for _, name := range []string{"orphan.jsonl", "notes.txt", "old.jsonl"} {
		old := t0.Add(-40 * day)
		if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
			t.Fatal(err)
		}
	}
	r := &Retention{Store: st, ResultsDir: dir, Period: 30 * day, Now: func() time.Time { return t0 }}
	sessions, files, err := r.Prune(ctx)
	if err != nil || sessions != 1 || files != 2 {
		t.Errorf("prune: %d sessions, %d files, %v; want 1 and 2 (old, orphan)", sessions, files, err)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != "notes.txt,old-running.jsonl,recent.jsonl" {
		t.Errorf("left %s", got)
	}
	rows, _ := st.QuerySessions(ctx, store.SessionQuery{})
	if len(rows) != 2 {
		t.Errorf("%d session rows left, want 2", len(rows))
	}
	// Run prunes at start.
	writeLines(t, filepath.Join(dir, "old.jsonl"), `{}`)
	old := t0.Add(-40 * day)
	_ = os.Chtimes(filepath.Join(dir, "old.jsonl"), old, old)
	ctx2, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- (&Retention{Store: st, ResultsDir: dir, Period: 30 * day, Now: func() time.Time { return t0 }, Logger: slog.New(slog.DiscardHandler)}).Run(ctx2)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "old.jsonl")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not prune at start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
