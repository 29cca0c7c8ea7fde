package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// The views under /api/v1/views/ are what Grafana's dashboards show through
// the Infinity data source (SPEC.md §6, §8): flat JSON arrays of rows whose
// columns are always present, newest first. Times are RFC 3339, durations
// seconds, costs USD.

// Limit is a cooldown class's limit: Max allowed actions per service within
// Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// errBadRequest wraps a query parameter's problem, answered 400.
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadRequest}, args...)...)
}

// rows answers a view: 400 for a bad parameter, 500 (logged) for the rest.
func (a *API) rows(get func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := get(r)
		if errors.Is(err, errBadRequest) {
			fail(w, http.StatusBadRequest, "%s", strings.TrimPrefix(err.Error(), errBadRequest.Error()+": "))
			return
		}
		if err != nil {
			a.Logger.Error("api view", "path", r.URL.Path, "err", err)
			fail(w, http.StatusInternalServerError, "cannot read state")
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// window reads ?from= and ?to= (Unix milliseconds, as Grafana's ${__from}
// and ${__to} give them, or RFC 3339); from defaults to def before now, to
// to no bound (the zero time).
func (a *API) window(q url.Values, def time.Duration) (from, to time.Time, err error) {
	from = a.now().Add(-def)
	parse := func(name string, dst *time.Time) error {
		s := q.Get(name)
		if s == "" {
			return nil
		}
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			*dst = time.UnixMilli(ms)
			return nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return badRequest("%s must be Unix milliseconds or an RFC 3339 time", name)
		}
		*dst = t
		return nil
	}
	if err := parse("from", &from); err != nil {
		return from, to, err
	}
	if err := parse("to", &to); err != nil {
		return from, to, err
	}
	if !to.IsZero() && !to.After(from) {
		return from, to, badRequest("to must be after from")
	}
	return from, to, nil
}

// limit reads ?limit= between 1 and 1000.
func limitOf(q url.Values, def int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, badRequest("limit must be a number from 1 to 1000")
	}
	return n, nil
}

// SessionPath is the path of a session's transcript page.
func SessionPath(id string) string { return "/sessions/" + url.PathEscape(id) }

// kindOf names what started a session, as the sessions view shows it.
func kindOf(t session.Trigger) string {
	switch t {
	case session.TriggerSchedule:
		return "scheduled"
	case session.TriggerAlert:
		return "incident"
	}
	return string(t)
}

// summaryOf is the summary of a session's structured output, else why it
// has none.
func summaryOf(rec session.Record) string {
	var out struct {
		Summary string `json:"summary"`
	}
	if len(rec.StructuredOutput) > 0 && json.Unmarshal(rec.StructuredOutput, &out) == nil && out.Summary != "" {
		return out.Summary
	}
	if rec.Outcome == session.OutcomeRunning {
		return "running"
	}
	return rec.Reason
}

func tokensOf(rec session.Record) int64 {
	var n int64
	for _, t := range rec.Tokens {
		n += t.Input + t.Output + t.CacheRead + t.CacheCreation
	}
	return n
}

func (a *API) durationOf(rec session.Record) float64 {
	if rec.Outcome == session.OutcomeRunning && !rec.Start.IsZero() {
		return a.now().Sub(rec.Start).Seconds()
	}
	return rec.Duration.Seconds()
}

// --- Latest run, TL;DR ---

type tldrRow struct {
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"` // tier1, incident
	Service    string    `json:"service"`
	Tier       int       `json:"tier"`
	State      string    `json:"state"`
	Outcome    string    `json:"outcome"`
	Summary    string    `json:"summary"`
	CostUSD    float64   `json:"cost_usd"`
	SessionID  string    `json:"session_id"`
	IncidentID string    `json:"incident_id"`
	Link       string    `json:"link"`
}

