package remediator

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/claude-ops/claude-ops/session"
)

// Names of the alerts Claude Ops pushes to Alertmanager. They carry
// claudeops="true", so the webhook never turns them into incidents.
const (
	// AlertNeedsHuman (severity critical) is kept alive while an incident
	// needs a human; it is the only needs-human alert of an incident.
	AlertNeedsHuman = "ClaudeOpsNeedsHumanAttention"
	// AlertRemediated (severity info) is pushed once when an incident closes
	// remediated.
	AlertRemediated = "ClaudeOpsRemediated"
	// AlertDryRunProposal (severity info) is pushed once per incident in
	// dry-run, with the changes its sessions proposed.
	AlertDryRunProposal = "ClaudeOpsDryRunProposal"
)

// Annotations of the needs-human alert besides summary, description and
// incident_id, each present when it has something to say:
//
//	reason           the Reason* code
//	detail           what happened, in a sentence
//	refused_actions  the actions refused, one a line, with stage and reason
//	cooldown         the gate's reason when a limit (cooldown, blast radius,
//	                 budget) refused a change
//	api_error        the last model API error of an outage
//
// maxAnnotation bounds each of them (summary and description have their own
// bounds).
const maxAnnotation = 2000

func needsHumanAlert(in *incident, endsAt time.Time) PostableAlert {
	summary := fmt.Sprintf("Claude Ops could not fix %s (%s)", in.Service, reasonText(in.Reason))
	var b strings.Builder
	fmt.Fprintf(&b, "Incident %s, reason %s: %s.\n", in.ID, in.Reason, in.Detail)
	writeWhy(&b, in)
	writeAlerts(&b, in)
	writeSessions(&b, in)
	ann := map[string]string{
		"summary":     summary,
		"description": b.String(),
		"incident_id": in.ID,
		"reason":      in.Reason,
		"detail":      in.Detail,
	}
	if len(in.Refused) > 0 {
		ann["refused_actions"] = refusalLines(in.Refused)
	}
	if in.CooldownRefusal != "" {
		ann["cooldown"] = in.CooldownRefusal
	}
	if in.APIError != "" {
		ann["api_error"] = in.APIError
	}
	return PostableAlert{
		Labels: map[string]string{
			"alertname": AlertNeedsHuman, "claudeops": "true", "service": in.Service, "severity": "critical",
		},
		Annotations: cleanAnnotations(ann),
		StartsAt:    in.NeedsHumanSince,
		EndsAt:      endsAt,
	}
}

// writeWhy writes what blocked the incident: the limit, the refusals and the
// model API error.
func writeWhy(b *strings.Builder, in *incident) {
	if in.CooldownRefusal != "" {
		fmt.Fprintf(b, "Blocked by a limit of the action gate: %s\n", in.CooldownRefusal)
	}
	if len(in.Refused) > 0 {
		b.WriteString("Refused actions:\n")
		for _, f := range in.Refused {
			fmt.Fprintf(b, "- %s\n", f)
		}
	}
	if in.APIError != "" {
		fmt.Fprintf(b, "Model API error (%d session(s) in a row): %s\n", in.APIFailures, in.APIError)
	}
}

func writeSessions(b *strings.Builder, in *incident) {
	for _, s := range in.Sessions {
		fmt.Fprintf(b, "Tier %d session %s: %s.", s.Tier, s.ID, s.Outcome)
		if s.NotVerified {
			b.WriteString(" Reported fixed, not verified.")
		}
		if s.Result != nil {
			fmt.Fprintf(b, " %s", s.Result.Summary)
			if s.Result.Findings != "" {
				fmt.Fprintf(b, " Findings: %s", s.Result.Findings)
			}
		} else if s.Reason != "" {
			fmt.Fprintf(b, " %s", s.Reason)
		}
		b.WriteString("\n")
	}
}

func refusalLines(fs []Refusal) string {
	lines := make([]string, len(fs))
	for i, f := range fs {
		lines[i] = f.String()
	}
	return strings.Join(lines, "\n")
}

