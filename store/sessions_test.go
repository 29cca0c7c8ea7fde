package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

func sampleRecord(id string, tier session.Tier, start time.Time) session.Record {
	return session.Record{
		ID: id, Tier: tier, Model: "claude-sonnet-4-5", Trigger: session.TriggerSchedule,
		Start: start, End: start.Add(90 * time.Second), Duration: 90 * time.Second,
		Outcome: session.OutcomeHealthy, Turns: 7, CostUSD: 0.25,
		Tokens:           map[string]session.Tokens{"claude-sonnet-4-5": {Input: 10, Output: 20, CacheRead: 30, CacheCreation: 40}},
		Denials:          []session.Denial{{Tool: "Bash", Reason: "denied"}},
		Actions:          []session.Action{{Time: start, Service: "web", Action: "restart", Result: "allowed", Command: "docker restart web"}},
		StructuredOutput: json.RawMessage(`{"summary":"ok","services":[]}`),
	}
}

func TestSessionRoundTripAndUpsert(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	rec := sampleRecord("s1", session.Tier1, t0)
	if err := s.SaveSession(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSession(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, rec)
	}

	rec.Outcome, rec.CostUSD, rec.IncidentID = session.OutcomeIssuesFound, 1.5, "inc-1"
	if err := s.SaveSession(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetSession(ctx, "s1")
	if err != nil || got.Outcome != session.OutcomeIssuesFound || got.CostUSD != 1.5 {
		t.Errorf("after upsert: %+v, %v", got, err)
	}
	all, err := s.ListSessions(ctx, ListOptions{})
	if err != nil || len(all) != 1 {
		t.Errorf("upsert duplicated the row: %d, %v", len(all), err)
	}
	if spent, err := s.SpentSince(ctx, t0); err != nil || spent != 1.5 {
		t.Errorf("SpentSince after upsert = %v, %v", spent, err)
	}
}

func TestGetSessionNotFound(t *testing.T) {
	s, _ := openTemp(t)
	_, err := s.GetSession(context.Background(), "nope")
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("err = %v", err)
	}
	if err := s.SaveSession(context.Background(), session.Record{}); err == nil {
		t.Error("saved a record without an id")
	}
}

func ids(recs []session.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func TestListSessions(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for i, tier := range []session.Tier{1, 2, 1, 3, 2} {
		r := sampleRecord(string(rune('a'+i)), tier, t0.Add(time.Duration(i)*time.Minute))
		if tier > 1 {
			r.IncidentID = "inc-" + tier.String()
		}
		if err := s.SaveSession(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		o    ListOptions
		want []string
	}{
		{ListOptions{}, []string{"e", "d", "c", "b", "a"}},
		{ListOptions{Limit: 2}, []string{"e", "d"}},
		{ListOptions{Tier: session.Tier1}, []string{"c", "a"}},
		{ListOptions{IncidentID: "inc-2"}, []string{"e", "b"}},
		{ListOptions{Tier: session.Tier3, IncidentID: "inc-2"}, nil},
		{ListOptions{Tier: session.Tier2, IncidentID: "inc-2", Limit: 1}, []string{"e"}},
	}
	for _, c := range cases {
		got, err := s.ListSessions(ctx, c.o)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids(got), c.want) {
			t.Errorf("%+v: got %v, want %v", c.o, ids(got), c.want)
		}
	}
}

func TestMarkRunningInterrupted(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	running := sampleRecord("run", session.Tier2, t0)
	running.Outcome, running.End, running.Duration = session.OutcomeRunning, time.Time{}, 0
	done := sampleRecord("done", session.Tier1, t0)
	for _, r := range []session.Record{running, done} {
		if err := s.SaveSession(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(5 * time.Minute)
	got, err := s.MarkRunningInterrupted(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "run" || got[0].Outcome != session.OutcomeInterrupted ||
		!got[0].End.Equal(now) || got[0].Duration != 5*time.Minute || got[0].Reason == "" {
		t.Fatalf("returned %+v", got)
	}
	stored, err := s.GetSession(ctx, "run")
	if err != nil || !reflect.DeepEqual(stored, got[0]) {
		t.Errorf("stored %+v, %v", stored, err)
	}
	if d, _ := s.GetSession(ctx, "done"); d.Outcome != session.OutcomeHealthy {
		t.Errorf("an ended session changed: %s", d.Outcome)
	}
	if again, err := s.MarkRunningInterrupted(ctx, now); err != nil || len(again) != 0 {
		t.Errorf("second call: %v, %v", ids(again), err)
	}
}

func TestSpentSince(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	if spent, err := s.SpentSince(ctx, t0); err != nil || spent != 0 {
		t.Errorf("empty: %v, %v", spent, err)
	}
	for i, cost := range []float64{1, 2, 4} {
		r := sampleRecord(string(rune('a'+i)), session.Tier1, t0.Add(time.Duration(i)*time.Hour))
		r.CostUSD = cost
		if err := s.SaveSession(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for since, want := range map[time.Duration]float64{-time.Hour: 7, 0: 7, time.Hour: 6, 90 * time.Minute: 4, 3 * time.Hour: 0} {
		if got, err := s.SpentSince(ctx, t0.Add(since)); err != nil || got != want {
			t.Errorf("SpentSince(t0%+v) = %v, %v; want %v", since, got, err, want)
		}
	}
}

// A restart's blast radius: each session of an incident since a time, with
// its service from its own record, else from its incident's row.
func TestIncidentSessionsSince(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	if err := s.SaveIncidents(ctx, slices.Values([]Incident{
		{ID: "inc-db", Service: "db", State: "tier2", Opened: t0, Updated: t0, Data: []byte(`{}`)},
	}), 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, incident, service string
		start                 time.Time
	}{
		{"before", "inc-web", "web", t0.Add(-time.Second)},        // started before since
		{"unsaved", "inc-web", "web", t0.Add(time.Second)},        // its incident not saved: its own service
		{"old-record", "inc-db", "", t0.Add(2 * time.Second)},     // a record without one: the incident's
		{"tier1", "", "", t0.Add(3 * time.Second)},                // no incident
		{"nameless", "inc-gone", "", t0.Add(4 * time.Second)},     // neither
		{"own-first", "inc-db", "cache", t0.Add(5 * time.Second)}, // its own wins
	} {
		rec := sampleRecord(tc.id, session.Tier2, tc.start)
		rec.IncidentID, rec.Service = tc.incident, tc.service
		if err := s.SaveSession(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.IncidentSessionsSince(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := []SessionStart{
		{"web", t0.Add(time.Second)}, {"db", t0.Add(2 * time.Second)}, {"cache", t0.Add(5 * time.Second)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Service != want[i].Service || !got[i].Start.Equal(want[i].Start) {
			t.Errorf("[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