// tldr is GET /api/v1/views/tldr: the newest Tier 1 run, then every open
// incident and every one closed since ?from= (default a day ago), from the
// sessions' own structured output.
func (a *API) tldr(r *http.Request) (any, error) {
	from, _, err := a.window(r.URL.Query(), 24*time.Hour)
	if err != nil {
		return nil, err
	}
	out := []tldrRow{}
	t1, err := a.Store.QuerySessions(r.Context(), store.SessionQuery{Tier: session.Tier1, Limit: 10})
	if err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(t1, func(s session.Record) bool { return s.Ended() }); i >= 0 || len(t1) > 0 {
		rec := t1[max(i, 0)]
		at := rec.End
		if at.IsZero() {
			at = rec.Start
		}
		state := "ended"
		if !rec.Ended() {
			state = "running"
		}
		out = append(out, tldrRow{Time: at, Kind: "tier1", Tier: int(rec.Tier), State: state, Outcome: string(rec.Outcome),
			Summary: summaryOf(rec), CostUSD: rec.CostUSD, SessionID: rec.ID, Link: SessionPath(rec.ID)})
	}
	ins, err := a.incidents(r.Context(), store.IncidentQuery{State: store.IncidentsAll, ClosedSince: from, Limit: 200})
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		row := tldrRow{Time: in.Updated, Kind: "incident", Service: in.Service, State: string(in.State),
			Outcome: string(in.Outcome), IncidentID: in.ID, Summary: joinNonEmpty(": ", in.Reason, in.Detail)}
		if !in.Closed.IsZero() {
			row.Time = in.Closed
		}
		for _, s := range in.Sessions {
			row.Tier = max(row.Tier, int(s.Tier))
			row.CostUSD += s.CostUSD
			row.SessionID, row.Link = s.ID, SessionPath(s.ID)
			if s.Result != nil && s.Result.Summary != "" {
				row.Summary = s.Result.Summary
			}
		}
		if row.Outcome == "" {
			row.Outcome = string(in.State)
		}
		out = append(out, row)
	}
	return out, nil
}

func joinNonEmpty(sep string, parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), sep)
}

// --- Sessions ---

type sessionRow struct {
	Time            time.Time `json:"time"`
	ID              string    `json:"id"`
	Kind            string    `json:"kind"` // scheduled, manual, incident
	Tier            int       `json:"tier"`
	Model           string    `json:"model"`
	DurationSeconds float64   `json:"duration_seconds"`
	Tokens          int64     `json:"tokens"`
	CostUSD         float64   `json:"cost_usd"`
	Outcome         string    `json:"outcome"`
	Service         string    `json:"service"`
	IncidentID      string    `json:"incident_id"`
	Summary         string    `json:"summary"`
	Link            string    `json:"link"`
}

// sessionsView is GET /api/v1/views/sessions: the sessions started in
// [?from, ?to) (default the last 7 days), ?service= and ?tier= filtering.
func (a *API) sessionsView(r *http.Request) (any, error) {
	q := r.URL.Query()
	from, to, err := a.window(q, 7*24*time.Hour)
	if err != nil {
		return nil, err
	}
	sq, err := sessionQuery(q, 200)
	if err != nil {
		return nil, err
	}
	sq.Since, sq.Until = from, to
	recs, err := a.Store.QuerySessions(r.Context(), sq)
	if err != nil {
		return nil, err
	}
	services := map[string]string{}
	out := make([]sessionRow, 0, len(recs))
	for _, rec := range recs {
		svc, ok := services[rec.IncidentID]
		if !ok && rec.IncidentID != "" {
			if in, err := a.Store.GetIncident(r.Context(), rec.IncidentID); err == nil {
				svc = in.Service
			}
			services[rec.IncidentID] = svc
		}
		out = append(out, sessionRow{Time: rec.Start, ID: rec.ID, Kind: kindOf(rec.Trigger), Tier: int(rec.Tier), Model: rec.Model,
			DurationSeconds: a.durationOf(rec), Tokens: tokensOf(rec), CostUSD: rec.CostUSD, Outcome: string(rec.Outcome),
			Service: svc, IncidentID: rec.IncidentID, Summary: summaryOf(rec), Link: SessionPath(rec.ID)})
	}
	return out, nil
}