func remediatedAlert(in *incident, now time.Time) PostableAlert {
	// The fixer: the latest session with a structured result, else the
	// latest that did a change (its alerts resolved while it ran).
	var fixer, doer *SessionRef
	for i := len(in.Sessions) - 1; i >= 0; i-- {
		s := &in.Sessions[i]
		if fixer == nil && s.Result != nil {
			fixer = s
		}
		if doer == nil && acted(s.Actions) {
			doer = s
		}
	}
	summary := fmt.Sprintf("Claude Ops remediated %s", in.Service)
	var b strings.Builder
	fmt.Fprintf(&b, "Incident %s.\n", in.ID)
	writeAlerts(&b, in)
	switch {
	case fixer != nil:
		summary = fmt.Sprintf("Claude Ops remediated %s (Tier %d): %s", in.Service, fixer.Tier, fixer.Result.Summary)
		for _, a := range fixer.Result.Actions {
			fmt.Fprintf(&b, "- %s %s %s: %s\n", a.Action, a.Service, a.Target, a.Result)
		}
		if fixer.Result.Findings != "" {
			fmt.Fprintf(&b, "Findings: %s\n", fixer.Result.Findings)
		}
	case doer != nil:
		var done []string
		for _, a := range doer.Actions {
			if a.Result == string(session.ResultDone) && session.ActionKind(a.Action).Changes() {
				done = append(done, fmt.Sprintf("%s %s", a.Action, a.Target))
				fmt.Fprintf(&b, "- %s %s: %s\n", a.Action, a.Target, a.Reason)
			}
		}
		summary = fmt.Sprintf("Claude Ops remediated %s (Tier %d): %s", in.Service, doer.Tier, strings.Join(done, ", "))
		fmt.Fprintf(&b, "The alerts resolved after the Tier %d session %s did this, while it was still running.\n", doer.Tier, doer.ID)
	}
	return PostableAlert{
		Labels: map[string]string{
			"alertname": AlertRemediated, "claudeops": "true", "service": in.Service, "severity": "info",
		},
		Annotations: cleanAnnotations(map[string]string{
			"summary":     summary,
			"description": b.String(),
			"incident_id": in.ID,
		}),
		StartsAt: now,
		EndsAt:   now.Add(AlertTTL),
	}
}

// dryRunAlert is the one report of a dry-run incident: what its sessions
// proposed, and why it stopped there.
func dryRunAlert(in *incident, now time.Time) PostableAlert {
	var props []string
	for _, s := range in.Sessions {
		for _, a := range proposed(s.Actions) {
			line := fmt.Sprintf("Tier %d: %s %s", s.Tier, a.Action, a.Target)
			if a.Reason != "" {
				line += ": " + a.Reason
			}
			props = append(props, line)
		}
	}
	summary := fmt.Sprintf("Dry run: Claude Ops proposes no change for %s (%s)", in.Service, reasonText(in.Reason))
	if len(props) > 0 {
		summary = fmt.Sprintf("Dry run: Claude Ops proposes %d change(s) for %s", len(props), in.Service)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Dry run: nothing was changed. Incident %s, %s: %s.\n", in.ID, in.Reason, in.Detail)
	writeAlerts(&b, in)
	if len(props) > 0 {
		b.WriteString("Proposed changes:\n")
		for _, p := range props {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	writeWhy(&b, in)
	writeSessions(&b, in)
	ann := map[string]string{
		"summary":     summary,
		"description": b.String(),
		"incident_id": in.ID,
		"reason":      in.Reason,
		"detail":      in.Detail,
	}
	if len(props) > 0 {
		ann["proposed_actions"] = strings.Join(props, "\n")
	}
	if len(in.Refused) > 0 {
		ann["refused_actions"] = refusalLines(in.Refused)
	}
	return PostableAlert{
		Labels: map[string]string{
			"alertname": AlertDryRunProposal, "claudeops": "true", "service": in.Service, "severity": "info",
		},
		Annotations: cleanAnnotations(ann),
		StartsAt:    now,
		EndsAt:      now.Add(AlertTTL),
	}
}

// cleanAnnotations drops empty values, bounds the others, and replaces
// control characters other than \n and \t (the webhook refuses them when
// the alert comes back).
func cleanAnnotations(ann map[string]string) map[string]string {
	for k, v := range ann {
		if v == "" {
			delete(ann, k)
			continue
		}
		v = strings.Map(func(r rune) rune {
			if r == '\n' || r == '\t' {
				return r
			}
			if r < 0x20 || 0x7f <= r && r <= 0x9f {
				return ' '
			}
			return r
		}, v)
		n := maxAnnotation
		switch k {
		case "summary":
			n = 300
		case "description":
			n = maxDescription
		}
		ann[k] = truncate(v, n)
	}
	return ann
}

func writeAlerts(b *strings.Builder, in *incident) {
	names := map[string]bool{}
	for _, a := range in.Alerts {
		names[a.Labels.Get("alertname")] = true
	}
	list := make([]string, 0, len(names))
	for n := range names {
		if n != "" {
			list = append(list, n)
		}
	}
	sort.Strings(list)
	if len(list) > 0 {
		fmt.Fprintf(b, "Alerts: %s.\n", strings.Join(list, ", "))
	}
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
