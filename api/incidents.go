package api

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/store"
)

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
		in, err := remediator.DecodeIncident(rec)
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