// sessionQuery reads ?tier=, ?service= and ?limit=.
func sessionQuery(q url.Values, defLimit int) (store.SessionQuery, error) {
	var sq store.SessionQuery
	var err error
	if sq.Limit, err = limitOf(q, defLimit); err != nil {
		return sq, err
	}
	if s := q.Get("tier"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || !session.Tier(n).Valid() {
			return sq, badRequest("tier must be 1, 2 or 3")
		}
		sq.Tier = session.Tier(n)
	}
	sq.Service = strings.TrimSpace(q.Get("service"))
	return sq, nil
}

// --- Events ---

type eventRow struct {
	Time time.Time `json:"time"`
	// Kind is service_state, action, incident_opened, escalation,
	// needs_human or incident_closed.
	Kind    string `json:"kind"`
	Service string `json:"service"`
	Tier    int    `json:"tier"`
	// Action is the typed action (restart, redeploy, playbook) or what the
	// gate refused.
	Action string `json:"action"`
	// Result: a service's new state (ok, degraded, down, unknown); an
	// action's done, refused, proposed, failed or unverified; an escalation's
	// new tier ("3", "human"); a closed incident's outcome.
	Result string `json:"result"`
	// Stage is the chain stage that decided an action.
	Stage      string `json:"stage"`
	Detail     string `json:"detail"`
	SessionID  string `json:"session_id"`
	IncidentID string `json:"incident_id"`
	Link       string `json:"link"`
}

// events is GET /api/v1/views/events: what changed in [?from, ?to)
// (default the last 7 days), newest first, ?service= filtering, at most
// ?limit= (200) rows.
func (a *API) events(r *http.Request) (any, error) {
	q := r.URL.Query()
	from, to, err := a.window(q, 7*24*time.Hour)
	if err != nil {
		return nil, err
	}
	limit, err := limitOf(q, 200)
	if err != nil {
		return nil, err
	}
	service := strings.TrimSpace(q.Get("service"))
	ctx := r.Context()
	var out []eventRow
	add := func(e eventRow) {
		if e.Time.Before(from) || (!to.IsZero() && !e.Time.Before(to)) || (service != "" && e.Service != service) {
			return
		}
		if e.SessionID != "" {
			e.Link = SessionPath(e.SessionID)
		}
		out = append(out, e)
	}

	// Service states from the Tier 1 results: a change from the run before.
	t1, err := a.Store.QuerySessions(ctx, store.SessionQuery{Tier: session.Tier1, Since: from, Until: to, Limit: 1000})
	if err != nil {
		return nil, err
	}
	before, err := a.Store.QuerySessions(ctx, store.SessionQuery{Tier: session.Tier1, Until: from, Limit: 5})
	if err != nil {
		return nil, err
	}
	prev := map[string]string{}
	for _, rec := range slices.Backward(before) {
		if states := serviceStates(rec); states != nil {
			prev = map[string]string{}
			for svc, st := range states {
				prev[svc] = st.state
			}
		}
	}
	for _, rec := range slices.Backward(t1) {
		states := serviceStates(rec)
		if states == nil {
			continue
		}
		at := cmp.Or(rec.End, rec.Start)
		for svc, st := range states {
			old, seen := prev[svc]
			if old == st.state || (!seen && st.state == "ok") {
				continue
			}
			detail := st.detail
			if seen {
				detail = joinNonEmpty("; ", old+" → "+st.state, detail)
			}
			add(eventRow{Time: at, Kind: "service_state", Service: svc, Tier: 1, Result: st.state, Detail: detail, SessionID: rec.ID})
		}
		prev = map[string]string{}
		for svc, st := range states {
			prev[svc] = st.state
		}
	}

	// Actions and the gate's refusals, from the ledger.
	ledger, err := a.Store.ActionsSince(ctx, from)
	if err != nil {
		return nil, err
	}
	for _, l := range ledger {
		add(eventRow{Time: l.Time, Kind: "action", Service: l.Service, Tier: l.Tier, Action: l.Action, Result: ledgerResult(l),
			Stage: l.Stage, Detail: joinNonEmpty(": ", l.Command, l.Reason), SessionID: l.SessionID, IncidentID: l.IncidentID})
	}

	// Incidents: opened, escalated, handed to a human, closed.
	ins, err := a.incidents(ctx, store.IncidentQuery{State: store.IncidentsAll, Service: service, ClosedSince: from, Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		var alerts []string
		for _, al := range in.Alerts {
			alerts = append(alerts, al.Labels["alertname"])
		}
		first := ""
		if len(in.Sessions) > 0 {
			first = in.Sessions[0].ID
		}
		add(eventRow{Time: in.Opened, Kind: "incident_opened", Service: in.Service, Tier: 2, Result: "open",
			Detail: strings.Join(slices.Compact(alerts), ", "), SessionID: first, IncidentID: in.ID})
		tier := session.Tier(0)
		for _, s := range in.Sessions {
			if tier != 0 && s.Tier > tier {
				add(eventRow{Time: s.Start, Kind: "escalation", Service: in.Service, Tier: int(s.Tier), Result: s.Tier.String(),
					Detail: fmt.Sprintf("tier %d → tier %d", tier, s.Tier), SessionID: s.ID, IncidentID: in.ID})
			}
			tier = max(tier, s.Tier)
		}
		if !in.NeedsHumanSince.IsZero() {
			last := ""
			if len(in.Sessions) > 0 {
				last = in.Sessions[len(in.Sessions)-1].ID
			}
			add(eventRow{Time: in.NeedsHumanSince, Kind: "needs_human", Service: in.Service, Tier: int(tier), Result: "human",
				Detail: joinNonEmpty(": ", in.Reason, cmp.Or(in.Detail, in.CooldownRefusal)), SessionID: last, IncidentID: in.ID})
		}
		if !in.Closed.IsZero() {
			add(eventRow{Time: in.Closed, Kind: "incident_closed", Service: in.Service, Tier: int(tier), Result: string(in.Outcome),
				Detail: joinNonEmpty(": ", in.Reason, in.Detail), IncidentID: in.ID})
		}
	}

	slices.SortStableFunc(out, func(x, y eventRow) int { return y.Time.Compare(x.Time) })
	if len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []eventRow{}
	}
	return out, nil
}

