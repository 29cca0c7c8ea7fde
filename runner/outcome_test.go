package runner

import (
	"strings"
	"testing"

	"github.com/claude-ops/claude-ops/session"
)

// TestJudgeAuthFailed: a run the model API ended with a 401 (the CLI stops
// at once when the answer says x-should-retry: false) is auth_failed, not a
// generic error, and says the key was rejected.
func TestJudgeAuthFailed(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     session.Outcome
	}{
		{"401", `{"type":"assistant","message":{"model":"<synthetic>","content":[{"type":"text","text":"Invalid API key · Fix external API key"}]},"is_api_error_message":true}
{"type":"result","subtype":"success","is_error":true,"terminal_reason":"api_error","api_error_status":401,"result":"Invalid API key · Fix external API key"}
`, session.OutcomeAuthFailed},
		{"401 as a string", `{"type":"result","subtype":"success","is_error":true,"api_error_status":"401","result":"API Error: 401 invalid x-api-key"}
`, session.OutcomeAuthFailed},
		{"403 stays an error", `{"type":"result","subtype":"success","is_error":true,"api_error_status":403,"result":"Failed to authenticate"}
`, session.OutcomeError},
		{"529 stays an error", `{"type":"result","subtype":"success","is_error":true,"api_error_status":529,"result":"API Error: 529 overloaded"}
`, session.OutcomeError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := parseStream(strings.NewReader(tc.in), func([]byte, bool) {})
			must(t, err)
			rec := session.Record{Tier: session.Tier2}
			res.fill(&rec)
			res.judge(&rec, nil, "")
			if rec.Outcome != tc.want {
				t.Fatalf("outcome %q (subtype %q, reason %q), want %q", rec.Outcome, rec.ErrorSubtype, rec.Reason, tc.want)
			}
			if tc.want == session.OutcomeAuthFailed &&
				(!strings.HasPrefix(rec.Reason, AuthFailedReason+": ") || rec.ErrorSubtype != subtypeAuth) {
				t.Errorf("subtype %q reason %q", rec.ErrorSubtype, rec.Reason)
			}
		})
	}
}
