package remediator

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
)

// The incident machine, one event at a time: each step is an event at a
// time (since t0) and the effects it must produce, in order, written as
// render writes them (log lines left out). Times in effects: @d is t0+d,
// +d is d after the step.

var machineT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func render(fxs []effect, now time.Time) []string {
	at := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return "@" + t.Sub(machineT0).String()
	}
	var out []string
	for _, fx := range fxs {
		var s string
		switch fx := fx.(type) {
		case fxRequestSlot:
			s = fmt.Sprintf("slot tier%d", fx.Tier)
			if fx.Admit {
				s += " admit"
			}
		case fxStartSession:
			s = fmt.Sprintf("start %s tier%d", fx.ID, fx.Tier)
			if fx.Handoff.Previous != nil {
				s += " prev"
			}
		case fxCancelSession:
			s = fmt.Sprintf("cancel %s %s", fx.ID, fx.Outcome)
		case fxPush:
			s = fmt.Sprintf("push %s +%s", strings.TrimPrefix(fx.Alert.Labels["alertname"], "ClaudeOps"), fx.Alert.EndsAt.Sub(now))
		case fxEscalated:
			s = fmt.Sprintf("escalate %s→%s", fx.From, fx.To)
		case fxPaging:
			s = map[bool]string{true: "page on", false: "page off"}[fx.On]
		case fxAPIRetry:
			s = fmt.Sprintf("retry tier%d %s", fx.Tier, at(fx.At))
		case fxClosed:
			s = fmt.Sprintf("close %s", fx.Outcome)
		case fxWake:
			s = "wake " + at(fx.At)
		case fxPersist:
			s = "persist"
		case fxLog:
			continue
		default:
			s = fmt.Sprintf("%T", fx)
		}
		out = append(out, s)
	}
	return out
}

type step struct {
	at   time.Duration
	ev   event
	want []string
}

func mAlert(name string) Alert {
	return alertFrom(alert("db", name, "firing"))
}

func opened() step { return step{0, evOpened{mAlert("Down")}, []string{"slot tier2 admit", "persist"}} }

// granted: the slot is granted and the session starts (Tier 3 with the
// previous tier's result).
func granted(at time.Duration, id string, tier session.Tier) step {
	start := fmt.Sprintf("start %s tier%d", id, tier)
	if tier == session.Tier3 {
		start += " prev"
	}
	return step{at, evSlotGranted{Session: id}, []string{start, "persist"}}
}

func ended(id string, rec session.Record) evSessionEnded {
	return evSessionEnded{Session: id, Record: rec}
}

func resolvedEv(name string) evAlertResolved {
	a := mAlert(name)
	a.Status = "resolved"
	return evAlertResolved{Alert: a}
}

func live(name string, actions ...session.Action) evAlertResolved {
	ev := resolvedEv(name)
	ev.Live, ev.LiveOK = actions, true
	return ev
}

// resolvedAt is the resolved webhook of an alert that ended at t0+at.
func resolvedAt(name string, at time.Duration) evAlertResolved {
	ev := resolvedEv(name)
	ev.Alert.EndsAt = machineT0.Add(at)
	return ev
}

// live2 is ev with the running session's actions so far.
func live2(ev evAlertResolved, actions ...session.Action) evAlertResolved {
	ev.Live, ev.LiveOK = actions, true
	return ev
}

// restartAt is a restart of db done at t0+at.
func restartAt(at time.Duration) session.Action {
	a := restartDone("db")
	a.Time = machineT0.Add(at)
	return a
}

func withActions(rec session.Record, actions ...session.Action) session.Record {
	rec.Actions = actions
	return rec
}

var (
	nhPage   = []string{"escalate 2→human", "page on", "push NeedsHumanAttention +5m0s"}
	proposal = session.Action{Service: "db", Action: "restart", Target: "db", Result: "proposed", Stage: "dry_run"}
)

func concat(parts ...[]string) []string { return slices.Concat(parts...) }

