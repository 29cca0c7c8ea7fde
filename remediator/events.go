package remediator

import (
	"log/slog"
	"time"

	"github.com/claude-ops/claude-ops/prompts"
	"github.com/claude-ops/claude-ops/session"
)

// The incident machine's inputs (events) and outputs (effects).

// event is what happens to one incident.
type event interface{ isEvent() }

type (
	// evOpened: the incident was opened by its first firing alert.
	evOpened struct{ Alert Alert }
	// evAlertFired: a firing alert of the incident's service (new, or a
	// repeated notification).
	evAlertFired struct{ Alert Alert }
	// evAlertResolved: Alertmanager sent a resolved alert. When a session is
	// running, Live holds the actions it did so far if the loop could look
	// at it (LiveOK).
	evAlertResolved struct {
		Alert  Alert
		Live   []session.Action
		LiveOK bool
	}
	// evPolled: Alertmanager was asked about the fingerprints Asked and
	// lists Active of them as active.
	evPolled struct {
		Asked, Active map[string]bool
	}
	// evLimitRefused: the action gate refused a change of the incident's
	// session over a limit (cooldown, blast radius, budget).
	evLimitRefused struct{ Reason string }
	// evSlotGranted: the incident may run its tier now, as session Session.
	evSlotGranted struct{ Session string }
	// evSlotRefused: the incident may not run a session (blast radius).
	evSlotRefused struct{ Reason, Detail string }
	// evSessionEnded: the incident's session returned (Err is
	// sessions.ErrBudget when the budget forbade it).
	evSessionEnded struct {
		Session string
		Record  session.Record
		Err     error
	}
	// evTick: the wake-up the incident asked for (fxWake) is due.
	evTick struct{}
	// evResumed: the incident was loaded from the store after a restart.
	evResumed struct{}
)

func (evOpened) isEvent()        {}
func (evAlertFired) isEvent()    {}
func (evAlertResolved) isEvent() {}
func (evPolled) isEvent()        {}
func (evLimitRefused) isEvent()  {}
func (evSlotGranted) isEvent()   {}
func (evSlotRefused) isEvent()   {}
func (evSessionEnded) isEvent()  {}
func (evTick) isEvent()          {}
func (evResumed) isEvent()       {}

// effect is what the event loop must do for an incident.
type effect interface{ isEffect() }

type (
	// fxRequestSlot: queue the incident for a session at Tier. Admit: the
	// blast radius applies (the incident's first session).
	fxRequestSlot struct {
		Tier  session.Tier
		Admit bool
	}
	// fxStartSession: run session ID at Tier with the handoff.
	fxStartSession struct {
		ID      string
		Tier    session.Tier
		Handoff prompts.Handoff
	}
	// fxCancelSession: stop the running session ID with the outcome.
	fxCancelSession struct {
		ID      string
		Outcome session.Outcome
	}
	// fxPush: post the alert to Alertmanager.
	fxPush struct{ Alert PostableAlert }
	// fxEscalated: the incident left tier From for To (escalation label values).
	fxEscalated struct{ From, To string }
	// fxPaging: a human is paged for the service (On), or no more.
	fxPaging struct{ On bool }
	// fxAPIRetry: Tier runs again at At after a model API outage.
	fxAPIRetry struct {
		Tier session.Tier
		At   time.Time
	}
	// fxClosed: the incident closed with the outcome.
	fxClosed struct{ Outcome session.Outcome }
	// fxWake: hand the incident an evTick at At (zero: never).
	fxWake struct{ At time.Time }
	// fxPersist: the incident changed: persist and publish it.
	fxPersist struct{}
	// fxLog: a log line.
	fxLog struct {
		Level slog.Level
		Msg   string
		Args  []any
	}
)

func (fxRequestSlot) isEffect()   {}
func (fxStartSession) isEffect()  {}
func (fxCancelSession) isEffect() {}
func (fxPush) isEffect()          {}
func (fxEscalated) isEffect()     {}
func (fxPaging) isEffect()        {}
func (fxAPIRetry) isEffect()      {}
func (fxClosed) isEffect()        {}
func (fxWake) isEffect()          {}
func (fxPersist) isEffect()       {}
func (fxLog) isEffect()           {}
