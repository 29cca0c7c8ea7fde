package remediator

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/claude-ops/claude-ops/store"
	"github.com/claude-ops/claude-ops/webhook"
)

// fullAlert sets every field of webhook.Alert, so that a field added later
// and left out of the record fails TestBatchRoundTrip.
func fullAlert(n int) webhook.Alert {
	return webhook.Alert{
		Service: "web", Status: "resolved", Fingerprint: "0123456789abcdef",
		StartsAt:     time.Date(2026, 12, 6, 14, 0, 0, n, time.UTC),
		EndsAt:       time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC),
		Labels:       labels.FromMap(map[string]string{"alertname": "Down", "service": "web", "ünïcode": "✓"}),
		Annotations:  labels.FromMap(map[string]string{"summary": "line one\nline two"}),
		GeneratorURL: "http://prometheus:9090/graph?g0.expr=up",
		Ours:         true,
		GroupKey:     `{}:{service="web"}`,
	}
}

func TestBatchRoundTrip(t *testing.T) {
	a := fullAlert(1)
	v := reflect.ValueOf(a)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fullAlert leaves %s zero: set it, and write it in appendBatch", v.Type().Field(i).Name)
		}
	}
	b := fullAlert(2)
	b.Ours, b.EndsAt, b.Annotations, b.Status = false, time.Time{}, labels.EmptyLabels(), "firing"
	for _, batch := range [][]webhook.Alert{{a}, {a, b}, {}} {
		got, err := readBatch(appendBatch([]byte("prefix")[6:], batch))
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, batch) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, batch)
		}
	}
}

// A batch an older daemon wrote (JSON) is read too.
func TestBatchReadsJSON(t *testing.T) {
	batch := []webhook.Alert{fullAlert(3)}
	data, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readBatch(data)
	if err != nil || !reflect.DeepEqual(got, batch) {
		t.Errorf("readBatch(JSON) = %+v, %v", got, err)
	}
}

