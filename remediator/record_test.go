package remediator

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/webhook"
)

// fullAlert sets every field of webhook.Alert, so that a field added later
// and left out of the record fails TestBatchRoundTrip.
func fullAlert(n int) webhook.Alert {
	return webhook.Alert{
		Service: "web", Status: "resolved", Fingerprint: "0123456789abcdef",
		StartsAt:     time.Date(2026, 12, 6, 14, 0, 0, n, time.UTC),
		EndsAt:       time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC),
		Labels:       map[string]string{"alertname": "Down", "service": "web", "ünïcode": "✓"},
		Annotations:  map[string]string{"summary": "line one\nline two"},
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
	b.Ours, b.EndsAt, b.Annotations, b.Status = false, time.Time{}, nil, "firing"
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

// An incident's alerts keep their labels and annotations as label sets, and
// the stored document keeps them as JSON objects, as before: records saved
// by an older daemon decode, and new ones read the same.
func TestAlertLabelsJSON(t *testing.T) {
	in := newIncident("inc-1", "web", policy{}, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	in.upsertAlert(alertFrom(fullAlert(1)))
	in.upsertAlert(alertFrom(webhook.Alert{Fingerprint: "00000000000000aa", Status: "firing", Labels: map[string]string{"alertname": "Bare"}}))
	rec, err := recordOf(in.Incident)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Alerts []map[string]json.RawMessage `json:"alerts"`
	}
	if err := json.Unmarshal(rec.Data, &doc); err != nil {
		t.Fatal(err)
	}
	if got, want := string(doc.Alerts[0]["labels"]), `{"alertname":"Down","service":"web","ünïcode":"✓"}`; got != want {
		t.Errorf("labels stored as %s, want %s", got, want)
	}
	if got, want := string(doc.Alerts[0]["annotations"]), `{"summary":"line one\nline two"}`; got != want {
		t.Errorf("annotations stored as %s, want %s", got, want)
	}
	if _, ok := doc.Alerts[1]["annotations"]; ok {
		t.Errorf("empty annotations stored: %s", rec.Data)
	}
	back, err := decodeIncident(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Alerts, in.Alerts) {
		t.Errorf("decoded alerts %+v, want %+v", back.Alerts, in.Alerts)
	}
	if got := back.Alerts[0].Labels.Get("ünïcode"); got != "✓" {
		t.Errorf("label read back as %q", got)
	}
}
