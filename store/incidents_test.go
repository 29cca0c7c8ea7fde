package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	svcs, err := s.IncidentServices(ctx, []string{"c", "a", "zz", "a"})
	if want := map[string]string{"a": "web", "c": "dns"}; err != nil || !reflect.DeepEqual(svcs, want) {
		t.Errorf("IncidentServices = %v, %v; want %v", svcs, err, want)
	}
	if svcs, err := s.IncidentServices(ctx, nil); err != nil || len(svcs) != 0 {
		t.Errorf("IncidentServices(nil) = %v, %v", svcs, err)
	}
	many := []string{"b"}
	for i := range 1200 { // more than one query's worth
		many = append(many, fmt.Sprintf("x%d", i))
	}
	many = append(many, "c")
	if svcs, err := s.IncidentServices(ctx, many); err != nil || !reflect.DeepEqual(svcs, map[string]string{"b": "db", "c": "dns"}) {
		t.Errorf("IncidentServices(1,202 ids) = %v, %v", svcs, err)
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

// An incident's log: a save appends its chunk, after emptying the log when
// told to; the store does not read the chunks; a document that is not JSON
// writes nothing, the chunk neither.
func TestIncidentLog(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	in := Incident{ID: "a", Service: "web", State: "open", Opened: t0, Updated: t0, Data: json.RawMessage(`{"alerts":null}`)}
	chunks := func(cs ...string) [][]byte {
		var out [][]byte
		for _, c := range cs {
			out = append(out, []byte(c))
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		append   string
		reset    bool
		data     string // the document, if not in's
		want     [][]byte
		wantFail bool
	}{
		{name: "first save", append: "1", want: chunks("1")},
		{name: "appended", append: "2", want: chunks("1", "2")},
		{name: "nothing to append", want: chunks("1", "2")},
		{name: "bytes the store does not read", append: "\x00\xff", want: chunks("1", "2", "\x00\xff")},
		{name: "document not JSON", append: "3", data: "{", wantFail: true, want: chunks("1", "2", "\x00\xff")},
		{name: "compacted", append: "123", reset: true, want: chunks("123")},
		{name: "emptied", reset: true},
	} {
		save := in
		if tc.append != "" {
			save.Append = []byte(tc.append)
		}
		save.ResetLog = tc.reset
		save.State = tc.name // shows whether the incident's row was written
		if tc.data != "" {
			save.Data = json.RawMessage(tc.data)
		}
		err := s.SaveIncidents(ctx, slices.Values([]Incident{save}), 0)
		if (err != nil) != tc.wantFail {
			t.Fatalf("%s: SaveIncidents = %v, want failure %v", tc.name, err, tc.wantFail)
		}
		if !tc.wantFail {
			in.State = tc.name
		}
		got, err := s.GetIncident(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != in.State || !reflect.DeepEqual(got.Log, tc.want) {
			t.Errorf("%s: state %q, log %q; want %q, %q", tc.name, got.State, got.Log, in.State, tc.want)
		}
		open, err := s.OpenIncidents(ctx)
		if err != nil || len(open) != 1 || !reflect.DeepEqual(open[0].Log, tc.want) {
			t.Errorf("%s: OpenIncidents = %+v, %v", tc.name, open, err)
		}
	}
}

// BenchmarkSaveIncidentLog saves a storm's worth of new alerts: 500
// incidents, each with 10 new alerts a save (250 bytes each, as the
// remediator's alert records), one chunk an incident.
//
//	go test -run '^$' -bench BenchmarkSaveIncidentLog ./store/
func BenchmarkSaveIncidentLog(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	const incidents, perSave = 500, 10
	chunk := bytes.Repeat([]byte("a"), 250*perSave)
	doc := json.RawMessage(`{"id":"x","service":"svc","state":"needs_human","alerts":null,"sessions":[]}`)
	ins := make([]Incident, incidents)
	for i := range ins {
		ins[i] = Incident{ID: fmt.Sprintf("inc-%d", i), Service: fmt.Sprintf("svc-%d", i), State: "needs_human", Opened: t0, Updated: t0, Data: doc, Append: chunk}
	}
	for b.Loop() {
		if err := s.SaveIncidents(ctx, slices.Values(ins), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*incidents*perSave), "ns/alert")
}