// A damaged record is an error, never a panic or a huge allocation.
func FuzzReadBatch(f *testing.F) {
	f.Add(appendBatch(nil, []webhook.Alert{fullAlert(1), fullAlert(2)}))
	f.Add([]byte{recordV1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{recordV1, 1, 0})
	f.Add([]byte(`[{"Service":"db"}]`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		alerts, err := readBatch(b)
		if err != nil {
			return
		}
		if len(b) > 0 && b[0] == recordV1 {
			// What decodes encodes back to what decodes the same.
			again, err := readBatch(appendBatch(nil, alerts))
			if err != nil || len(again) != len(alerts) {
				t.Fatalf("re-encoded batch: %d alerts, %v; want %d", len(again), err, len(alerts))
			}
		}
	})
}

func BenchmarkBatchEncode(b *testing.B) {
	batch := []webhook.Alert{fullAlert(1)}
	b.Run("record", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendBatch(buf[:0], batch)
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(batch); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// An incident's alerts keep their labels and annotations as label sets; the
// API's document renders them as JSON objects, as before; the alert log
// gives them back as they were; records saved by an older daemon (the
// alerts in the document) decode.
func TestAlertLabelsJSON(t *testing.T) {
	in := newIncident("inc-1", "web", policy{}, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	in.upsertAlert(alertFrom(fullAlert(1)))
	in.upsertAlert(alertFrom(webhook.Alert{Fingerprint: "00000000000000aa", Status: "firing", Labels: labels.FromMap(map[string]string{"alertname": "Bare"})}))
	doc, err := json.Marshal(in.Incident)
	if err != nil {
		t.Fatal(err)
	}
	var shown struct {
		Alerts []map[string]json.RawMessage `json:"alerts"`
	}
	if err := json.Unmarshal(doc, &shown); err != nil {
		t.Fatal(err)
	}
	if got, want := string(shown.Alerts[0]["labels"]), `{"alertname":"Down","service":"web","ünïcode":"✓"}`; got != want {
		t.Errorf("labels shown as %s, want %s", got, want)
	}
	if got, want := string(shown.Alerts[0]["annotations"]), `{"summary":"line one\nline two"}`; got != want {
		t.Errorf("annotations shown as %s, want %s", got, want)
	}
	if _, ok := shown.Alerts[1]["annotations"]; ok {
		t.Errorf("empty annotations shown: %s", doc)
	}
	rec, _, err := recordOf(in.Incident, savedAlerts{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.Log = [][]byte{rec.Append} // as the store gives it back
	for name, r := range map[string]store.Incident{"saved": rec, "saved by an older daemon": {ID: in.ID, Data: doc}} {
		back, err := DecodeIncident(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(back.Alerts, in.Alerts) {
			t.Errorf("%s: decoded alerts %+v, want %+v", name, back.Alerts, in.Alerts)
		}
		if got := back.Alerts[0].Labels.Get("ünïcode"); got != "✓" {
			t.Errorf("%s: label read back as %q", name, got)
		}
	}
}

// A save writes the document and appends to the alert log only the alerts
// not saved as they are: new ones, and those changed (replaced) since the
// last save. A log grown past twice the alerts is written afresh.
func TestRecordWritesChangedAlerts(t *testing.T) {
	in := newIncident("inc-1", "web", policy{}, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	fire := func(n int) {
		in.upsertAlert(alertFrom(webhook.Alert{Fingerprint: fmt.Sprintf("%016x", n), Status: "firing", Labels: labels.FromMap(map[string]string{"n": fmt.Sprint(n)})}))
	}
	var (
		log   [][]byte // what the store holds
		saved savedAlerts
	)
	save := func(wantWritten int, wantReset bool) {
		t.Helper()
		rec, next, err := recordOf(in.view(), saved, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rec.ResetLog != wantReset {
			t.Errorf("ResetLog %v, want %v", rec.ResetLog, wantReset)
		}
		if rec.ResetLog {
			log = nil
		}
		written := 0
		if rec.Append != nil {
			log = append(log, rec.Append)
			es, err := readAlertChunk(rec.Append)
			if err != nil {
				t.Fatal(err)
			}
			written = len(es)
		}
		if written != wantWritten {
			t.Errorf("%d alerts written, want %d", written, wantWritten)
		}
		rec.Log = log
		back, entries, err := decodeRecord(rec)
		if err != nil || !reflect.DeepEqual(back.Alerts, in.Alerts) {
			t.Fatalf("decoded %+v, %v; want %+v", back.Alerts, err, in.Alerts)
		}
		if entries != next.entries {
			t.Errorf("the log holds %d entries, recordOf says %d", entries, next.entries)
		}
		saved = next
	}
	fire(0)
	fire(1)
	fire(2)
	save(3, false)
	save(0, false)
	fire(1) // the same alert again: no change
	in.resolveAlert(Alert{Fingerprint: fmt.Sprintf("%016x", 2)})
	fire(3)
	save(2, false)
	if in.Alerts[2].Status != "resolved" {
		t.Fatalf("alert 2 is %s, want resolved", in.Alerts[2].Status)
	}
	// 4 alerts, 5 entries: changing them one at a time grows the log until
	// it would pass 2×4+8 entries, when it is written afresh.
	for k := 0; ; k++ {
		in.resolveAlert(Alert{Fingerprint: fmt.Sprintf("%016x", k%4), EndsAt: time.Unix(int64(k+1), 0).UTC()})
		if saved.entries+1 <= 2*4+8 {
			save(1, false)
			continue
		}
		save(4, true)
		if len(log) != 1 || saved.entries != 4 || k != 11 {
			t.Errorf("rewritten at change %d: %d chunks, %d entries; want at 11, 1, 4", k, len(log), saved.entries)
		}
		break
	}
}

// What the alert log reader accepts it writes back the same; it never
// panics on a damaged chunk.
func FuzzReadAlertLog(f *testing.F) {
	second := alertFrom(fullAlert(2))
	second.Fingerprint = "00000000000000aa"
	alerts := []*Alert{new(alertFrom(fullAlert(1))), &second}
	f.Add(appendAlertLog(nil, alerts, []int{0, 1}))
	f.Add(appendAlertLog(nil, alerts, []int{0, 0}))
	f.Add([]byte{alertLogV1, 1, 1})
	f.Add([]byte{alertLogV1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		alerts, _, err := readAlertLog([][]byte{b})
		if err != nil {
			return
		}
		which := make([]int, len(alerts))
		for i := range which {
			which[i] = i
		}
		again, n, err := readAlertLog([][]byte{appendAlertLog(nil, alerts, which)})
		if err != nil || n != len(alerts) || !reflect.DeepEqual(again, alerts) {
			t.Fatalf("re-encoded log: %d alerts, %v; want %d", n, err, len(alerts))
		}
	})
}
