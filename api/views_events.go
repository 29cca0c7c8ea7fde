package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// The events view: what changed, service states, actions, incidents.

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
			alerts = append(alerts, al.Labels.Get("alertname"))
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
