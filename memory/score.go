package memory

import (
	"math"

	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/session"
)

// Verdict is what an incident's verified outcome makes of what one of its
// sessions recorded.
type Verdict string

// The verdicts.
const (
	// Confirmed: the session's fix is the one Alertmanager confirmed (the
	// incident closed remediated: its alerts resolved after that fix).
	Confirmed Verdict = "confirmed"
	// Unverified: nothing confirmed or refuted it (the alerts resolved on
	// their own, another session fixed it, a dry run, a limit stopped the
	// incident before any lead was tried).
	Unverified Verdict = "unverified"
	// WrongLead: the session claimed a fix the alerts refuted, or the
	// incident ended needing a human.
	WrongLead Verdict = "wrong_lead"
)

// Verdicts are every Verdict.
var Verdicts = []Verdict{Confirmed, Unverified, WrongLead}

// Outcome is what an incident's close says of one of its sessions: the
// input of Judge and Score.
type Outcome struct {
	// Incident is the incident's outcome: remediated, resolved,
	// needs_human or dry_run.
	Incident session.Outcome
	// Reason is the incident's needs-human reason (remediator.Reason*).
	Reason string
	// Fixed: this session's fix is the one that made the alerts resolve.
	Fixed bool
	// NotVerified: this session reported fixed, and the alerts kept firing
	// past the verify timeout.
	NotVerified bool
}

// untested are the needs-human reasons that say nothing of the sessions'
// leads: the incident stopped on a limit or the model API, not on a fix that
// failed.
var untested = map[string]bool{
	remediator.ReasonBudget:         true,
	remediator.ReasonBlastRadius:    true,
	remediator.ReasonAPIUnavailable: true,
	remediator.ReasonAuthFailed:     true,
}

// Judge returns the verdict of a session's memories.
func Judge(o Outcome) Verdict {
	switch {
	case o.NotVerified:
		return WrongLead
	case o.Incident == session.OutcomeRemediated && o.Fixed:
		return Confirmed
	case o.Incident == session.OutcomeNeedsHuman && !untested[o.Reason]:
		return WrongLead
	}
	return Unverified
}

// Score is the score of a memory recorded with confidence (0 to 1) by a
// session whose incident closed as o: 1+confidence when its fix was
// confirmed, -(1+confidence) for a wrong lead (the surer, the worse), 0 when
// unverified. Prompts quote the best memories of score 0 and above.
func Score(o Outcome, confidence float64) float64 {
	c := clamp01(confidence)
	switch Judge(o) {
	case Confirmed:
		return round2(1 + c)
	case WrongLead:
		return round2(-(1 + c))
	}
	return 0
}

func clamp01(f float64) float64 {
	switch {
	case math.IsNaN(f), f < 0:
		return 0
	case f > 1:
		return 1
	}
	return f
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// Outcomes returns, for each session of a closed incident, what the close
// says of it.
func Outcomes(in remediator.Incident) map[string]Outcome {
	fixer := fixer(in)
	out := make(map[string]Outcome, len(in.Sessions))
	for _, s := range in.Sessions {
		out[s.ID] = Outcome{Incident: in.Outcome, Reason: in.Reason, Fixed: s.ID == fixer && fixer != "", NotVerified: s.NotVerified}
	}
	return out
}

// fixer returns the session whose fix made a remediated incident's alerts
// resolve: the latest that reported fixed and was not refuted, else the
// latest that did a change (the alerts resolved while it ran).
func fixer(in remediator.Incident) string {
	if in.Outcome != session.OutcomeRemediated {
		return ""
	}
	for i := len(in.Sessions) - 1; i >= 0; i-- {
		if s := in.Sessions[i]; s.Outcome == session.OutcomeRemediated && !s.NotVerified {
			return s.ID
		}
	}
	for i := len(in.Sessions) - 1; i >= 0; i-- {
		for _, a := range in.Sessions[i].Actions {
			if a.Result == string(session.ResultDone) && session.ActionKind(a.Action).Changes() {
				return in.Sessions[i].ID
			}
		}
	}
	return ""
}
