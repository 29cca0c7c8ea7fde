package webhook

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func checkAppendJSON(t *testing.T, alerts []Alert) {
	t.Helper()
	want, werr := json.Marshal(alerts)
	got, gerr := AppendJSON([]byte("prefix"), alerts)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("AppendJSON error %v, json.Marshal error %v", gerr, werr)
	}
	if werr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("AppendJSON\n%s\njson.Marshal\n%s", got, want)
	}
}

// TestAppendJSON checks that AppendJSON writes what json.Marshal does.
func TestAppendJSON(t *testing.T) {
	for _, name := range []string{"am-0.25", "am-0.34"} {
		_, alerts, _, err := Decode([]byte(readTestdata(t, name+".json")), nil)
		if err != nil {
			t.Fatal(err)
		}
		checkAppendJSON(t, alerts)
	}
	for _, body := range stormBodies(2, 10) {
		_, alerts, _, err := Decode([]byte(body), nil)
		if err != nil {
			t.Fatal(err)
		}
		checkAppendJSON(t, alerts)
	}
	checkAppendJSON(t, nil)
	checkAppendJSON(t, []Alert{})
	checkAppendJSON(t, []Alert{{}})
	checkAppendJSON(t, []Alert{{StartsAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}) // both fail
	checkAppendJSON(t, []Alert{{
		Service: "a<b>&c", Status: "\"\\\b\f\n\r\t\x00\x1f\x7f", Fingerprint: "\xff\xfe", GroupKey: "\u2028\u2029é😀",
		StartsAt: time.Date(2025, 6, 3, 11, 14, 27, 500, time.FixedZone("", 2*3600+30*60)), EndsAt: time.Unix(1, 0).UTC(),
		Labels: map[string]string{"b": "1", "a": "2", "é": "3", "": ""}, Annotations: map[string]string{}, Ours: true,
	}})
}

// FuzzAppendJSON checks AppendJSON against json.Marshal on any strings.
func FuzzAppendJSON(f *testing.F) {
	f.Add("web", "firing", "k", "v", int64(0), int64(1))
	f.Add("a<b>&\u2028", "\xff", "\x00", "\"\\", int64(-62135596800), int64(253402300800))
	f.Fuzz(func(t *testing.T, svc, status, k, v string, start, end int64) {
		checkAppendJSON(t, []Alert{{
			Service: svc, Status: status, Fingerprint: k + v, GroupKey: v + svc, GeneratorURL: status,
			StartsAt: time.Unix(start, end%1e9).UTC(), EndsAt: time.Unix(end, 0).In(time.FixedZone("", int(start%86400))),
			Labels: map[string]string{k: v, v: k, svc: status}, Annotations: map[string]string{status: svc},
		}})
	})
}
