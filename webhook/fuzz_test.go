package webhook

import (
	stdjson "encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode checks that Decode never panics, that it rejects with a 400 or
// 422 and a one-line reason, that what it accepts keeps the promises of the
// package documentation, and that it accepts no body encoding/json finds
// malformed (the JSON v2 decoder is the stricter).
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob("testdata/am-*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed payloads: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		payload(nil),
		payload(func(_, a, _ map[string]any) { delete(a, "fingerprint") }),
		payload(func(_, _, l map[string]any) { l["service"] = "a\x1bb" }),
		payload(func(_, _, l map[string]any) { l["claudeops"] = "true"; delete(l, "service"); delete(l, "job") }),
		payload(func(p, _, _ map[string]any) {
			bad := baseAlert()
			delete(bad["labels"].(map[string]any), "service")
			delete(bad["labels"].(map[string]any), "job")
			p["alerts"] = append(p["alerts"].([]any), bad)
		}),
		`{"version":"4","alerts":[{"status":"resolved","labels":{"alertname":"x","job":"y"},"startsAt":"2025-01-01T00:00:00Z"}]}`,
		`{"version":"4","alerts":[null]}`, `null`, `{}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	labels := []string{"service", "container", "job"}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, alerts, rejected, err := Decode(body, labels)
		if err == nil && !stdjson.Valid(body) {
			t.Fatalf("accepted a body encoding/json finds malformed: %q", body)
		}
		for _, x := range rejected {
			if !slices.Contains(RejectReasons, x.Reason) || !isHex16(x.Fingerprint) {
				t.Fatalf("rejected %+v", x)
			}
			if oneLine(x.Detail) != x.Detail || !utf8.ValidString(x.Detail) || !strings.HasPrefix(x.Detail, fmt.Sprintf("alert %d (", x.Index)) {
				t.Fatalf("rejection detail %q is not one clean line naming the alert", x.Detail)
			}
		}
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %T, want *RequestError", err)
			}
			if re.Code != http.StatusBadRequest && re.Code != http.StatusUnprocessableEntity {
				t.Fatalf("code %d", re.Code)
			}
			if oneLine(re.Reason) != re.Reason || !utf8.ValidString(re.Reason) {
				t.Fatalf("reason %q is not one clean line", re.Reason)
			}
			if len(rejected) > 0 && re.Code != http.StatusUnprocessableEntity || alerts != nil {
				t.Fatalf("error %v with %d rejected and %d alerts", re, len(rejected), len(alerts))
			}
			return
		}
		if msg == nil || msg.Version != Version || len(alerts) == 0 || len(alerts)+len(rejected) != len(msg.Alerts) {
			t.Fatalf("accepted %+v with %d alerts, %d rejected", msg, len(alerts), len(rejected))
		}
		if checkText(msg.GroupKey, MaxGroupKeyBytes, false) != "" {
			t.Fatalf("groupKey %q accepted", msg.GroupKey)
		}
		for i, a := range alerts {
			lbls, anns := a.Labels.Map(), a.Annotations.Map()
			if a.Status != StatusFiring && a.Status != StatusResolved {
				t.Fatalf("alert %d: status %q accepted", i, a.Status)
			}
			if a.Ours != (lbls[OwnLabel] == "true") {
				t.Fatalf("alert %d: Ours %v with labels %v", i, a.Ours, lbls)
			}
			if !a.Ours && !ValidServiceName(a.Service) || a.Service != "" && !ValidServiceName(a.Service) {
				t.Fatalf("alert %d: service %q accepted", i, a.Service)
			}
			if want := firstService(lbls, labels); a.Service != want {
				t.Fatalf("alert %d: service %q, want %q", i, a.Service, want)
			}
			if lbls["alertname"] == "" || len(lbls) > MaxLabels || len(anns) > MaxAnnotations {
				t.Fatalf("alert %d: labels %v", i, lbls)
			}
			if !isHex16(a.Fingerprint) || a.StartsAt.IsZero() || a.GroupKey != msg.GroupKey {
				t.Fatalf("alert %d: %+v", i, a)
			}
			for k, v := range lbls {
				if checkName(k) != "" || checkText(v, MaxLabelValueBytes, false) != "" {
					t.Fatalf("alert %d: label %q=%q accepted", i, k, v)
				}
			}
			for k, v := range anns {
				if checkName(k) != "" || checkText(v, MaxAnnotationValueBytes, true) != "" {
					t.Fatalf("alert %d: annotation %q=%q accepted", i, k, v)
				}
			}
			if checkText(a.GeneratorURL, MaxLabelValueBytes, false) != "" {
				t.Fatalf("alert %d: generatorURL %q accepted", i, a.GeneratorURL)
			}
			_ = a.Key()
		}
	})
}

func firstService(labels map[string]string, names []string) string {
	for _, n := range names {
		if v := labels[n]; v != "" {
			return strings.ToLower(v) // services.Canonical, for a valid name
		}
	}
	return ""
}
