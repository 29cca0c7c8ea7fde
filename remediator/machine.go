package remediator

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/claude-ops/claude-ops/prompts"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
)

// The incident machine: every decision the remediator takes about one
// incident is (*incident).Handle, a pure function of the incident, an event
// and the time. It changes only the incident and returns the effects the
// event loop carries out (start or cancel a session, push an alert, count,
// persist, wake up later). It does no I/O, reads no clock and starts nothing.

// policy is the configuration the machine decides by.
type policy struct {
	VerifyTimeout time.Duration
	DryRun        bool
}

// machine is one call of Handle.
type machine struct {
	in      *incident
	now     time.Time
	out     []effect
	changed bool
}

// Handle applies an event to the incident at time now and returns what the
// loop must do, in order. The incident's last effects are an fxWake when its
// next wake-up moved, and an fxPersist when it changed.
func (in *incident) Handle(ev event, now time.Time) []effect {
	m := &machine{in: in, now: now}
	if _, ok := ev.(evTick); ok {
		in.wakeAt = time.Time{} // the loop forgot it: announce the next one
	}
	m.handle(ev)
	if w := in.wake(); !w.Equal(in.wakeAt) {
		in.wakeAt = w
		m.emit(fxWake{At: w})
	}
	if m.changed {
		in.Updated = now
		m.emit(fxPersist{})
	}
	return m.out
}

func (m *machine) emit(fx ...effect) { m.out = append(m.out, fx...) }

func (m *machine) log(level slog.Level, msg string, args ...any) {
	args = append([]any{"id", m.in.ID, "service", m.in.Service}, args...)
	m.emit(fxLog{Level: level, Msg: msg, Args: args})
}

func (m *machine) handle(ev event) {
	in := m.in
	if in.State == StateClosed {
		return
	}
	switch ev := ev.(type) {
	case evOpened:
		ev.Alert.Status = "firing"
		in.upsertAlert(ev.Alert)
		m.changed = true
		m.log(slog.LevelInfo, "incident opened", "alertname", ev.Alert.Labels.Get("alertname"))
		m.requestSlot(true)
	case evAlertFired:
		ev.Alert.Status = "firing"
		if in.upsertAlert(ev.Alert) {
			m.changed = true
		}
	case evAlertResolved:
		if !in.resolveAlert(ev.Alert) {
			return
		}
		m.changed = true
		if !in.anyFiring() {
			m.allResolved(ev.Live, ev.LiveOK)
		}
	case evPolled:
		m.polled(ev)
	case evLimitRefused:
		if in.CooldownRefusal == "" {
			in.CooldownRefusal = ev.Reason
			m.changed = true
		}
		m.log(slog.LevelInfo, "cooldown refused an action; the incident goes to a human after this session", "reason", ev.Reason)
	case evSlotGranted:
		m.slotGranted(ev.Session)
	case evSlotRefused:
		m.needsHuman(ev.Reason, ev.Detail)
	case evSessionEnded:
		m.sessionEnded(ev)
	case evTick:
		m.tick()
	case evResumed:
		m.resumed()
	}
}

// requestSlot asks for a session at the incident's tier, once.
func (m *machine) requestSlot(admit bool) {
	if m.in.waiting {
		return
	}
	m.in.waiting = true
	m.emit(fxRequestSlot{Tier: m.in.tier(), Admit: admit})
}

func (m *machine) slotGranted(id string) {
	in := m.in
	if !in.waiting || in.running != "" {
		return
	}
	in.waiting = false
	if in.State == StateOpen {
		in.State = StateTier2
	}
	tier := in.tier()
	in.running = id
	in.Sessions = append(in.Sessions, SessionRef{ID: id, Tier: tier, Start: m.now, Outcome: session.OutcomeRunning})
	m.changed = true
	m.log(slog.LevelInfo, "starting session", "tier", int(tier), "session", id)
	m.emit(fxStartSession{ID: id, Tier: tier, Handoff: in.handoff(tier)})
}

