package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
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
