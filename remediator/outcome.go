package remediator

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

// Model API outages. A session that ended on a transient model API error
// (see apiFailure) is not evidence that its tier failed: the same tier runs
// again after APIRetryFirst, then APIRetrySecond, then APIRetryThird. A
// further API error sends the incident to a human (ReasonAPIUnavailable).
const (
	APIRetryFirst  = time.Minute
	APIRetrySecond = 5 * time.Minute
	APIRetryThird  = 15 * time.Minute
	// MaxAPIRetries is how many times a tier is run again after API errors
	// in a row; the tier runs at most MaxAPIRetries+1 times.
	MaxAPIRetries = 3
)

var apiRetryDelays = [MaxAPIRetries]time.Duration{APIRetryFirst, APIRetrySecond, APIRetryThird}

// apiRetryDelay is the wait before the retry that follows the n-th API error
// in a row (n >= 1); ok is false when no retry is left.
func apiRetryDelay(n int) (d time.Duration, ok bool) {
	if n < 1 || n > MaxAPIRetries {
		return 0, false
	}
	return apiRetryDelays[n-1], true
}

// apiErrorSubtype is the runner's error subtype of a session whose CLI gave
// up on the model API (the result line's terminal_reason).
const apiErrorSubtype = "api_error"

// noAPIKeySubtype is the error subtype of a session not run for want of an
// API key: no retry or other tier can help.
const noAPIKeySubtype = "no_api_key"

// apiFailure is what a session's end says of the model API.
type apiFailure int

const (
	apiOK          apiFailure = iota // not an API error (or not one of these)
	apiUnavailable                   // 5xx, 529, 429, 408, or no answer (timeout, connection error)
	apiAuth                          // 401, 403, auth_failed, no key: the key is missing or rejected
	apiBilling                       // 402: the proxy refused the request over the budget
)

// classifyAPI reads the outcome, error subtype and reason of a session. The
// runner reports an API error as outcome error, subtype api_error, and a
// reason "api_error: <status> <message>" when the API answered, or the CLI's
// message (e.g. "API Error: Request timed out.") when it did not.
func classifyAPI(o session.Outcome, subtype, reason string) apiFailure {
	switch o {
	case session.OutcomeAuthFailed:
		return apiAuth
	case session.OutcomeBudgetExhausted:
		return apiBilling
	case session.OutcomeError:
	default:
		return apiOK
	}
	if subtype == noAPIKeySubtype {
		return apiAuth
	}
	status, isAPI := apiStatus(reason)
	if subtype != apiErrorSubtype && !isAPI {
		return apiOK
	}
	switch {
	case status == 0, status >= 500, status == 429, status == 408:
		return apiUnavailable
	case status == 401, status == 403:
		return apiAuth
	case status == 402:
		return apiBilling
	}
	return apiOK // 400, 404, 413, ...: the request, not the API
}

// apiStatus returns the HTTP status of "api_error: 529 overloaded" or
// "API Error: 529 ...", 0 when the reason names none; isAPI reports either
// prefix.
func apiStatus(reason string) (status int, isAPI bool) {
	rest, ok := strings.CutPrefix(reason, "api_error: ")
	if !ok {
		if rest, ok = strings.CutPrefix(reason, "API Error: "); !ok {
			return 0, false
		}
	}
	end := 0
	for end < len(rest) && end < 3 && '0' <= rest[end] && rest[end] <= '9' {
		end++
	}
	if end != 3 {
		return 0, true
	}
	n, _ := strconv.Atoi(rest[:end])
	return n, true
}

// acted reports whether actions hold a change (restart, redeploy, playbook)
// that was done.
func acted(actions []session.Action) bool {
	for _, a := range actions {
		if a.Result == string(session.ResultDone) && session.ActionKind(a.Action).Changes() {
			return true
		}
	}
	return false
}

// proposed returns the changes a dry-run session proposed.
func proposed(actions []session.Action) []session.Action {
	var out []session.Action
	for _, a := range actions {
		if a.Result == string(session.ResultProposed) && session.ActionKind(a.Action).Changes() {
			out = append(out, a)
		}
	}
	return out
}

// Refusal is a change the daemon refused during one of the incident's
// sessions: a typed action refused at a stage of the action chain, or a
// command the gate refused.
type Refusal struct {
	Session string       `json:"session"`
	Tier    session.Tier `json:"tier"`
	Time    time.Time    `json:"time,omitzero"`
	Action  string       `json:"action"`
	Target  string       `json:"target,omitempty"`
	// Stage is the stage that refused: cooldown, blast_radius, budget,
	// scope, target, tier (typed actions) or gate (commands).
	Stage  string `json:"stage"`
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

func (f Refusal) String() string {
	target := f.Target
	if target == "" {
		target = "?"
	}
	s := fmt.Sprintf("Tier %d: %s %s refused at stage %s", f.Tier, f.Action, target, f.Stage)
	if f.Reason != "" {
		s += ": " + f.Reason
	}
	return s
}

// maxRefusals bounds Incident.Refused.
const maxRefusals = 50

// addRefusals records the refused actions of a session.
func (in *incident) addRefusals(s *SessionRef) {
	for _, a := range s.Actions {
		if !strings.HasPrefix(a.Result, string(session.ResultRefused)) {
			continue
		}
		if len(in.Refused) >= maxRefusals {
			return
		}
		in.Refused = append(in.Refused, Refusal{
			Session: s.ID, Tier: s.Tier, Time: a.Time, Action: a.Action, Target: a.Target,
			Stage: a.Stage, Result: a.Result, Reason: a.Reason,
		})
	}
}

// limitReason is the needs-human reason of a change refused by a limit: the
// stage of the latest refusal at cooldown, blast_radius or budget.
func (in *incident) limitReason() string {
	for i := len(in.Refused) - 1; i >= 0; i-- {
		switch session.Stage(in.Refused[i].Stage) {
		case session.StageCooldown:
			return ReasonCooldown
		case session.StageBlastRadius:
			return ReasonBlastRadius
		case session.StageBudget:
			return ReasonBudget
		}
	}
	return ReasonCooldown
}

// reasonText is a reason as a human reads it.
func reasonText(reason string) string {
	switch reason {
	case ReasonBudget:
		return "the budget is spent"
	case ReasonBlastRadius:
		return "too many services remediated this hour"
	case ReasonCooldown:
		return "an action was refused by its cooldown"
	case ReasonNotFixed:
		return "no tier fixed it"
	case ReasonNotVerified:
		return "the fix was not verified"
	case ReasonAPIUnavailable:
		return "model API unavailable"
	case ReasonAuthFailed:
		return "model API key missing or rejected"
	case ReasonProposed:
		return "changes proposed"
	case ReasonNoProposal:
		return "no change proposed"
	}
	return reason
}
