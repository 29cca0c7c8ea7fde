package remediator

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Names of the alerts Claude Ops pushes to Alertmanager. They carry
// claudeops="true", so the webhook never turns them into incidents.
const (
	AlertNeedsHuman = "ClaudeOpsNeedsHumanAttention"
	AlertRemediated = "ClaudeOpsRemediated"
)

func (r *Remediator) needsHumanAlert(in *incident, endsAt time.Time) PostableAlert {
	summary := fmt.Sprintf("Claude Ops could not fix %s (%s)", in.Service, in.Reason)
	var b strings.Builder
	fmt.Fprintf(&b, "Incident %s, reason %s: %s.\n", in.ID, in.Reason, in.Detail)
	writeAlerts(&b, in)
	for _, s := range in.Sessions {
		fmt.Fprintf(&b, "Tier %d session %s: %s.", s.Tier, s.ID, s.Outcome)
		if s.NotVerified {
			b.WriteString(" Reported fixed, not verified.")
		}
		if s.Result != nil {
			fmt.Fprintf(&b, " %s", s.Result.Summary)
			if s.Result.Findings != "" {
				fmt.Fprintf(&b, " Findings: %s", s.Result.Findings)
			}
		} else if s.Reason != "" {
			fmt.Fprintf(&b, " %s", s.Reason)
		}
		b.WriteString("\n")
	}
	return PostableAlert{
		Labels: map[string]string{
			"alertname": AlertNeedsHuman, "claudeops": "true", "service": in.Service, "severity": "critical",
		},
		Annotations: map[string]string{
			"summary":     truncate(summary, 300),
			"description": truncate(b.String(), maxDescription),
			"incident_id": in.ID,
		},
		StartsAt: in.NeedsHumanSince,
		EndsAt:   endsAt,
	}
}

func (r *Remediator) remediatedAlert(in *incident, now time.Time) PostableAlert {
	var fixer *SessionRef
	for i := len(in.Sessions) - 1; i >= 0; i-- {
		if in.Sessions[i].Result != nil {
			fixer = &in.Sessions[i]
			break
		}
	}
	summary := fmt.Sprintf("Claude Ops remediated %s", in.Service)
	var b strings.Builder
	fmt.Fprintf(&b, "Incident %s.\n", in.ID)
	writeAlerts(&b, in)
	if fixer != nil {
		summary = fmt.Sprintf("Claude Ops remediated %s (Tier %d): %s", in.Service, fixer.Tier, fixer.Result.Summary)
		for _, a := range fixer.Result.Actions {
			fmt.Fprintf(&b, "- %s %s %s: %s\n", a.Action, a.Service, a.Target, a.Result)
		}
		if fixer.Result.Findings != "" {
			fmt.Fprintf(&b, "Findings: %s\n", fixer.Result.Findings)
		}
	}
	return PostableAlert{
		Labels: map[string]string{
			"alertname": AlertRemediated, "claudeops": "true", "service": in.Service, "severity": "info",
		},
		Annotations: map[string]string{
			"summary":     truncate(summary, 300),
			"description": truncate(b.String(), maxDescription),
			"incident_id": in.ID,
		},
		StartsAt: now,
		EndsAt:   now.Add(AlertTTL),
	}
}

func writeAlerts(b *strings.Builder, in *incident) {
	names := map[string]bool{}
	for _, a := range in.Alerts {
		names[a.Labels["alertname"]] = true
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
