package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

func TestQuerySessions(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	save := func(id string, tier session.Tier, at time.Duration, incident string) {
		t.Helper()
		r := sampleRecord(id, tier, t0.Add(at))
		r.IncidentID = incident
		if err := s.SaveSession(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	save("t1-a", session.Tier1, 0, "")
	save("web-2", session.Tier2, time.Minute, "in-web")
	save("db-2", session.Tier2, 2*time.Minute, "in-db")
	save("web-3", session.Tier3, 3*time.Minute, "in-web")
	save("t1-b", session.Tier1, 4*time.Minute, "")
	for _, in := range []Incident{
		{ID: "in-web", Service: "web", State: "open", Opened: t0, Updated: t0},
		{ID: "in-db", Service: "db", State: "open", Opened: t0, Updated: t0},
	} {
		if err := s.SaveIncident(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	// A Tier 1 session that restarted cache has no incident of cache.
	if err := s.RecordAction(ctx, ActionRecord{Time: t0, SessionID: "t1-a", Service: "cache", Action: ActionRestart, Result: ResultRefusedTier}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		q    SessionQuery
		want []string
	}{
		{"all", SessionQuery{}, []string{"t1-b", "web-3", "db-2", "web-2", "t1-a"}},
		{"service of incidents", SessionQuery{Service: "web"}, []string{"web-3", "web-2"}},
		{"service of an action", SessionQuery{Service: "cache"}, []string{"t1-a"}},
		{"unknown service", SessionQuery{Service: "nope"}, nil},
		{"tier and service", SessionQuery{Service: "web", Tier: session.Tier2}, []string{"web-2"}},
		{"time range", SessionQuery{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []string{"db-2", "web-2"}},
		{"limit", SessionQuery{Limit: 2}, []string{"t1-b", "web-3"}},
	} {
		got, err := s.QuerySessions(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids(got), tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, ids(got), tc.want)
		}
	}
}

func TestQueryIncidents(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for _, in := range []Incident{
		{ID: "a", Service: "web", State: "closed", Opened: t0, Updated: t0, Closed: t0.Add(time.Hour)},
		{ID: "b", Service: "db", State: "open", Opened: t0.Add(time.Minute), Updated: t0},
		{ID: "c", Service: "web", State: "tier2", Opened: t0.Add(2 * time.Minute), Updated: t0},
		{ID: "d", Service: "db", State: "closed", Opened: t0.Add(3 * time.Minute), Updated: t0, Closed: t0.Add(3 * time.Hour)},
	} {
		if err := s.SaveIncident(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	idsOf := func(ins []Incident) []string {
		var out []string
		for _, in := range ins {
			out = append(out, in.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    IncidentQuery
		want []string
	}{
		{"all", IncidentQuery{}, []string{"d", "c", "b", "a"}},
		{"open", IncidentQuery{State: IncidentsOpen}, []string{"c", "b"}},
		{"closed", IncidentQuery{State: IncidentsClosed}, []string{"d", "a"}},
		{"closed of a service", IncidentQuery{State: IncidentsClosed, Service: "web"}, []string{"a"}},
		{"recently closed and open", IncidentQuery{ClosedSince: t0.Add(2 * time.Hour)}, []string{"d", "c", "b"}},
		{"limit", IncidentQuery{State: IncidentsAll, Limit: 1}, []string{"d"}},
	} {
		got, err := s.QueryIncidents(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(idsOf(got), tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, idsOf(got), tc.want)
		}
	}
	if _, err := s.QueryIncidents(ctx, IncidentQuery{State: "sideways"}); err == nil {
		t.Error("an unknown state is accepted")
	}
}

func TestCooldownUses(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for _, r := range []ActionRecord{
		act(-5*time.Hour, "web", ActionRestart, "s0"), // out of the 4h window
		act(-3*time.Hour, "web", ActionRestart, "s1"),
		act(-1*time.Hour, "web", ActionRestart, "s2"),
		act(-2*time.Hour, "db", ActionRedeploy, "s3"),
	} {
		r.Result = ResultAllowed
		if err := s.RecordAction(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordAction(ctx, ActionRecord{Time: t0.Add(-time.Minute), Service: "web", Action: ActionRestart, Result: ResultRefusedCooldown}); err != nil {
		t.Fatal(err)
	}
	got, err := s.CooldownUses(ctx, t0, map[string]time.Duration{ActionRestart: 4 * time.Hour, ActionRedeploy: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want := []CooldownUse{
		{Service: "db", Action: ActionRedeploy, Used: 1, Oldest: t0.Add(-2 * time.Hour)},
		{Service: "web", Action: ActionRestart, Used: 2, Oldest: t0.Add(-3 * time.Hour)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("uses:\n got %+v\nwant %+v", got, want)
	}
}

func TestPruneSessions(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	old := sampleRecord("old", session.Tier1, t0.Add(-40*24*time.Hour))
	running := sampleRecord("old-running", session.Tier2, t0.Add(-41*24*time.Hour))
	running.Outcome = session.OutcomeRunning
	recent := sampleRecord("recent", session.Tier1, t0.Add(-time.Hour))
	for _, r := range []session.Record{old, running, recent} {
		if err := s.SaveSession(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	pruned, err := s.PruneSessions(ctx, t0.Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pruned, []string{"old"}) {
		t.Errorf("pruned %v, want [old]", pruned)
	}
	left, err := s.ListSessions(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(left); !reflect.DeepEqual(got, []string{"recent", "old-running"}) {
		t.Errorf("left %v, want [recent old-running]", got)
	}
	if again, err := s.PruneSessions(ctx, t0.Add(-30*24*time.Hour)); err != nil || len(again) != 0 {
		t.Errorf("second prune: %v %v", again, err)
	}
}