// ledgerResult is an action's result as the typed actions name it.
func ledgerResult(l store.ActionRecord) string {
	switch {
	case l.Result == store.ResultAllowed && l.Outcome != "":
		return l.Outcome
	case l.Result == store.ResultAllowed:
		return "allowed"
	case l.Result == store.ResultDryRun:
		return string(session.ResultProposed)
	case strings.HasPrefix(l.Result, "refused"):
		return string(session.ResultRefused)
	}
	return l.Result
}

type serviceState struct{ state, detail string }

// stateRank orders check statuses from best to worst.
var stateRank = map[string]int{"ok": 0, "unknown": 1, "degraded": 2, "failing": 3, "down": 3}

// serviceStates is each service's worst check status in a Tier 1 result,
// with the checks that are not ok; nil when the session has no result.
func serviceStates(rec session.Record) map[string]serviceState {
	var res struct {
		Services []struct {
			Name   string `json:"name"`
			Checks []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
				Detail string `json:"detail"`
			} `json:"checks"`
		} `json:"services"`
	}
	if len(rec.StructuredOutput) == 0 || json.Unmarshal(rec.StructuredOutput, &res) != nil {
		return nil
	}
	out := map[string]serviceState{}
	for _, s := range res.Services {
		if s.Name == "" || len(s.Checks) == 0 {
			continue
		}
		st := serviceState{state: "ok"}
		var bad []string
		for _, c := range s.Checks {
			rank, ok := stateRank[c.Status]
			if !ok {
				rank = stateRank["unknown"]
			}
			if rank > stateRank[st.state] {
				st.state = c.Status
			}
			if c.Status != "ok" {
				bad = append(bad, joinNonEmpty(": ", c.Name, clip(c.Detail, 200)))
			}
		}
		st.detail = strings.Join(bad, "; ")
		out[s.Name] = st
	}
	return out
}

// --- Cooldowns ---

type cooldownRow struct {
	Service       string  `json:"service"`
	Action        string  `json:"action"`
	Used          int     `json:"used"`
	Left          int     `json:"left"`
	Limit         int     `json:"limit"`
	WindowSeconds float64 `json:"window_seconds"`
	// NextFree is when the oldest counted action leaves the window, which
	// frees one; NextFreeSeconds is how long until then.
	NextFree        time.Time `json:"next_free"`
	NextFreeSeconds float64   `json:"next_free_seconds"`
}

