package session

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestOutcomeFor(t *testing.T) {
	okCheck := `{"name":"http","type":"http","status":"ok","latency_ms":12.5,"detail":"200"}`
	downCheck := `{"name":"db","type":"database","status":"down","latency_ms":0,"detail":"refused"}`
	tests := []struct {
		name    string
		tier    Tier
		raw     string
		want    Outcome
		wantErr string
	}{
		{"tier1 healthy", Tier1, `{"summary":"ok","services":[{"name":"web","checks":[` + okCheck + `]}]}`, OutcomeHealthy, ""},
		{"tier1 issues", Tier1, `{"summary":"db down","services":[{"name":"web","checks":[` + okCheck + `,` + downCheck + `]}]}`, OutcomeIssuesFound, ""},
		{"tier1 no services is healthy", Tier1, `{"summary":"nothing","services":[]}`, OutcomeHealthy, ""},
		{"missing structured output", Tier1, ``, OutcomeError, "no structured_output"},
		{"null structured output", Tier2, `null`, OutcomeError, "no structured_output"},
		{"tier1 bad type enum", Tier1, `{"summary":"x","services":[{"name":"web","checks":[{"name":"a","type":"ftp","status":"ok","latency_ms":1,"detail":""}]}]}`, OutcomeError, "schema"},
		{"tier1 missing services", Tier1, `{"summary":"x"}`, OutcomeError, "schema"},
		{"tier1 negative latency", Tier1, `{"summary":"x","services":[{"name":"web","checks":[{"name":"a","type":"http","status":"ok","latency_ms":-1,"detail":""}]}]}`, OutcomeError, "schema"},
		{"tier2 fixed", Tier2, `{"summary":"restarted","outcome":"fixed","actions":[{"service":"web","action":"restart","target":"web","result":"ok"}],"findings":"oom"}`, OutcomeRemediated, ""},
		{"tier3 not fixed", Tier3, `{"summary":"no","outcome":"not_fixed","actions":[],"findings":"?"}`, OutcomeNotFixed, ""},
		{"tier2 needs human", Tier2, `{"summary":"no","outcome":"needs_human","actions":[],"findings":"disk"}`, OutcomeNeedsHuman, ""},
		{"tier2 unknown outcome", Tier2, `{"summary":"no","outcome":"maybe","actions":[],"findings":""}`, OutcomeError, "schema"},
		{"tier2 given a tier1 result", Tier2, `{"summary":"ok","services":[]}`, OutcomeError, "schema"},
		{"not JSON", Tier1, `{"summary":`, OutcomeError, "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OutcomeFor(tt.tier, json.RawMessage(tt.raw))
			if got != tt.want {
				t.Errorf("outcome = %s, want %s (err %v)", got, tt.want, err)
			}
			if tt.wantErr == "" && err != nil {
				t.Errorf("unexpected error %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestSchemasAreValidJSON(t *testing.T) {
	for _, tier := range []Tier{Tier1, Tier2, Tier3} {
		var v map[string]any
		if err := json.Unmarshal([]byte(Schema(tier)), &v); err != nil {
			t.Fatalf("tier %d schema: %v", tier, err)
		}
	}
}

func TestCancelCause(t *testing.T) {
	o, ok := OutcomeOf(Cancelled(OutcomeResolved))
	if !ok || o != OutcomeResolved {
		t.Fatalf("OutcomeOf(Cancelled(resolved)) = %s, %v", o, ok)
	}
	if _, ok := OutcomeOf(nil); ok {
		t.Fatal("OutcomeOf(nil) reported an outcome")
	}
}
