package runner

import (
	"fmt"
	"strings"

	"github.com/claude-ops/claude-ops/session"
)

// Error subtypes of ours (Record.ErrorSubtype), besides the CLI's own.
const (
	subtypeCLIMissing         = "cli_missing"
	subtypeBadRequest         = "bad_request"
	subtypeSetup              = "setup"
	subtypeStart              = "start"
	subtypeExitStatus         = "exit_status"
	subtypeNoResult           = "no_result"
	subtypeNoStructuredOutput = "no_structured_output"
	subtypeInvalidOutput      = "invalid_structured_output"
	subtypeLineTooLong        = "line_too_long"
	subtypeReadError          = "read_error"
	subtypePanic              = "panic"
	subtypeAuth               = "authentication_error"
)

// AuthFailedReason begins the reason of an auth_failed session.
const AuthFailedReason = "the model API rejected the key"

// maxReason bounds the text copied from the CLI into Record.Reason.
const maxReason = 500

// fill copies what the stream said into rec: ids, turns, cost, tokens,
// denials and the structured output.
func (res *streamResult) fill(rec *session.Record) {
	rec.CLISessionID = res.SessionID
	byID := map[string]int{}
	for _, d := range res.Denials {
		byID[d.ToolID] = len(rec.Denials)
		rec.Denials = append(rec.Denials, d)
	}
	r := res.Result
	if r == nil {
		return
	}
	rec.Turns = r.NumTurns
	rec.CostUSD = r.TotalCostUSD
	if len(r.ModelUsage) > 0 {
		rec.Tokens = make(map[string]session.Tokens, len(r.ModelUsage))
		for model, u := range r.ModelUsage {
			rec.Tokens[model] = session.Tokens{
				Input: u.InputTokens, Output: u.OutputTokens,
				CacheRead: u.CacheRead, CacheCreation: u.CacheCreation,
			}
		}
	} else if r.Usage != nil {
		rec.Tokens = map[string]session.Tokens{rec.Model: {
			Input: r.Usage.InputTokens, Output: r.Usage.OutputTokens,
			CacheRead: r.Usage.CacheRead, CacheCreation: r.Usage.CacheCreation,
		}}
	}
	for _, d := range r.PermissionDenials {
		if i, ok := byID[d.ToolUseID]; ok && d.ToolUseID != "" {
			rec.Denials[i].Input = d.ToolInput
			if rec.Denials[i].Tool == "" {
				rec.Denials[i].Tool = d.ToolName
			}
			continue
		}
		byID[d.ToolUseID] = len(rec.Denials)
		rec.Denials = append(rec.Denials, session.Denial{Tool: d.ToolName, ToolID: d.ToolUseID, Input: d.ToolInput})
	}
	if len(r.StructuredOutput) > 0 && string(r.StructuredOutput) != "null" {
		rec.StructuredOutput = r.StructuredOutput
	}
}

// judge sets the outcome of a session whose process ended on its own, from
// its result line, or from its exit when there is none.
func (res *streamResult) judge(rec *session.Record, exitErr error, lastStderr string) {
	switch r := res.Result; {
	case res.Oversized > 0:
		fail(rec, subtypeLineTooLong, fmt.Sprintf("%d stdout line(s) longer than %d bytes", res.Oversized, maxLine))
	case r == nil && exitErr != nil:
		fail(rec, subtypeExitStatus, joinReason(exitErr.Error(), lastStderr))
	case r == nil:
		fail(rec, subtypeNoResult, "exited without a result line")
	case r.IsError || r.Subtype != "success":
		sub := r.Subtype
		if sub == "success" || sub == "" {
			sub = r.TerminalReason
		}
		if sub == "" || sub == "completed" {
			sub = "is_error"
		}
		fail(rec, sub, res.errorReason())
		if r.IsError && rawText(r.APIErrorStatus) == "401" {
			// The key was refused: no retry or other tier can help.
			rec.Outcome, rec.ErrorSubtype = session.OutcomeAuthFailed, subtypeAuth
			rec.Reason = joinReason(AuthFailedReason+":", rec.Reason)
		}
	case len(rec.StructuredOutput) == 0:
		fail(rec, subtypeNoStructuredOutput, "no structured_output")
	default:
		o, err := session.OutcomeFor(rec.Tier, rec.StructuredOutput)
		if err != nil {
			fail(rec, subtypeInvalidOutput, err.Error())
			return
		}
		rec.Outcome = o
	}
}

// errorReason describes a result line that is an error, e.g.
// "api_error: 529 overloaded".
func (res *streamResult) errorReason() string {
	r := res.Result
	if status := rawText(r.APIErrorStatus); status != "" {
		msg := res.RetryError
		if msg == "" {
			msg = apiErrorText(res.APIError, status)
		}
		if msg == "" {
			msg = apiErrorText(r.Result, status)
		}
		return joinReason("api_error: "+status, msg)
	}
	var errs []string
	for _, e := range r.Errors {
		if s := rawText(e); s != "" {
			errs = append(errs, s)
		}
	}
	if len(errs) > 0 {
		return truncate(strings.Join(errs, "; "))
	}
	if r.Result != "" {
		return truncate(r.Result)
	}
	return truncate(r.TerminalReason)
}

// apiErrorText strips "API Error: 529 " off the CLI's synthetic message.
func apiErrorText(text, status string) string {
	text = strings.TrimPrefix(text, "API Error: ")
	text = strings.TrimPrefix(text, status)
	return strings.TrimSpace(text)
}

func fail(rec *session.Record, subtype, reason string) {
	rec.Outcome = session.OutcomeError
	rec.ErrorSubtype = subtype
	rec.Reason = truncate(reason)
}

func joinReason(a, b string) string {
	if b == "" {
		return truncate(a)
	}
	return truncate(a + " " + b)
}

func truncate(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// redactRecord removes secrets from the parts of rec the CLI wrote.
func redactRecord(rec *session.Record, red *redactor) {
	rec.Reason = red.String(rec.Reason)
	rec.StructuredOutput = red.JSON(rec.StructuredOutput)
	for i := range rec.Denials {
		rec.Denials[i].Reason = red.String(rec.Denials[i].Reason)
		rec.Denials[i].Input = red.JSON(rec.Denials[i].Input)
	}
}