// cooldownsView is GET /api/v1/views/cooldowns: per service and cooldown
// class with actions in its window, used, left, the limit, the window and
// when the next one frees up.
func (a *API) cooldownsView(r *http.Request) (any, error) {
	now := a.now()
	windows := map[string]time.Duration{}
	for class, l := range a.Limits {
		windows[class] = l.Window
	}
	uses, err := a.Store.CooldownUses(r.Context(), now, windows)
	if err != nil {
		return nil, err
	}
	service := strings.TrimSpace(r.URL.Query().Get("service"))
	out := make([]cooldownRow, 0, len(uses))
	for _, u := range uses {
		if service != "" && u.Service != service {
			continue
		}
		l := a.Limits[u.Action]
		free := u.Oldest.Add(l.Window)
		out = append(out, cooldownRow{Service: u.Service, Action: u.Action, Used: u.Used, Left: max(0, l.Max-u.Used), Limit: l.Max,
			WindowSeconds: l.Window.Seconds(), NextFree: free, NextFreeSeconds: max(0, free.Sub(now).Seconds())})
	}
	return out, nil
}

// --- Config ---

func (a *API) configView(*http.Request) (any, error) {
	if a.Config == nil {
		return []ConfigRow{}, nil
	}
	return a.Config, nil
}

// --- incidents, open and closed ---

// incidents are the incidents q selects: the open ones as the remediator
// holds them now, the closed ones as the store does (the same document,
// remediator.Incident), open first, each newest first.
func (a *API) incidents(ctx context.Context, q store.IncidentQuery) ([]remediator.Incident, error) {
	var out []remediator.Incident
	if q.State != store.IncidentsClosed && a.Incidents != nil {
		for _, in := range a.Incidents() {
			if q.Service == "" || in.Service == q.Service {
				out = append(out, in)
			}
		}
		slices.SortStableFunc(out, func(x, y remediator.Incident) int { return y.Opened.Compare(x.Opened) })
	}
	if q.State == store.IncidentsOpen {
		return limited(out, q.Limit), nil
	}
	q.State = store.IncidentsClosed
	closed, err := a.Store.QueryIncidents(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, rec := range closed {
		in, err := decodeIncident(rec)
		if err != nil {
			a.Logger.Warn("undecodable incident", "id", rec.ID, "err", err)
			continue
		}
		out = append(out, in)
	}
	return limited(out, q.Limit), nil
}

func limited[T any](s []T, n int) []T {
	if n > 0 && len(s) > n {
		return s[:n]
	}
	return s
}

// decodeIncident reads a stored incident: its data is the remediator's
// Incident document; the columns win.
func decodeIncident(rec store.Incident) (remediator.Incident, error) {
	var v remediator.Incident
	if len(rec.Data) > 0 {
		if err := json.Unmarshal(rec.Data, &v); err != nil {
			return v, err
		}
	}
	v.ID, v.Service, v.State = rec.ID, rec.Service, remediator.State(rec.State)
	v.Opened, v.Updated, v.Closed = rec.Opened, rec.Updated, rec.Closed
	return v, nil
}

// incidentList is GET /api/v1/incidents: ?state=open (the default), closed
// or all; ?service=; ?limit= (default 100). A JSON array, open incidents
// first.
func (a *API) incidentList(r *http.Request) (any, error) {
	q := r.URL.Query()
	state := cmp.Or(q.Get("state"), store.IncidentsOpen)
	if state != store.IncidentsOpen && state != store.IncidentsClosed && state != store.IncidentsAll {
		return nil, badRequest("state must be open, closed or all")
	}
	limit, err := limitOf(q, 100)
	if err != nil {
		return nil, err
	}
	ins, err := a.incidents(r.Context(), store.IncidentQuery{State: state, Service: strings.TrimSpace(q.Get("service")), Limit: limit})
	if err != nil {
		return nil, err
	}
	if ins == nil {
		ins = []remediator.Incident{}
	}
	return ins, nil
}