func (m *machine) sessionEnded(ev evSessionEnded) {
	in := m.in
	if in.running != ev.Session {
		return // not the incident's session any more (it was stopped)
	}
	in.running = ""
	m.changed = true
	if errors.Is(ev.Err, sessions.ErrBudget) {
		in.Sessions = slices.DeleteFunc(in.Sessions, func(s SessionRef) bool { return s.ID == ev.Session })
		m.needsHuman(ReasonBudget, fmt.Sprintf("the daily budget is spent: Tier %d was not started", in.tier()))
		return
	}
	ref := in.session(ev.Session)
	fill(ref, ev.Record, ev.Err, m.now)
	in.addRefusals(ref)
	m.log(slog.LevelInfo, "session ended", "tier", int(ref.Tier), "session", ref.ID,
		"outcome", ref.Outcome, "error_subtype", ref.ErrorSubtype, "reason", ref.Reason)
	if in.resolving {
		in.resolving = false
		if !in.anyFiring() {
			m.close(resolvedOutcome(ref.Actions, in.resolvedAt()))
			return
		}
	}
	if in.CooldownRefusal != "" {
		m.needsHuman(in.limitReason(), in.CooldownRefusal)
		return
	}
	if in.pol.DryRun {
		if p := proposed(ref.Actions); len(p) > 0 {
			m.dryRunEnd(ReasonProposed, fmt.Sprintf("the Tier %d session proposed %d change(s)", ref.Tier, len(p)))
			return
		}
	}
	switch classifyAPI(ref.Outcome, ref.ErrorSubtype, ref.Reason) {
	case apiBilling:
		m.needsHuman(ReasonBudget, fmt.Sprintf("the budget was spent during the Tier %d session %s (%s): %s", ref.Tier, ref.ID, ref.Outcome, ref.Reason))
		return
	case apiAuth:
		m.needsHuman(ReasonAuthFailed, fmt.Sprintf("the model API key is missing or was rejected: the Tier %d session %s ended %s: %s", ref.Tier, ref.ID, ref.Outcome, ref.Reason))
		return
	case apiUnavailable:
		m.apiOutage(ref)
		return
	}
	in.APIFailures, in.APIError = 0, ""
	if ref.Outcome == session.OutcomeRemediated {
		m.startVerify()
		return
	}
	m.escalate(false)
}

// fill copies a session's end into its ref.
func fill(ref *SessionRef, rec session.Record, err error, now time.Time) {
	ref.End = rec.End
	if ref.End.IsZero() {
		ref.End = now
	}
	ref.Outcome, ref.ErrorSubtype, ref.Reason = rec.Outcome, rec.ErrorSubtype, rec.Reason
	ref.Actions, ref.CostUSD = rec.Actions, rec.CostUSD
	if err != nil {
		ref.Outcome, ref.Reason = session.OutcomeError, err.Error()
	}
	if ref.Outcome == "" || ref.Outcome == session.OutcomeRunning {
		ref.Outcome = session.OutcomeError
	}
	ref.Result = nil
	if len(rec.StructuredOutput) > 0 {
		var rr session.RemediationResult
		if json.Unmarshal(rec.StructuredOutput, &rr) == nil {
			ref.Result = &rr
		}
	}
}

// resolvedOutcome is the outcome of an incident whose alerts all resolved,
// at resolvedAt, while its session ran: remediated when the session had done
// a change by then (the change fixed it, as far as the monitoring system can
// tell), resolved when it did none, or only after the alerts had resolved on
// their own. A zero time, on either side, is not held against the change.
func resolvedOutcome(actions []session.Action, resolvedAt time.Time) session.Outcome {
	for _, a := range actions {
		if a.Result == string(session.ResultDone) && session.ActionKind(a.Action).Changes() &&
			(resolvedAt.IsZero() || a.Time.IsZero() || !a.Time.After(resolvedAt)) {
			return session.OutcomeRemediated
		}
	}
	return session.OutcomeResolved
}

// apiOutage: the session ended on a model API outage. Its tier runs again
// after a backoff; after MaxAPIRetries retries, a human.
func (m *machine) apiOutage(ref *SessionRef) {
	in := m.in
	in.APIFailures++
	in.APIError = ref.Reason
	if in.APIError == "" {
		in.APIError = fmt.Sprintf("%s %s", ref.Outcome, ref.ErrorSubtype)
	}
	d, ok := apiRetryDelay(in.APIFailures)
	if !ok {
		m.needsHuman(ReasonAPIUnavailable, fmt.Sprintf("model API unavailable: %d Tier %d sessions in a row ended on a model API error; the last: %s",
			in.APIFailures, ref.Tier, in.APIError))
		return
	}
	in.RetryAt = m.now.Add(d)
	m.emit(fxAPIRetry{Tier: ref.Tier, At: in.RetryAt})
	m.log(slog.LevelWarn, "model API error; the same tier runs again later",
		"tier", int(ref.Tier), "failures", in.APIFailures, "retry_at", in.RetryAt, "error", in.APIError)
}

// startVerify waits for the monitoring system to confirm a tier's fix.
func (m *machine) startVerify() {
	in := m.in
	if in.tier() == session.Tier3 {
		in.State = StateVerify3
	} else {
		in.State = StateVerify2
	}
	in.VerifyDeadline = m.now.Add(in.pol.VerifyTimeout)
	m.changed = true
	if !in.anyFiring() {
		m.allResolved(nil, false)
	}
}

