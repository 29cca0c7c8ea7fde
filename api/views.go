package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

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
	var ids []string
	for _, rec := range recs {
		if rec.IncidentID != "" {
			ids = append(ids, rec.IncidentID)
		}
	}
	services, err := a.Store.IncidentServices(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	out := make([]sessionRow, 0, len(recs))
	for _, rec := range recs {
		svc := services[rec.IncidentID]
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
