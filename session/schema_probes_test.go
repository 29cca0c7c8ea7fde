package session

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTier1ProbeSchema: the probe plan's shape is enforced by the schema
// (the CLI makes the model retry); what the daemon refuses per probe
// (hosts, timeouts, credentials) is probes.Validate's.
func TestTier1ProbeSchema(t *testing.T) {
	wrap := func(service string) string { return `{"summary":"s","services":[` + service + `]}` }
	tests := []struct {
		name, raw string
		wantErr   bool
	}{
		{"checks only (the check mode)", wrap(`{"name":"web","checks":[]}`), false},
		{"every probe type", wrap(`{"name":"web","checks":[],"probes":[
			{"name":"http","type":"http","timeout_seconds":5,"http":{"url":"http://web:8080/healthz","method":"GET","valid_status_codes":[200,204],"body_regexp":"ok"}},
			{"name":"port","type":"tcp","tcp":{"target":"db:5432"}},
			{"name":"dns","type":"dns","dns":{"name":"web.example.com","type":"AAAA"}},
			{"name":"container","type":"container","container":{"service":"web"}},
			{"name":"backup","type":"declared_check","declared_check":{"service":"web","check":"backup"}},
			{"name":"errors","type":"prometheus","prometheus":{"expr":"sum(rate(http_errors_total[5m])) > 1"}}],
			"unplanned":[{"check":"restore-drill","reason":"prose"}]}`), false},
		{"a host outside the inventory is the daemon's to refuse", wrap(`{"name":"web","checks":[],"probes":[{"name":"x","type":"http","http":{"url":"http://10.0.0.1/"}}]}`), false},
		{"a long timeout is the daemon's to refuse", wrap(`{"name":"web","checks":[],"probes":[{"name":"x","type":"http","timeout_seconds":60,"http":{"url":"http://a/"}}]}`), false},
		{"unknown probe type", wrap(`{"name":"web","checks":[],"probes":[{"name":"x","type":"icmp"}]}`), true},
		{"unknown key", wrap(`{"name":"web","checks":[],"probes":[{"name":"x","type":"http","http":{"url":"http://a/","headers":{}}}]}`), true},
		{"POST", wrap(`{"name":"web","checks":[],"probes":[{"name":"x","type":"http","http":{"url":"http://a/","method":"POST"}}]}`), true},
		{"negative timeout", wrap(`{"name":"web","checks":[],"probes":[{"name":"x","type":"tcp","timeout_seconds":-1,"tcp":{"target":"a:1"}}]}`), true},
		{"dns type ANY", wrap(`{"name":"web","checks":[],"probes":[{"name":"x","type":"dns","dns":{"name":"a","type":"ANY"}}]}`), true},
		{"unplanned without reason", wrap(`{"name":"web","checks":[],"unplanned":[{"check":"x"}]}`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseTier1(json.RawMessage(tt.raw))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "schema") {
				t.Errorf("error %v does not name the schema", err)
			}
			if err == nil && strings.Contains(tt.name, "every probe type") {
				ps := r.Services[0].Probes
				if len(ps) != 6 || ps[0].HTTP == nil || ps[0].HTTP.ValidStatusCodes[1] != 204 || ps[5].Prometheus == nil ||
					ps[4].DeclaredCheck.Check != "backup" || r.Services[0].Unplanned[0].Check != "restore-drill" {
					t.Errorf("decoded %+v", r.Services[0])
				}
			}
		})
	}
}