// escalate moves an incident whose tier failed to the next tier or to a human.
func (m *machine) escalate(notVerified bool) {
	in := m.in
	if in.CooldownRefusal != "" {
		m.needsHuman(in.limitReason(), in.CooldownRefusal)
		return
	}
	if in.tier() == session.Tier2 {
		in.State, in.VerifyDeadline = StateTier3, time.Time{}
		in.APIFailures, in.APIError, in.RetryAt = 0, "", time.Time{}
		m.changed = true
		m.emit(fxEscalated{From: escTier2, To: escTier3})
		m.requestSlot(false)
		m.log(slog.LevelInfo, "incident escalated to Tier 3", "not_verified", notVerified)
		return
	}
	if notVerified {
		m.needsHuman(ReasonNotVerified, fmt.Sprintf("Tier 3 reported fixed but the alerts still fired after %s", in.pol.VerifyTimeout))
		return
	}
	detail := "Tier 3 did not fix it"
	if s := in.lastEnded(session.Tier3); s != nil {
		detail = fmt.Sprintf("Tier 3 ended with outcome %s", s.Outcome)
	}
	if in.pol.DryRun {
		m.dryRunEnd(ReasonNoProposal, "neither Tier 2 nor Tier 3 proposed a change; "+detail)
		return
	}
	m.needsHuman(ReasonNotFixed, detail)
}

// needsHuman pages a human: metric, and an alert kept alive in Alertmanager.
// In dry-run it reports instead (dryRunEnd): nothing pages.
func (m *machine) needsHuman(reason, detail string) {
	in := m.in
	if in.pol.DryRun {
		m.dryRunEnd(reason, detail)
		return
	}
	from := escTier2
	if in.tier() == session.Tier3 {
		from = escTier3
	}
	in.State, in.Reason, in.Detail = StateNeedsHuman, reason, detail
	in.NeedsHumanSince, in.VerifyDeadline, in.RetryAt, in.waiting = m.now, time.Time{}, time.Time{}, false
	in.nextResend = m.now.Add(AlertResendInterval)
	m.changed = true
	m.emit(fxEscalated{From: from, To: escHuman}, fxPaging{On: true}, fxPush{needsHumanAlert(in, m.now.Add(AlertTTL))})
	m.log(slog.LevelWarn, "incident needs a human", "reason", reason, "detail", detail)
}

// dryRunEnd: in dry-run, the incident is reported once (AlertDryRunProposal,
// severity info) with what its sessions proposed, and waits for its alerts
// to resolve. Nobody is paged.
func (m *machine) dryRunEnd(reason, detail string) {
	in := m.in
	in.State, in.Reason, in.Detail = StateDryRun, reason, detail
	in.VerifyDeadline, in.RetryAt, in.waiting = time.Time{}, time.Time{}, false
	m.changed = true
	m.emit(fxPush{dryRunAlert(in, m.now)})
	m.log(slog.LevelInfo, "dry run: incident reported, nothing done", "reason", reason, "detail", detail)
}

// allResolved: every firing alert of the incident resolved. live are the
// actions of the running session so far, when liveOK.
func (m *machine) allResolved(live []session.Action, liveOK bool) {
	in := m.in
	switch in.State {
	case StateVerify2, StateVerify3:
		m.close(session.OutcomeRemediated)
		return
	case StateNeedsHuman:
		m.close(session.OutcomeNeedsHuman)
		return
	case StateDryRun:
		m.close(session.OutcomeDryRun)
		return
	}
	// open, tier2, tier3: running or waiting.
	if in.running == "" {
		m.close(session.OutcomeResolved)
		return
	}
	if !liveOK {
		// Cannot look at it: stop it, and let its record decide (sessionEnded).
		in.resolving = true
		m.changed = true
		m.emit(fxCancelSession{ID: in.running, Outcome: session.OutcomeResolved})
		return
	}
	// A change the session did fixed it: the session and the incident are
	// remediated. Otherwise it resolved on its own.
	outcome := resolvedOutcome(live, in.resolvedAt())
	m.emit(fxCancelSession{ID: in.running, Outcome: outcome})
	if s := in.session(in.running); s != nil {
		s.Outcome, s.End, s.Actions = outcome, m.now, slices.Clone(live)
		s.Reason = "the incident's alerts resolved while the session ran"
		in.addRefusals(s)
	}
	in.running = ""
	m.close(outcome)
}

func (m *machine) close(outcome session.Outcome) {
	in := m.in
	if in.State == StateNeedsHuman {
		m.emit(fxPaging{On: false}, fxPush{needsHumanAlert(in, m.now)})
	}
	in.State, in.Closed, in.Outcome = StateClosed, m.now, outcome
	in.VerifyDeadline, in.RetryAt, in.nextResend = time.Time{}, time.Time{}, time.Time{}
	in.waiting, in.resolving = false, false
	m.changed = true
	m.emit(fxClosed{Outcome: outcome})
	if outcome == session.OutcomeRemediated {
		m.emit(fxPush{remediatedAlert(in, m.now)})
	}
	m.log(slog.LevelInfo, "incident closed", "outcome", outcome)
}