// resumedIncident is an incident as Resume reads it from the store.
func resumedIncident(st State, mod func(*Incident)) *incident {
	in := newIncident("inc-1", "db", policy{VerifyTimeout: verify}, machineT0)
	in.State = st
	in.Alerts = []*Alert{new(mAlert("Down"))}
	in.Sessions = []SessionRef{{ID: "s1", Tier: session.Tier2, Start: machineT0, Outcome: session.OutcomeRunning}}
	if mod != nil {
		mod(&in.Incident)
	}
	return in
}

func TestMachine(t *testing.T) {
	const mn = time.Minute
	for _, tc := range []struct {
		name    string
		dryRun  bool
		in      *incident // nil: a new incident
		steps   []step
		state   State
		outcome session.Outcome
		reason  string
		check   func(t *testing.T, in *incident)
	}{
		{
			name: "tier 2 fixed, verified by the resolved webhook",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", record(session.OutcomeRemediated, "restarted", "")), []string{"wake @11m0s", "persist"}},
				{2 * mn, resolvedEv("Down"), []string{"close remediated", "push Remediated +5m0s", "wake never", "persist"}},
			},
			state: StateClosed, outcome: session.OutcomeRemediated,
		},
		{
			name: "tier 2 fixed, verified when Alertmanager no longer lists the alert",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", record(session.OutcomeRemediated, "", "")), []string{"wake @11m0s", "persist"}},
				{2 * mn, evPolled{Asked: map[string]bool{"db-Down": true}, Active: map[string]bool{"db-Down": true}}, nil},
				{3 * mn, evPolled{Asked: map[string]bool{"db-Other": true}}, nil}, // not asked about it
				{4 * mn, evPolled{Asked: map[string]bool{"db-Down": true}}, []string{"close remediated", "push Remediated +5m0s", "wake never", "persist"}},
			},
			state: StateClosed, outcome: session.OutcomeRemediated,
			check: func(t *testing.T, in *incident) {
				if a := in.Alerts[0]; a.Status != "resolved" || !a.EndsAt.Equal(machineT0.Add(4*time.Minute)) {
					t.Errorf("alert = %+v", a)
				}
			},
		},
		{
			name: "not verified in time: tier 3 with tier 2's result, not fixed: a human until resolved",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", record(session.OutcomeRemediated, "", "")), []string{"wake @11m0s", "persist"}},
				{11*mn - time.Second, evTick{}, []string{"wake @11m0s"}}, // early: nothing due
				{11 * mn, evTick{}, []string{"escalate 2→3", "slot tier3", "persist"}},
				{11 * mn, evSlotGranted{Session: "s2"}, []string{"start s2 tier3 prev", "persist"}},
				{20 * mn, ended("s2", record(session.OutcomeNotFixed, "", "")),
					[]string{"escalate 3→human", "page on", "push NeedsHumanAttention +5m0s", "wake @21m0s", "persist"}},
				{21 * mn, evTick{}, []string{"push NeedsHumanAttention +5m0s", "wake @22m0s"}},
				{21 * mn, evAlertFired{mAlert("Slow")}, []string{"persist"}},
				{21 * mn, evAlertFired{mAlert("Slow")}, nil}, // repeated: no change
				{21 * mn, resolvedEv("Slow"), []string{"persist"}},
				{22 * mn, resolvedEv("Down"), []string{"page off", "push NeedsHumanAttention +0s", "close needs_human", "wake never", "persist"}},
			},
			state: StateClosed, outcome: session.OutcomeNeedsHuman, reason: ReasonNotFixed,
			check: func(t *testing.T, in *incident) {
				if !in.Sessions[0].NotVerified || in.Sessions[1].NotVerified {
					t.Errorf("not verified flags: %+v", in.Sessions)
				}
				if in.Detail != "Tier 3 ended with outcome not_fixed" {
					t.Errorf("detail = %q", in.Detail)
				}
			},
		},
		{
			name: "tier 3 fixed but not verified: a human",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", record(session.OutcomeNotFixed, "", "")), []string{"escalate 2→3", "slot tier3", "persist"}},
				granted(1*mn, "s2", 3),
				{2 * mn, ended("s2", record(session.OutcomeRemediated, "", "")), []string{"wake @12m0s", "persist"}},
				{12 * mn, evTick{}, concat([]string{"escalate 3→human", "page on", "push NeedsHumanAttention +5m0s", "wake @13m0s", "persist"})},
			},
			state: StateNeedsHuman, reason: ReasonNotVerified,
		},
		{
			name: "resolved while the session runs, after it restarted the service: remediated",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, live("Down", restartDone("db")), []string{"cancel s1 remediated", "close remediated", "push Remediated +5m0s", "persist"}},
				{2 * mn, ended("s1", session.Record{Outcome: session.OutcomeRemediated}), nil}, // its end changes nothing
			},
			state: StateClosed, outcome: session.OutcomeRemediated,
			check: func(t *testing.T, in *incident) {
				if s := in.Sessions[0]; s.Outcome != session.OutcomeRemediated || len(s.Actions) != 1 {
					t.Errorf("session = %+v", s)
				}
			},
		},
		{
			name: "resolved while the session runs, but the alert had ended before its restart: resolved",
			steps: []step{opened(), granted(0, "s1", 2),
				{3 * mn, live2(resolvedAt("Down", 1*mn), restartAt(2*mn)), []string{"cancel s1 resolved", "close resolved", "persist"}},
			},
			state: StateClosed, outcome: session.OutcomeResolved,
		},
		{
			name: "resolved while the session runs, the alert ended after its restart: remediated",
			steps: []step{opened(), granted(0, "s1", 2),
				{3 * mn, live2(resolvedAt("Down", 150*time.Second), restartAt(2*mn)),
					[]string{"cancel s1 remediated", "close remediated", "push Remediated +5m0s", "persist"}},
			},
			state: StateClosed, outcome: session.OutcomeRemediated,
		},
		{
			name: "a session the loop cannot look at restarted only after the alert had ended: resolved",
			steps: []step{opened(), granted(0, "s1", 2),
				{3 * mn, resolvedAt("Down", 1*mn), []string{"cancel s1 resolved", "persist"}},
				{4 * mn, ended("s1", withActions(session.Record{Outcome: session.OutcomeResolved}, restartAt(2*mn))), []string{"close resolved", "persist"}},
			},
			state: StateClosed, outcome: session.OutcomeResolved,
		},
		{
			name: "resolved while the session runs, having changed nothing: resolved",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, live("Down", session.Action{Service: "db", Action: "restart", Target: "db", Result: "refused", Stage: "cooldown"}),
					[]string{"cancel s1 resolved", "close resolved", "persist"}},
			},
			state: StateClosed, outcome: session.OutcomeResolved,
			check: func(t *testing.T, in *incident) {
				if len(in.Refused) != 1 || in.Refused[0].Stage != "cooldown" {
					t.Errorf("refused = %+v", in.Refused)
				}
			},
		},
		{
			name: "resolved while a session the loop cannot look at runs: its record decides (a change: remediated)",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, resolvedEv("Down"), []string{"cancel s1 resolved", "persist"}},
				{2 * mn, ended("s1", withActions(session.Record{Outcome: session.OutcomeResolved}, restartDone("db"))),
					[]string{"close remediated", "push Remediated +5m0s", "persist"}},
			},
			state: StateClosed, outcome: session.OutcomeRemediated,
		},
		{
			name: "resolved while a session the loop cannot look at runs: no change, resolved",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, resolvedEv("Down"), []string{"cancel s1 resolved", "persist"}},
				{2 * mn, ended("s1", session.Record{Outcome: session.OutcomeResolved}), []string{"close resolved", "persist"}},
			},
			state: StateClosed, outcome: session.OutcomeResolved,
		},
		{
			name: "resolved before any session: resolved, and a late slot is ignored",
			steps: []step{opened(),
				{1 * mn, resolvedEv("Down"), []string{"close resolved", "persist"}},
				{1 * mn, evSlotGranted{Session: "s1"}, nil},
			},
			state: StateClosed, outcome: session.OutcomeResolved,
			check: func(t *testing.T, in *incident) {
				if len(in.Sessions) != 0 {
					t.Errorf("sessions = %+v", in.Sessions)
				}
			},
		},
		{
			name: "the end of a session that is not the incident's changes nothing",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s0", record(session.OutcomeNotFixed, "", "")), nil},
			},
			state: StateTier2,
		},
		{
			name: "a limit refused a change: a human after the session, even one that reports fixed",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, evLimitRefused{Reason: "restart: 2 in the last 4h"}, []string{"persist"}},
				{1 * mn, evLimitRefused{Reason: "another"}, nil}, // the first one is kept
				{2 * mn, ended("s1", record(session.OutcomeRemediated, "", "")), concat(nhPage, []string{"wake @3m0s", "persist"})},
			},
			state: StateNeedsHuman, reason: ReasonCooldown,
			check: func(t *testing.T, in *incident) {
				if in.Detail != "restart: 2 in the last 4h" || in.CooldownRefusal != in.Detail {
					t.Errorf("detail %q, refusal %q", in.Detail, in.CooldownRefusal)
				}
			},
		},
		{
			name: "a blast-radius refusal in the session's record names the limit",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, evLimitRefused{Reason: "5 services this hour"}, []string{"persist"}},
				{2 * mn, ended("s1", withActions(record(session.OutcomeNotFixed, "", ""),
					session.Action{Service: "db", Action: "restart", Target: "db", Result: "refused", Stage: "blast_radius"})),
					concat(nhPage, []string{"wake @3m0s", "persist"})},
			},
			state: StateNeedsHuman, reason: ReasonBlastRadius,
		},
		{
			name: "the budget forbids tier 3: a human, the refused session forgotten",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", record(session.OutcomeNotFixed, "", "")), []string{"escalate 2→3", "slot tier3", "persist"}},
				granted(1*mn, "s2", 3),
				{1 * mn, evSessionEnded{Session: "s2", Err: fmt.Errorf("run: %w", sessions.ErrBudget)},
					[]string{"escalate 3→human", "page on", "push NeedsHumanAttention +5m0s", "wake @2m0s", "persist"}},
			},
			state: StateNeedsHuman, reason: ReasonBudget,
			check: func(t *testing.T, in *incident) {
				if len(in.Sessions) != 1 || in.Sessions[0].ID != "s1" {
					t.Errorf("sessions = %+v", in.Sessions)
				}
			},
		},
		{
			name: "the blast radius refuses the first session: a human",
			steps: []step{opened(),
				{0, evSlotRefused{Reason: ReasonBlastRadius, Detail: "5 services"}, concat(nhPage, []string{"wake @1m0s", "persist"})},
				{0, evSlotGranted{Session: "s1"}, nil},
			},
			state: StateNeedsHuman, reason: ReasonBlastRadius,
		},
		{
			name: "the budget was spent during the session: a human",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", session.Record{Outcome: session.OutcomeBudgetExhausted}), concat(nhPage, []string{"wake @2m0s", "persist"})},
			},
			state: StateNeedsHuman, reason: ReasonBudget,
		},
		{
			name: "the model API rejected the key: a human",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", session.Record{Outcome: session.OutcomeAuthFailed}), concat(nhPage, []string{"wake @2m0s", "persist"})},
			},
			state: StateNeedsHuman, reason: ReasonAuthFailed,
		},
		{
			name: "model API outage: the same tier after 1, 5 and 15 minutes, then a human",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", apiError("api_error: 529 overloaded")), []string{"retry tier2 @2m0s", "wake @2m0s", "persist"}},
				{2*mn - time.Second, evTick{}, []string{"wake @2m0s"}},
				{2 * mn, evTick{}, []string{"slot tier2", "persist"}},
				granted(2*mn, "s2", 2),
				{3 * mn, ended("s2", apiError("api_error: 500 internal")), []string{"retry tier2 @8m0s", "wake @8m0s", "persist"}},
				{8 * mn, evTick{}, []string{"slot tier2", "persist"}},
				granted(8*mn, "s3", 2),
				{9 * mn, ended("s3", apiError("API Error: Request timed out.")), []string{"retry tier2 @24m0s", "wake @24m0s", "persist"}},
				{24 * mn, evTick{}, []string{"slot tier2", "persist"}},
				granted(24*mn, "s4", 2),
				{25 * mn, ended("s4", apiError("api_error: 529 overloaded")), concat(nhPage, []string{"wake @26m0s", "persist"})},
			},
			state: StateNeedsHuman, reason: ReasonAPIUnavailable,
			check: func(t *testing.T, in *incident) {
				if in.APIFailures != 4 || in.APIError != "api_error: 529 overloaded" || len(in.Sessions) != 4 {
					t.Errorf("api failures %d, error %q, sessions %d", in.APIFailures, in.APIError, len(in.Sessions))
				}
			},
		},
		{
			name: "resolved while waiting for a retry: resolved, no retry",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", apiError("api_error: 529 overloaded")), []string{"retry tier2 @2m0s", "wake @2m0s", "persist"}},
				{90 * time.Second, resolvedEv("Down"), []string{"close resolved", "wake never", "persist"}},
				{2 * mn, evTick{}, nil},
			},
			state: StateClosed, outcome: session.OutcomeResolved,
		},
		{
			name: "an API outage at tier 3 retries tier 3 with a fresh count",
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", apiError("api_error: 529 overloaded")), []string{"retry tier2 @2m0s", "wake @2m0s", "persist"}},
				{2 * mn, evTick{}, []string{"slot tier2", "persist"}},
				granted(2*mn, "s2", 2),
				{3 * mn, ended("s2", record(session.OutcomeNotFixed, "", "")), []string{"escalate 2→3", "slot tier3", "persist"}},
				{3 * mn, evSlotGranted{Session: "s3"}, []string{"start s3 tier3 prev", "persist"}},
				{4 * mn, ended("s3", apiError("api_error: 503 unavailable")), []string{"retry tier3 @5m0s", "wake @5m0s", "persist"}},
			},
			state: StateTier3,
			check: func(t *testing.T, in *incident) {
				if in.APIFailures != 1 {
					t.Errorf("api failures %d, want 1", in.APIFailures)
				}
			},
		},
		{
			name:   "dry run: a proposal is reported once, nobody paged, closed as dry_run",
			dryRun: true,
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", withActions(record(session.OutcomeDryRun, "", ""), proposal)), []string{"push DryRunProposal +5m0s", "persist"}},
				{30 * mn, evTick{}, nil},
				{31 * mn, resolvedEv("Down"), []string{"close dry_run", "persist"}},
			},
			state: StateClosed, outcome: session.OutcomeDryRun, reason: ReasonProposed,
		},
		{
			name:   "dry run: no tier proposes a change",
			dryRun: true,
			steps: []step{opened(), granted(0, "s1", 2),
				{1 * mn, ended("s1", record(session.OutcomeDryRun, "", "")), []string{"escalate 2→3", "slot tier3", "persist"}},
				granted(1*mn, "s2", 3),
				{2 * mn, ended("s2", record(session.OutcomeDryRun, "", "")), []string{"push DryRunProposal +5m0s", "persist"}},
			},
			state: StateDryRun, reason: ReasonNoProposal,
		},
		{
			name:   "dry run: a limit reports instead of paging",
			dryRun: true,
			steps: []step{opened(),
				{0, evSlotRefused{Reason: ReasonBlastRadius, Detail: "5 services"}, []string{"push DryRunProposal +5m0s", "persist"}},
			},
			state: StateDryRun, reason: ReasonBlastRadius,
		},
		{
			name: "resumed with its tier running: the tier runs again",
			in:   resumedIncident(StateTier2, nil),
			steps: []step{
				{5 * mn, evResumed{}, []string{"slot tier2", "persist"}},
				granted(5*mn, "s2", 2),
			},
			state: StateTier2,
			check: func(t *testing.T, in *incident) {
				if s := in.Sessions[0]; s.Outcome != session.OutcomeInterrupted || !s.End.Equal(machineT0.Add(5*time.Minute)) {
					t.Errorf("interrupted session = %+v", s)
				}
			},
		},
		{
			name: "resumed while verifying: verification keeps its deadline",
			in: resumedIncident(StateVerify2, func(v *Incident) {
				v.Sessions[0].Outcome, v.VerifyDeadline = session.OutcomeRemediated, machineT0.Add(10*time.Minute)
			}),
			steps: []step{
				{5 * mn, evResumed{}, []string{"wake @10m0s", "persist"}},
				{10 * mn, evTick{}, []string{"escalate 2→3", "slot tier3", "persist"}},
			},
			state: StateTier3,
		},
		{
			name: "resumed while waiting for a retry: the retry keeps its time",
			in: resumedIncident(StateTier2, func(v *Incident) {
				v.Sessions[0].Outcome, v.RetryAt, v.APIFailures = session.OutcomeError, machineT0.Add(8*time.Minute), 1
			}),
			steps: []step{
				{5 * mn, evResumed{}, []string{"wake @8m0s", "persist"}},
				{8 * mn, evTick{}, []string{"slot tier2", "persist"}},
			},
			state: StateTier2,
		},
		{
			name: "resumed needing a human: paged again at once and kept alive",
			in: resumedIncident(StateNeedsHuman, func(v *Incident) {
				v.Sessions[0].Outcome, v.Reason = session.OutcomeNotFixed, ReasonNotFixed
			}),
			steps: []step{
				{5 * mn, evResumed{}, []string{"page on", "push NeedsHumanAttention +5m0s", "wake @6m0s", "persist"}},
				{6 * mn, evTick{}, []string{"push NeedsHumanAttention +5m0s", "wake @7m0s"}},
			},
			state: StateNeedsHuman, reason: ReasonNotFixed,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in == nil {
				in = newIncident("inc-1", "db", policy{VerifyTimeout: verify}, machineT0)
			}
			in.pol.DryRun = tc.dryRun
			for i, st := range tc.steps {
				now := machineT0.Add(st.at)
				got := render(in.Handle(st.ev, now), now)
				if !slices.Equal(got, st.want) {
					t.Fatalf("step %d (%T at %s):\n got %q\nwant %q", i, st.ev, st.at, got, st.want)
				}
			}
			if in.State != tc.state || in.Outcome != tc.outcome || in.Reason != tc.reason {
				t.Errorf("final state %s, outcome %q, reason %q; want %s, %q, %q", in.State, in.Outcome, in.Reason, tc.state, tc.outcome, tc.reason)
			}
			if tc.check != nil {
				tc.check(t, in)
			}
		})
	}
}

// Handle does not keep the slices of its events: a later change of the
// caller's does not reach the incident.
func TestMachineCopiesLiveActions(t *testing.T) {
	in := newIncident("inc-1", "db", policy{VerifyTimeout: verify}, machineT0)
	in.Handle(evOpened{mAlert("Down")}, machineT0)
	in.Handle(evSlotGranted{Session: "s1"}, machineT0)
	acts := []session.Action{restartDone("db")}
	in.Handle(live("Down", acts...), machineT0)
	acts[0].Result = "failed"
	if in.Sessions[0].Actions[0].Result != "done" {
		t.Error("the incident shares the event's actions")
	}
}
