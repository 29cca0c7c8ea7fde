package memory

import (
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/session"
)

func TestScore(t *testing.T) {
	const (
		remediated = session.OutcomeRemediated
		resolved   = session.OutcomeResolved
		needsHuman = session.OutcomeNeedsHuman
		dryRun     = session.OutcomeDryRun
	)
	for _, tc := range []struct {
		name       string
		o          Outcome
		confidence float64
		verdict    Verdict
		score      float64
	}{
		{"its fix was confirmed", Outcome{Incident: remediated, Fixed: true}, 0.8, Confirmed, 1.8},
		{"confirmed, unsure", Outcome{Incident: remediated, Fixed: true}, 0, Confirmed, 1},
		{"confirmed, confidence above 1", Outcome{Incident: remediated, Fixed: true}, 7, Confirmed, 2},
		{"confirmed, negative confidence", Outcome{Incident: remediated, Fixed: true}, -3, Confirmed, 1},
		{"another session fixed it", Outcome{Incident: remediated}, 0.8, Unverified, 0},
		{"claimed fixed, alerts kept firing, later fixed", Outcome{Incident: remediated, NotVerified: true}, 0.5, WrongLead, -1.5},
		{"resolved on its own", Outcome{Incident: resolved}, 0.9, Unverified, 0},
		{"dry run", Outcome{Incident: dryRun}, 0.9, Unverified, 0},
		{"needs human: not fixed", Outcome{Incident: needsHuman, Reason: remediator.ReasonNotFixed}, 0.9, WrongLead, -1.9},
		{"needs human: not verified", Outcome{Incident: needsHuman, Reason: remediator.ReasonNotVerified, NotVerified: true}, 0.2, WrongLead, -1.2},
		{"needs human: cooldown", Outcome{Incident: needsHuman, Reason: remediator.ReasonCooldown}, 1, WrongLead, -2},
		{"needs human: no reason", Outcome{Incident: needsHuman}, 0, WrongLead, -1},
		{"needs human: budget", Outcome{Incident: needsHuman, Reason: remediator.ReasonBudget}, 0.9, Unverified, 0},
		{"needs human: blast radius", Outcome{Incident: needsHuman, Reason: remediator.ReasonBlastRadius}, 0.9, Unverified, 0},
		{"needs human: model API down", Outcome{Incident: needsHuman, Reason: remediator.ReasonAPIUnavailable}, 0.9, Unverified, 0},
		{"needs human: key rejected", Outcome{Incident: needsHuman, Reason: remediator.ReasonAuthFailed}, 0.9, Unverified, 0},
		{"needs human, yet claimed fixed", Outcome{Incident: needsHuman, Reason: remediator.ReasonBudget, NotVerified: true}, 0, WrongLead, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v := Judge(tc.o); v != tc.verdict {
				t.Errorf("Judge(%+v) = %s, want %s", tc.o, v, tc.verdict)
			}
			if s := Score(tc.o, tc.confidence); s != tc.score {
				t.Errorf("Score(%+v, %v) = %v, want %v", tc.o, tc.confidence, s, tc.score)
			}
		})
	}
}

func TestOutcomes(t *testing.T) {
	done := session.Action{Action: "restart", Result: "done"}
	probe := session.Action{Action: "container_status", Result: "done"}
	for _, tc := range []struct {
		name  string
		in    remediator.Incident
		fixed string // the session Fixed, "" for none
	}{
		{"tier 2 fixed and verified", remediator.Incident{Outcome: session.OutcomeRemediated, Sessions: []remediator.SessionRef{
			{ID: "t2", Tier: 2, Outcome: session.OutcomeRemediated}}}, "t2"},
		{"tier 2 not verified, tier 3 fixed", remediator.Incident{Outcome: session.OutcomeRemediated, Sessions: []remediator.SessionRef{
			{ID: "t2", Tier: 2, Outcome: session.OutcomeRemediated, NotVerified: true},
			{ID: "t3", Tier: 3, Outcome: session.OutcomeRemediated}}}, "t3"},
		{"resolved while its change was in: the latest that changed", remediator.Incident{Outcome: session.OutcomeRemediated, Sessions: []remediator.SessionRef{
			{ID: "t2", Tier: 2, Outcome: session.OutcomeNotFixed, Actions: []session.Action{done}},
			{ID: "t3", Tier: 3, Outcome: session.OutcomeResolved, Actions: []session.Action{probe, done}}}}, "t3"},
		{"a probe is no fix", remediator.Incident{Outcome: session.OutcomeRemediated, Sessions: []remediator.SessionRef{
			{ID: "t2", Tier: 2, Outcome: session.OutcomeResolved, Actions: []session.Action{probe}}}}, ""},
		{"needs human: nobody fixed it", remediator.Incident{Outcome: session.OutcomeNeedsHuman, Sessions: []remediator.SessionRef{
			{ID: "t2", Tier: 2, Outcome: session.OutcomeRemediated, NotVerified: true}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Outcomes(tc.in)
			if len(got) != len(tc.in.Sessions) {
				t.Fatalf("%d outcomes for %d sessions", len(got), len(tc.in.Sessions))
			}
			for id, o := range got {
				if o.Fixed != (id == tc.fixed) {
					t.Errorf("session %s: Fixed %v, want the fixer %q", id, o.Fixed, tc.fixed)
				}
				if o.Incident != tc.in.Outcome {
					t.Errorf("session %s: incident outcome %s", id, o.Incident)
				}
			}
		})
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Hour: "0m", 30 * time.Second: "0m", 5 * time.Minute: "5m", 90 * time.Minute: "1h",
		47 * time.Hour: "47h", 48 * time.Hour: "2d", 30 * 24 * time.Hour: "30d",
	} {
		if got := Age(d); got != want {
			t.Errorf("Age(%v) = %q, want %q", d, got, want)
		}
	}
}
