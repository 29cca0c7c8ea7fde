package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestIncidents(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	a := Incident{ID: "a", Service: "web", State: "open", Opened: t0.Add(time.Hour), Updated: t0.Add(time.Hour),
		Data: json.RawMessage(`{"alerts":["x"]}`)}
	b := Incident{ID: "b", Service: "db", State: "tier2", Opened: t0, Updated: t0}
	c := Incident{ID: "c", Service: "dns", State: "resolved", Opened: t0.Add(-time.Hour), Updated: t0, Closed: t0}
	for _, in := range []Incident{a, b, c} {
		if err := s.SaveIncident(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetIncident(ctx, "a")
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Errorf("GetIncident = %+v, %v", got, err)
	}
	if _, err := s.GetIncident(ctx, "zz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing incident: %v", err)
	}
	open, err := s.OpenIncidents(ctx)
	if err != nil || !reflect.DeepEqual(open, []Incident{b, a}) {
		t.Errorf("OpenIncidents = %+v, %v", open, err)
	}
	// Upsert: close b.
	b.State, b.Closed, b.Updated = "resolved", t0.Add(2*time.Hour), t0.Add(2*time.Hour)
	if err := s.SaveIncident(ctx, b); err != nil {
		t.Fatal(err)
	}
	if open, _ = s.OpenIncidents(ctx); !reflect.DeepEqual(open, []Incident{a}) {
		t.Errorf("OpenIncidents after closing b = %+v", open)
	}
	list, err := s.ListIncidents(ctx, 0)
	if err != nil || !reflect.DeepEqual(list, []Incident{a, b, c}) {
		t.Errorf("ListIncidents = %+v, %v", list, err)
	}
	if list, _ = s.ListIncidents(ctx, 2); len(list) != 2 || list[1].ID != "b" {
		t.Errorf("ListIncidents(2) = %+v", list)
	}
	if err := s.SaveIncident(ctx, Incident{ID: "bad", Data: json.RawMessage(`{`)}); err == nil {
		t.Error("saved invalid JSON data")
	}
}

// SaveIncidents persists the incidents and raises the inbox's applied
// sequence number in one transaction: all of it, or on an error none of it.
func TestSaveIncidentsAndInboxApplied(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	applied := func() uint64 {
		t.Helper()
		seq, err := s.InboxApplied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	if got := applied(); got != 0 {
		t.Fatalf("applied on a new store = %d, want 0", got)
	}
	a := Incident{ID: "a", Service: "web", State: "tier2", Opened: t0, Updated: t0, Data: json.RawMessage(`{"n":1}`)}
	b := Incident{ID: "b", Service: "db", State: "open", Opened: t0, Updated: t0}
	if err := s.SaveIncidents(ctx, slices.Values([]Incident{a, b}), 7); err != nil {
		t.Fatal(err)
	}
	for _, want := range []Incident{a, b} {
		if got, err := s.GetIncident(ctx, want.ID); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("GetIncident(%s) = %+v, %v", want.ID, got, err)
		}
	}
	if got := applied(); got != 7 {
		t.Errorf("applied after the save = %d, want 7", got)
	}

	// A failure in the middle of the transaction (the second incident's
	// insert) leaves the first incident and the applied number as they were.
	if _, err := s.db.ExecContext(ctx, `CREATE TRIGGER refuse_bad BEFORE INSERT ON incidents
WHEN NEW.id = 'bad' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	a2 := a
	a2.State, a2.Updated = "verify2", t0.Add(time.Minute)
	bad := Incident{ID: "bad", Service: "dns", State: "open", Opened: t0, Updated: t0}
	if err := s.SaveIncidents(ctx, slices.Values([]Incident{a2, bad}), 9); err == nil {
		t.Fatal("SaveIncidents with a refused insert returned nil")
	}
	if got, _ := s.GetIncident(ctx, "a"); got.State != "tier2" {
		t.Errorf("incident a half-saved: state %s", got.State)
	}
	if got := applied(); got != 7 {
		t.Errorf("applied after the failed save = %d, want 7 untouched", got)
	}
	// Invalid input is refused before anything is written.
	if err := s.SaveIncidents(ctx, slices.Values([]Incident{a2, {Service: "x"}}), 9); err == nil {
		t.Error("an incident without an id was accepted")
	}
	if got := applied(); got != 7 {
		t.Errorf("applied after the refused save = %d", got)
	}
	// The number alone can be saved; it never goes down; 0 leaves it.
	for _, c := range []struct{ save, want uint64 }{{12, 12}, {10, 12}, {0, 12}} {
		if err := s.SaveIncidents(ctx, nil, c.save); err != nil {
			t.Fatal(err)
		}
		if got := applied(); got != c.want {
			t.Errorf("after saving %d: applied = %d, want %d", c.save, got, c.want)
		}
	}
}
