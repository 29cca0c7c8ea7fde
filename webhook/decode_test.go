package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestDecodeGolden decodes the Alertmanager samples and compares the alerts
// with testdata/*.alerts.golden.json.
func TestDecodeGolden(t *testing.T) {
	for _, name := range []string{"am-0.25", "am-0.34"} {
		t.Run(name, func(t *testing.T) {
			msg, alerts, rejected, err := Decode([]byte(readTestdata(t, name+".json")), nil)
			if err != nil || len(rejected) != 0 {
				t.Fatal(err, rejected)
			}
			if msg.Receiver != "claude-ops" || msg.ExternalURL != "http://alertmanager.example.org:9093" || msg.TruncatedAlerts != 0 {
				t.Errorf("message %+v", msg)
			}
			wantReason := map[string]string{"am-0.25": "", "am-0.34": "new alerts added"}[name]
			if msg.NotificationReason != wantReason {
				t.Errorf("notification_reason %q, want %q", msg.NotificationReason, wantReason)
			}
			got, err := json.MarshalIndent(alerts, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := "testdata/" + name + ".alerts.golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded alerts differ from %s (go test ./webhook -run TestDecodeGolden -update):\n%s", golden, got)
			}
		})
	}
}

func TestDecodeErrorIsRequestError(t *testing.T) {
	_, _, _, err := Decode([]byte(`{"version":"4","alerts":[]}`), nil)
	re, ok := errors.AsType[*RequestError](err)
	if !ok || re.Code != 400 || re.Error() != "no alerts" {
		t.Errorf("err %#v", err)
	}
}

func TestValidServiceName(t *testing.T) {
	for s, want := range map[string]bool{
		"web": true, "a": true, "0": true, "node_exporter:9100": true, "db-1.prod": true, "A_b.c:d-e": true,
		strings.Repeat("x", 128): true, strings.Repeat("x", 129): false,
		"": false, "-rf": false, "_x": false, ".hidden": false, ":x": false, "a b": false, "a/b": false,
		"a;b": false, "$(x)": false, "`x`": false, "a|b": false, "a\nb": false, "\x1b[0m": false, "café": false,
		"a\x00": false, "../x": false, "x*": false, "~x": false,
	} {
		if got := ValidServiceName(s); got != want {
			t.Errorf("ValidServiceName(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestAlertKey(t *testing.T) {
	msg := `{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"A","job":"j"},"startsAt":"2025-06-03T11:14:27.5+02:00","fingerprint":"0123456789abcdef"}]}`
	_, alerts, _, err := Decode([]byte(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := alerts[0].Key()
	if got, want := k.String(), "0123456789abcdef|2025-06-03T09:14:27.5Z|firing"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
	if want := (Key{Fingerprint: 0x0123456789abcdef, StartsAt: 1748942067, Nanos: 5e8}); k != want {
		t.Errorf("Key() = %+v, want %+v", k, want)
	}
	// Another status, instant or fingerprint is another key; the same
	// instant in another zone is the same key.
	b := alerts[0]
	b.Status = StatusResolved
	c := alerts[0]
	c.StartsAt = c.StartsAt.Add(time.Nanosecond)
	d := alerts[0]
	d.Fingerprint = "0123456789abcdee"
	e := alerts[0]
	e.StartsAt = e.StartsAt.UTC()
	if b.Key() == k || c.Key() == k || d.Key() == k || e.Key() != k {
		t.Errorf("keys: resolved %v, +1ns %v, other fingerprint %v, UTC %v; base %v", b.Key(), c.Key(), d.Key(), e.Key(), k)
	}
}

// TestServiceCanonical: the service is spelled as services.Canonical spells
// it, so an alert's case does not split one service into two incidents
// (or two cooldown keys, or two metric series); the labels stay as sent.
func TestServiceCanonical(t *testing.T) {
	msg := `{"version":"4","alerts":[
{"status":"firing","labels":{"alertname":"A","service":"Web"},"startsAt":"2025-06-03T11:14:27Z","fingerprint":"0123456789abcdef"},
{"status":"firing","labels":{"alertname":"B","container":"SHOP-web-1"},"startsAt":"2025-06-03T11:14:27Z","fingerprint":"0123456789abcdee"}]}`
	_, alerts, _, err := Decode([]byte(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 2 || alerts[0].Service != "web" || alerts[1].Service != "shop-web-1" || alerts[0].Labels.Get("service") != "Web" {
		t.Errorf("alerts = %+v", alerts)
	}
}

// The group and common labels and annotations are not read (every alert
// carries its own): any JSON value there is skipped, while the fields read
// keep their types.
func TestDecodeSkipsGroupAndCommon(t *testing.T) {
	body := payload(func(p, _, _ map[string]any) {
		p["groupLabels"], p["commonLabels"], p["commonAnnotations"], p["routeLabels"] = 5, "x", []any{1}, nil
	})
	if _, alerts, _, err := Decode([]byte(body), nil); err != nil || len(alerts) != 1 {
		t.Errorf("Decode = %d alerts, %v; want the alert", len(alerts), err)
	}
	body = payload(func(p, _, _ map[string]any) { p["receiver"] = 5 })
	if _, _, _, err := Decode([]byte(body), nil); err == nil {
		t.Error("a receiver that is a number was accepted")
	}
}

// An alert's labels and annotations are read straight into label sets:
// sorted, unescaped, each name once, every value a string.
func TestLabelSet(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: the set as Prometheus prints it, or "error"
	}{
		{`{"b":"2","a":"1"}`, `{a="1", b="2"}`},
		{`{}`, `{}`},
		{`null`, `{}`},
		{`{"\u0061lert\"name":"x\ny","ünï":"✓"}`, `{"alert\"name"="x\ny", "ünï"="✓"}`},
		{`{"a":"1","a":"2"}`, "error"},
		{`{"a":1}`, "error"},
		{`{"a":null}`, "error"},
		{`{"a":{"b":"c"}}`, "error"},
		{`["a","b"]`, "error"},
		{`"a"`, "error"},
		{`{"a":"\ud800"}`, "error"},
	} {
		var s LabelSet
		err := jsonv2.Unmarshal([]byte(tc.in), &s) // as Decode reads it
		got := "error"
		if err == nil {
			got = s.String()
		}
		if got != tc.want {
			t.Errorf("%s: got %s (%v), want %s", tc.in, got, err, tc.want)
		}
	}
}