// polled: Alertmanager no longer listing any of the firing alerts of a
// watched incident is as good as their resolved webhooks.
func (m *machine) polled(ev evPolled) {
	in := m.in
	if !in.watched() {
		return
	}
	fps := in.firing()
	if len(fps) == 0 {
		return
	}
	for _, fp := range fps {
		if !ev.Asked[fp] || ev.Active[fp] {
			return
		}
	}
	for i, a := range in.Alerts {
		if a.Status != "resolved" {
			in.resolved(i, m.now)
		}
	}
	m.changed = true
	m.log(slog.LevelInfo, "alertmanager no longer lists the incident's alerts")
	m.allResolved(nil, false)
}

// tick does what is due: a retry after a model API error, the end of
// verification, the re-post of the needs-human alert.
func (m *machine) tick() {
	in := m.in
	if !in.RetryAt.IsZero() && !m.now.Before(in.RetryAt) && in.running == "" {
		in.RetryAt = time.Time{}
		m.changed = true
		m.requestSlot(false)
		m.log(slog.LevelInfo, "running the tier again after a model API error", "tier", int(in.tier()), "failures", in.APIFailures)
	}
	if (in.State == StateVerify2 || in.State == StateVerify3) && !m.now.Before(in.VerifyDeadline) {
		if s := in.lastEnded(in.tier()); s != nil {
			s.NotVerified = true
		}
		m.changed = true
		m.log(slog.LevelInfo, "fix not verified in time", "state", in.State)
		m.escalate(true)
	}
	if in.State == StateNeedsHuman && !in.nextResend.IsZero() && !m.now.Before(in.nextResend) {
		in.nextResend = m.now.Add(AlertResendInterval)
		m.emit(fxPush{needsHumanAlert(in, m.now.Add(AlertTTL))})
	}
}

// resumed carries on after a restart: a tier that was running runs again,
// verification goes on until its deadline, and a needs-human incident keeps
// its metric and alert alive.
func (m *machine) resumed() {
	in := m.in
	for i := range in.Sessions {
		if s := &in.Sessions[i]; s.Outcome == session.OutcomeRunning || s.Outcome == "" {
			s.Outcome, s.End = session.OutcomeInterrupted, m.now
		}
	}
	in.running, in.waiting, in.resolving = "", false, false
	m.changed = true
	switch in.State {
	case StateOpen, StateTier2, StateTier3:
		if in.RetryAt.After(m.now) {
			break // waits for its retry after a model API error (tick)
		}
		in.RetryAt = time.Time{}
		m.requestSlot(false)
	case StateVerify2, StateVerify3:
		if in.VerifyDeadline.IsZero() {
			in.VerifyDeadline = m.now.Add(in.pol.VerifyTimeout)
		}
	case StateNeedsHuman:
		in.nextResend = m.now.Add(AlertResendInterval)
		m.emit(fxPaging{On: true}, fxPush{needsHumanAlert(in, m.now.Add(AlertTTL))})
	}
	m.log(slog.LevelInfo, "incident resumed", "state", in.State)
}

// handoff is what the incident knows for a tier's prompt; the worker adds
// Tier 1's results and the repo rules.
func (in *incident) handoff(tier session.Tier) prompts.Handoff {
	h := prompts.Handoff{Service: in.Service, DryRun: in.pol.DryRun}
	for _, a := range in.Alerts {
		h.Alerts = append(h.Alerts, prompts.Alert{
			Status: a.Status, Labels: a.Labels.Map(), Annotations: a.Annotations.Map(),
			StartsAt: a.StartsAt, GeneratorURL: a.GeneratorURL,
		})
	}
	if tier == session.Tier3 {
		if prev := in.lastEnded(session.Tier2); prev != nil {
			h.Previous = previousResult(prev, in.pol.VerifyTimeout)
			h.PreviousActions = slices.Clone(prev.Actions)
		}
	}
	return h
}

// previousResult is the lower tier's result as the next tier reads it.
func previousResult(s *SessionRef, verify time.Duration) *session.RemediationResult {
	var p session.RemediationResult
	if s.Result != nil {
		p = *s.Result
		p.Actions = slices.Clone(p.Actions)
	} else {
		p = session.RemediationResult{
			Summary:  fmt.Sprintf("The Tier %d session ended with outcome %s and no structured result.", s.Tier, s.Outcome),
			Outcome:  "not_fixed",
			Findings: s.Reason,
		}
	}
	if s.NotVerified {
		p.Findings += fmt.Sprintf("\n\n[Claude Ops] This tier reported fixed, but the alerts were still firing %s later.", verify)
	}
	return &p
}
