package remediator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/claude-ops/claude-ops/prompts"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/webhook"
)

// loopState is owned by the event loop (and by Resume before it).
type loopState struct {
	byID      map[string]*incident // open incidents
	byService map[string]*incident // the open incident of each service
	pending   []string             // incidents waiting for a slot, in arrival order
	active    int                  // session goroutines alive
	busy      map[string]bool      // services with a session goroutine alive
	started   map[string]time.Time // service → latest session start (blast radius)
	dirty     map[string]*incident // to persist and publish at the end of the event
	acks      []int64              // inbox batches applied, deleted once persisted

	results chan result
	polls   chan pollResult
	pushes  chan []PostableAlert
	quit    chan struct{} // closed when the loop stops
	wg      sync.WaitGroup

	pollInFlight bool
	nextPoll     time.Time
	nextResend   time.Time
	resumed      bool
	running      bool
}

func newLoopState() *loopState {
	return &loopState{
		byID: map[string]*incident{}, byService: map[string]*incident{},
		busy: map[string]bool{}, started: map[string]time.Time{}, dirty: map[string]*incident{},
		results: make(chan result, 16), polls: make(chan pollResult, 1),
		pushes: make(chan []PostableAlert, 256), quit: make(chan struct{}),
	}
}

// result is what a worker reports when its session ends.
type result struct {
	incident, service, session string
	tier                       session.Tier
	rec                        session.Record
	err                        error
}

type pollResult struct {
	asked  []string
	active map[string]bool
	err    error
}

// Resume loads the open incidents from the store so that Run carries them
// on: a tier that was running runs again, verification goes on until its
// deadline, and a needs-human incident keeps its metric and alert alive. Call
// it before Run (Run calls it when it was not); never concurrently with Run.
func (r *Remediator) Resume(ctx context.Context) error {
	lp := r.lp
	if lp.running {
		return errors.New("remediator: Resume after Run")
	}
	if lp.resumed {
		return nil
	}
	recs, err := r.store.OpenIncidents(ctx)
	if err != nil {
		return fmt.Errorf("remediator: load open incidents: %w", err)
	}
	now := r.clock.Now()
	for _, rec := range recs {
		v, err := decodeIncident(rec)
		if err != nil {
			r.log.Error("cannot resume incident", "id", rec.ID, "err", err)
			continue
		}
		in := &incident{Incident: v}
		if other := lp.byService[in.Service]; other != nil {
			r.log.Warn("two open incidents for one service; resuming the oldest only", "service", in.Service, "kept", other.ID, "skipped", in.ID)
			continue
		}
		for i := range in.Sessions {
			if s := &in.Sessions[i]; s.Outcome == session.OutcomeRunning || s.Outcome == "" {
				s.Outcome, s.End = session.OutcomeInterrupted, now
			}
		}
		switch in.State {
		case StateOpen, StateTier2, StateTier3:
			if in.RetryAt.After(now) {
				break // waits for its retry after a model API error (onTimer)
			}
			in.RetryAt = time.Time{}
			r.enqueueRun(in)
		case StateVerify2, StateVerify3:
			if in.VerifyDeadline.IsZero() {
				in.VerifyDeadline = now.Add(r.cfg.VerifyTimeout)
			}
		case StateNeedsHuman:
			r.m.needsHuman.WithLabelValues(in.Service).Set(1)
			r.push([]PostableAlert{r.needsHumanAlert(in, now.Add(AlertTTL))})
			lp.nextResend = now.Add(AlertResendInterval)
		case StateDryRun:
			// Reported when it got there; watched until its alerts resolve.
		default:
			r.log.Error("cannot resume incident in unknown state", "id", in.ID, "state", in.State)
			continue
		}
		lp.byID[in.ID], lp.byService[in.Service] = in, in
		r.touch(in)
		r.log.Info("incident resumed", "id", in.ID, "service", in.Service, "state", in.State)
	}
	// Services that got a session in the last hour count for the blast radius.
	if recent, err := r.store.ListIncidents(ctx, 500); err != nil {
		r.log.Warn("blast radius: cannot list recent incidents", "err", err)
	} else {
		for _, rec := range recent {
			v, err := decodeIncident(rec)
			if err != nil {
				continue
			}
			for _, s := range v.Sessions {
				if now.Sub(s.Start) < blastWindow && s.Start.After(lp.started[v.Service]) {
					lp.started[v.Service] = s.Start
				}
			}
		}
	}
	if err := r.replayInbox(ctx); err != nil {
		return err
	}
	lp.resumed = true
	r.flush(ctx)
	return nil
}

// replayInbox queues the batches acknowledged before the last stop and not
// applied then; the loop's first event applies them.
func (r *Remediator) replayInbox(ctx context.Context) error {
	if r.inbox == nil {
		return nil
	}
	entries, err := r.inbox.Load(ctx)
	if err != nil {
		return fmt.Errorf("remediator: load inbox: %w", err)
	}
	for _, e := range entries {
		var alerts []webhook.Alert
		if err := json.Unmarshal(e.Data, &alerts); err != nil {
			r.log.Error("inbox: dropping a batch that does not decode", "id", e.ID, "err", err)
			r.lp.acks = append(r.lp.acks, e.ID)
			continue
		}
		r.mu.Lock()
		r.queue = append(r.queue, alerts...)
		r.queueIDs = append(r.queueIDs, e.ID)
		r.mu.Unlock()
	}
	if len(entries) > 0 {
		r.log.Info("replaying alerts acknowledged before the last stop", "batches", len(entries))
		r.poke()
	}
	return nil
}

// Run is the event loop; it returns nil when ctx is cancelled, after the
// running sessions (cancelled with cause interrupted) have returned. Their
// incidents are left as they were persisted and resume at the next start.
// It fits an oklog/run group:
//
//	ctx, cancel := context.WithCancel(ctx)
//	g.Add(func() error { return rem.Run(ctx) }, func(error) { cancel() })
func (r *Remediator) Run(ctx context.Context) error {
	lp := r.lp
	if lp.running {
		return errors.New("remediator: Run called twice")
	}
	if err := r.Resume(ctx); err != nil {
		return err
	}
	lp.running = true
	// Sessions, polls and pushes live under base, which outlives ctx until
	// the loop has stopped: a shutdown then cancels sessions as interrupted.
	base, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	if r.am != nil {
		lp.wg.Add(1)
		go r.pusher(base, lp.pushes, lp.quit, &lp.wg)
	}
	defer func() {
		close(lp.quit)
		stop(session.Cancelled(session.OutcomeInterrupted))
		lp.wg.Wait()
		r.log.Info("remediator stopped")
	}()
	r.afterEvent(base, ctx.Err() == nil)
	for {
		var (
			t      Timer
			timerC <-chan time.Time
		)
		if next := r.nextWake(); !next.IsZero() {
			t = r.clock.NewTimer(next.Sub(r.clock.Now()))
			timerC = t.C()
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			return nil
		case <-r.wake:
			r.drain(base)
		case res := <-lp.results:
			r.onResult(base, res)
		case p := <-lp.polls:
			r.onPoll(base, p)
		case <-timerC:
			r.onTimer(base)
		}
		if t != nil {
			t.Stop()
		}
		r.afterEvent(base, ctx.Err() == nil)
	}
}

// afterEvent starts what can start, then persists and publishes what changed.
func (r *Remediator) afterEvent(ctx context.Context, schedule bool) {
	if schedule {
		r.schedule(ctx)
	}
	r.flush(ctx)
}

// touch marks an incident changed: persisted and published after the event.
func (r *Remediator) touch(in *incident) {
	in.Updated = r.clock.Now()
	r.lp.dirty[in.ID] = in
}

func (r *Remediator) flush(ctx context.Context) {
	lp := r.lp
	if len(lp.dirty) > 0 {
		r.viewMu.Lock()
		for id, in := range lp.dirty {
			if in.State == StateClosed {
				delete(r.views, id)
			} else {
				r.views[id] = in.view()
			}
		}
		r.viewMu.Unlock()
		saved := true
		for id, in := range lp.dirty {
			rec, err := in.record()
			if err == nil {
				err = r.store.SaveIncident(ctx, rec)
			}
			if err != nil {
				saved = false
				r.log.Error("save incident", "id", id, "state", in.State, "err", err)
			}
		}
		clear(lp.dirty)
		if !saved {
			// Keep the batches: replayed at the next start, they join.
			lp.acks = lp.acks[:0]
		}
	}
	if len(lp.acks) > 0 && r.inbox != nil {
		if err := r.inbox.Delete(ctx, lp.acks); err != nil {
			r.log.Error("inbox: delete applied batches", "err", err)
		}
		lp.acks = lp.acks[:0]
	}
	r.m.open.Set(float64(len(lp.byID)))
}

// drain handles what Enqueue and CooldownRefused queued.
func (r *Remediator) drain(ctx context.Context) {
	alerts, ids, refs := r.take()
	r.lp.acks = append(r.lp.acks, ids...)
	for _, rf := range refs {
		r.onRefusal(rf)
	}
	for i := range alerts {
		r.onAlert(ctx, alerts[i])
	}
	r.giveBack(alerts)
}

func (r *Remediator) onRefusal(rf refusal) {
	in := r.lp.byID[rf.incident]
	if in == nil {
		r.log.Warn("cooldown refusal for an unknown or closed incident", "incident", rf.incident, "reason", rf.reason)
		return
	}
	if in.CooldownRefusal == "" {
		in.CooldownRefusal = rf.reason
		r.touch(in)
	}
	r.log.Info("cooldown refused an action; the incident goes to a human after this session", "incident", in.ID, "service", in.Service, "reason", rf.reason)
}

func (r *Remediator) onAlert(ctx context.Context, wa webhook.Alert) {
	if wa.Ours || wa.Labels["claudeops"] == "true" {
		return
	}
	if wa.Service == "" {
		r.log.Warn("alert without a service dropped", "fingerprint", wa.Fingerprint, "alertname", wa.Labels["alertname"])
		return
	}
	lp := r.lp
	a := alertFrom(wa)
	in := lp.byService[wa.Service]
	if a.Status == "resolved" {
		if in == nil || !in.resolveAlert(a) {
			return
		}
		r.touch(in)
		if len(in.firing()) == 0 {
			r.onAllResolved(ctx, in)
		}
		return
	}
	a.Status = "firing"
	if in != nil {
		if in.upsertAlert(a) {
			r.touch(in)
		}
		return
	}
	now := r.clock.Now()
	in = &incident{Incident: Incident{
		ID: "inc-" + session.NewID(now), Service: wa.Service, State: StateOpen, Opened: now,
		Alerts: []Alert{a}, Sessions: []SessionRef{},
	}}
	lp.byID[in.ID], lp.byService[in.Service] = in, in
	r.touch(in)
	r.log.Info("incident opened", "id", in.ID, "service", in.Service, "alertname", a.Labels["alertname"])
	if !r.admit(in.Service, now) {
		r.needsHuman(in, ReasonBlastRadius,
			fmt.Sprintf("sessions already started for %d distinct services in the last hour (limit %d)", len(lp.started), r.cfg.MaxServicesPerHour))
		return
	}
	r.enqueueRun(in)
}

// admit applies the blast radius: it reports whether a session may start for
// the service, reserving the service in the window when it may.
func (r *Remediator) admit(service string, now time.Time) bool {
	if r.cfg.MaxServicesPerHour < 0 {
		return true
	}
	lp := r.lp
	for s, t := range lp.started {
		if now.Sub(t) >= blastWindow {
			delete(lp.started, s)
		}
	}
	if _, ok := lp.started[service]; ok {
		return true
	}
	if len(lp.started) >= r.cfg.MaxServicesPerHour {
		return false
	}
	lp.started[service] = now
	return true
}

func (r *Remediator) enqueueRun(in *incident) {
	if in.queued {
		return
	}
	in.queued = true
	r.lp.pending = append(r.lp.pending, in.ID)
}

// schedule starts sessions for waiting incidents while slots are free, in
// arrival order, one per service.
func (r *Remediator) schedule(ctx context.Context) {
	lp := r.lp
	keep := lp.pending[:0]
	for _, id := range lp.pending {
		in := lp.byID[id]
		if in == nil || !in.queued {
			continue
		}
		if lp.active >= r.cfg.Concurrency || lp.busy[in.Service] {
			keep = append(keep, id)
			continue
		}
		in.queued = false
		r.start(ctx, in)
	}
	clear(lp.pending[len(keep):])
	lp.pending = keep
}

// start runs the incident's tier in a worker goroutine.
func (r *Remediator) start(ctx context.Context, in *incident) {
	lp := r.lp
	if in.State == StateOpen {
		in.State = StateTier2
	}
	tier := in.tier()
	now := r.clock.Now()
	id := session.NewID(now)
	sctx, cancel := context.WithCancelCause(ctx)
	in.running, in.cancel = id, cancel
	in.Sessions = append(in.Sessions, SessionRef{ID: id, Tier: tier, Start: now, Outcome: session.OutcomeRunning})
	lp.active++
	lp.busy[in.Service] = true
	lp.started[in.Service] = now
	r.touch(in)
	incident := in.ID
	spec := sessions.Spec{ID: id, Tier: tier, Trigger: session.TriggerAlert, IncidentID: in.ID, Service: in.Service,
		OnRefused: func(_ session.Stage, reason string) { r.CooldownRefused(incident, reason) }}
	h := r.handoff(in, tier)
	r.log.Info("starting session", "incident", in.ID, "service", in.Service, "tier", int(tier), "session", id)
	lp.wg.Add(1)
	go r.work(sctx, cancel, spec, h, lp.results, lp.quit, &lp.wg)
}

// work runs one session; it never touches incidents, only reports.
func (r *Remediator) work(ctx context.Context, cancel context.CancelCauseFunc, spec sessions.Spec, h prompts.Handoff,
	results chan<- result, quit <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	defer cancel(nil)
	if r.ctxp != nil {
		h.Tier1 = r.ctxp.Tier1(ctx, spec.Service)
		h.RepoRules = r.ctxp.RepoRules(spec.Service)
	}
	spec.System, spec.Prompt = r.prompt(spec.Tier, h)
	rec, err := r.sessions.Run(ctx, spec)
	res := result{incident: spec.IncidentID, service: spec.Service, session: spec.ID, tier: spec.Tier, rec: rec, err: err}
	select {
	case results <- res:
	case <-quit:
	}
}

// handoff builds what the loop knows for a tier's prompt; the worker adds
// Tier 1's results and the repo rules.
func (r *Remediator) handoff(in *incident, tier session.Tier) prompts.Handoff {
	h := prompts.Handoff{Service: in.Service, DryRun: r.cfg.DryRun}
	for _, a := range in.Alerts {
		h.Alerts = append(h.Alerts, prompts.Alert{
			Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt, GeneratorURL: a.GeneratorURL,
		})
	}
	if tier == session.Tier3 {
		if prev := in.lastEnded(session.Tier2); prev != nil {
			h.Previous = previousResult(prev, r.cfg.VerifyTimeout)
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

func (r *Remediator) onResult(ctx context.Context, res result) {
	lp := r.lp
	lp.active--
	delete(lp.busy, res.service)
	// Refusals and alerts queued before the session ended apply first.
	r.drain(ctx)
	in := lp.byID[res.incident]
	if in == nil || in.running != res.session {
		return // closed meanwhile (resolved)
	}
	in.running, in.cancel = "", nil
	ref := in.session(res.session)
	if errors.Is(res.err, sessions.ErrBudget) {
		in.Sessions = slices.DeleteFunc(in.Sessions, func(s SessionRef) bool { return s.ID == res.session })
		r.needsHuman(in, ReasonBudget, fmt.Sprintf("the daily budget is spent: Tier %d was not started", res.tier))
		return
	}
	r.fill(ref, res)
	in.addRefusals(ref)
	r.touch(in)
	r.log.Info("session ended", "incident", in.ID, "service", in.Service, "tier", int(res.tier), "session", res.session,
		"outcome", ref.Outcome, "error_subtype", ref.ErrorSubtype, "reason", ref.Reason)
	if in.resolving {
		in.resolving = false
		if len(in.firing()) == 0 {
			r.close(in, resolvedOutcome(ref.Actions))
			return
		}
	}
	if in.CooldownRefusal != "" {
		r.needsHuman(in, in.limitReason(), in.CooldownRefusal)
		return
	}
	if r.cfg.DryRun {
		if p := proposed(ref.Actions); len(p) > 0 {
			r.dryRunEnd(in, ReasonProposed, fmt.Sprintf("the Tier %d session proposed %d change(s)", ref.Tier, len(p)))
			return
		}
	}
	switch classifyAPI(ref.Outcome, ref.ErrorSubtype, ref.Reason) {
	case apiBilling:
		r.needsHuman(in, ReasonBudget, fmt.Sprintf("the budget was spent during the Tier %d session %s (%s): %s", ref.Tier, ref.ID, ref.Outcome, ref.Reason))
		return
	case apiAuth:
		r.needsHuman(in, ReasonAuthFailed, fmt.Sprintf("the model API key is missing or was rejected: the Tier %d session %s ended %s: %s", ref.Tier, ref.ID, ref.Outcome, ref.Reason))
		return
	case apiUnavailable:
		r.onAPIOutage(in, ref)
		return
	}
	in.APIFailures, in.APIError = 0, ""
	if ref.Outcome == session.OutcomeRemediated {
		r.startVerify(ctx, in)
		return
	}
	r.escalate(in, false)
}

// resolvedOutcome is the outcome of an incident whose alerts all resolved
// while its session ran: remediated when the session had done a change.
func resolvedOutcome(actions []session.Action) session.Outcome {
	if acted(actions) {
		return session.OutcomeRemediated
	}
	return session.OutcomeResolved
}

// onAPIOutage: the session ended on a model API outage. Its tier runs again
// after a backoff; after MaxAPIRetries retries, a human.
func (r *Remediator) onAPIOutage(in *incident, ref *SessionRef) {
	in.APIFailures++
	in.APIError = ref.Reason
	if in.APIError == "" {
		in.APIError = fmt.Sprintf("%s %s", ref.Outcome, ref.ErrorSubtype)
	}
	d, ok := apiRetryDelay(in.APIFailures)
	if !ok {
		r.needsHuman(in, ReasonAPIUnavailable, fmt.Sprintf("model API unavailable: %d Tier %d sessions in a row ended on a model API error; the last: %s",
			in.APIFailures, ref.Tier, in.APIError))
		return
	}
	in.RetryAt = r.clock.Now().Add(d)
	r.m.apiRetries.WithLabelValues(ref.Tier.String()).Inc()
	r.touch(in)
	r.log.Warn("model API error; the same tier runs again later", "incident", in.ID, "service", in.Service,
		"tier", int(ref.Tier), "failures", in.APIFailures, "retry_at", in.RetryAt, "error", in.APIError)
}

func (r *Remediator) fill(ref *SessionRef, res result) {
	rec := res.rec
	ref.End = rec.End
	if ref.End.IsZero() {
		ref.End = r.clock.Now()
	}
	ref.Outcome, ref.ErrorSubtype, ref.Reason = rec.Outcome, rec.ErrorSubtype, rec.Reason
	ref.Actions, ref.CostUSD = rec.Actions, rec.CostUSD
	if res.err != nil {
		ref.Outcome, ref.Reason = session.OutcomeError, res.err.Error()
	}
	if ref.Outcome == "" || ref.Outcome == session.OutcomeRunning {
		ref.Outcome = session.OutcomeError
	}
	if len(rec.StructuredOutput) > 0 {
		var rr session.RemediationResult
		if err := json.Unmarshal(rec.StructuredOutput, &rr); err == nil {
			ref.Result = &rr
		}
	}
}

// startVerify waits for the monitoring system to confirm a tier's fix.
func (r *Remediator) startVerify(ctx context.Context, in *incident) {
	if in.tier() == session.Tier3 {
		in.State = StateVerify3
	} else {
		in.State = StateVerify2
	}
	now := r.clock.Now()
	in.VerifyDeadline = now.Add(r.cfg.VerifyTimeout)
	r.schedulePoll(now)
	r.touch(in)
	if len(in.firing()) == 0 {
		r.onAllResolved(ctx, in)
	}
}

// escalate moves an incident whose tier failed to the next tier or to a human.
func (r *Remediator) escalate(in *incident, notVerified bool) {
	if in.CooldownRefusal != "" {
		r.needsHuman(in, in.limitReason(), in.CooldownRefusal)
		return
	}
	if in.tier() == session.Tier2 {
		in.State, in.VerifyDeadline = StateTier3, time.Time{}
		in.APIFailures, in.APIError, in.RetryAt = 0, "", time.Time{}
		r.m.escalations.WithLabelValues(escTier2, escTier3).Inc()
		r.touch(in)
		r.enqueueRun(in)
		r.log.Info("incident escalated to Tier 3", "id", in.ID, "service", in.Service, "not_verified", notVerified)
		return
	}
	if notVerified {
		r.needsHuman(in, ReasonNotVerified, fmt.Sprintf("Tier 3 reported fixed but the alerts still fired after %s", r.cfg.VerifyTimeout))
		return
	}
	detail := "Tier 3 did not fix it"
	if s := in.lastEnded(session.Tier3); s != nil {
		detail = fmt.Sprintf("Tier 3 ended with outcome %s", s.Outcome)
	}
	if r.cfg.DryRun {
		r.dryRunEnd(in, ReasonNoProposal, "neither Tier 2 nor Tier 3 proposed a change; "+detail)
		return
	}
	r.needsHuman(in, ReasonNotFixed, detail)
}

// needsHuman pages a human: metric, and an alert kept alive in Alertmanager.
// In dry-run it reports instead (dryRunEnd): nothing pages.
func (r *Remediator) needsHuman(in *incident, reason, detail string) {
	if r.cfg.DryRun {
		r.dryRunEnd(in, reason, detail)
		return
	}
	now := r.clock.Now()
	from := escTier2
	if in.tier() == session.Tier3 {
		from = escTier3
	}
	in.State, in.Reason, in.Detail = StateNeedsHuman, reason, detail
	in.NeedsHumanSince, in.VerifyDeadline, in.RetryAt, in.queued = now, time.Time{}, time.Time{}, false
	r.m.escalations.WithLabelValues(from, escHuman).Inc()
	r.m.needsHuman.WithLabelValues(in.Service).Set(1)
	r.touch(in)
	r.push([]PostableAlert{r.needsHumanAlert(in, now.Add(AlertTTL))})
	if r.lp.nextResend.IsZero() {
		r.lp.nextResend = now.Add(AlertResendInterval)
	}
	r.schedulePoll(now)
	r.log.Warn("incident needs a human", "id", in.ID, "service", in.Service, "reason", reason, "detail", detail)
}

// dryRunEnd: in dry-run, the incident is reported once (AlertDryRunProposal,
// severity info) with what its sessions proposed, and waits for its alerts
// to resolve. Nobody is paged.
func (r *Remediator) dryRunEnd(in *incident, reason, detail string) {
	now := r.clock.Now()
	in.State, in.Reason, in.Detail = StateDryRun, reason, detail
	in.VerifyDeadline, in.RetryAt, in.queued = time.Time{}, time.Time{}, false
	r.touch(in)
	r.push([]PostableAlert{r.dryRunAlert(in, now)})
	r.schedulePoll(now)
	r.log.Info("dry run: incident reported, nothing done", "id", in.ID, "service", in.Service, "reason", reason, "detail", detail)
}

// onAllResolved: every firing alert of the incident resolved.
func (r *Remediator) onAllResolved(ctx context.Context, in *incident) {
	switch in.State {
	case StateVerify2, StateVerify3:
		r.close(in, session.OutcomeRemediated)
	case StateNeedsHuman:
		r.close(in, session.OutcomeNeedsHuman)
	case StateDryRun:
		r.close(in, session.OutcomeDryRun)
	default: // open, tier2, tier3: running or waiting
		outcome := session.OutcomeResolved
		if in.running != "" {
			live, ok := r.liveActions(in.running)
			if !ok {
				// Cannot look at it (or it just ended): stop it, and let
				// its record decide (onResult).
				in.resolving = true
				r.sessions.Cancel(in.running, session.OutcomeResolved)
				in.cancel(session.Cancelled(session.OutcomeResolved))
				r.touch(in)
				return
			}
			// A change the session did fixed it: the session and the
			// incident are remediated. Otherwise it resolved on its own.
			outcome = resolvedOutcome(live)
			r.sessions.Cancel(in.running, outcome)
			in.cancel(session.Cancelled(outcome))
			if s := in.session(in.running); s != nil {
				s.Outcome, s.End, s.Actions = outcome, r.clock.Now(), live
				s.Reason = "the incident's alerts resolved while the session ran"
				in.addRefusals(s)
			}
			in.running, in.cancel = "", nil
		}
		r.close(in, outcome)
	}
}

// liveActions returns the actions a running session did so far, when the
// Sessions can tell (LiveSessions) and the session still runs.
func (r *Remediator) liveActions(id string) ([]session.Action, bool) {
	ls, ok := r.sessions.(LiveSessions)
	if !ok {
		return nil, false
	}
	rec, _, ok := ls.Get(id)
	if !ok {
		return nil, false
	}
	return slices.Clone(rec.Actions), true
}

func (r *Remediator) close(in *incident, outcome session.Outcome) {
	lp := r.lp
	now := r.clock.Now()
	if in.State == StateNeedsHuman {
		r.m.needsHuman.DeleteLabelValues(in.Service)
		r.push([]PostableAlert{r.needsHumanAlert(in, now)})
	}
	in.State, in.Closed, in.Outcome = StateClosed, now, outcome
	in.VerifyDeadline, in.RetryAt, in.queued, in.resolving = time.Time{}, time.Time{}, false, false
	r.m.incidents.WithLabelValues(string(outcome)).Inc()
	delete(lp.byID, in.ID)
	if lp.byService[in.Service] == in {
		delete(lp.byService, in.Service)
	}
	r.touch(in)
	if outcome == session.OutcomeRemediated {
		r.push([]PostableAlert{r.remediatedAlert(in, now)})
	}
	if r.onClose != nil {
		r.onClose(in.view())
	}
	r.log.Info("incident closed", "id", in.ID, "service", in.Service, "outcome", outcome)
}

// watched reports whether the incident waits for its alerts to resolve.
func watched(in *incident) bool {
	switch in.State {
	case StateVerify2, StateVerify3, StateNeedsHuman, StateDryRun:
		return true
	}
	return false
}

// schedulePoll makes sure Alertmanager is asked within a poll interval.
func (r *Remediator) schedulePoll(now time.Time) {
	if r.am != nil && !r.lp.pollInFlight && r.lp.nextPoll.IsZero() {
		r.lp.nextPoll = now.Add(r.cfg.PollInterval)
	}
}

// nextWake returns when the loop must wake up by itself (zero: never).
func (r *Remediator) nextWake() time.Time {
	lp := r.lp
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	poll, human := false, false
	for _, in := range lp.byID {
		switch in.State {
		case StateVerify2, StateVerify3:
			consider(in.VerifyDeadline)
			poll = true
		case StateNeedsHuman:
			poll, human = true, true
		case StateDryRun:
			poll = true
		}
		if in.running == "" {
			consider(in.RetryAt)
		}
	}
	if r.am == nil {
		return next
	}
	now := r.clock.Now()
	if poll && !lp.pollInFlight {
		if lp.nextPoll.IsZero() {
			lp.nextPoll = now.Add(r.cfg.PollInterval)
		}
		consider(lp.nextPoll)
	}
	if human {
		if lp.nextResend.IsZero() {
			lp.nextResend = now.Add(AlertResendInterval)
		}
		consider(lp.nextResend)
	} else {
		lp.nextResend = time.Time{}
	}
	return next
}

// sorted returns the open incidents, oldest first.
func (r *Remediator) sorted() []*incident {
	out := make([]*incident, 0, len(r.lp.byID))
	for _, in := range r.lp.byID {
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Opened.Equal(out[j].Opened) {
			return out[i].Opened.Before(out[j].Opened)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func sortIncidents(v []Incident) {
	sort.Slice(v, func(i, j int) bool {
		if !v[i].Opened.Equal(v[j].Opened) {
			return v[i].Opened.Before(v[j].Opened)
		}
		return v[i].ID < v[j].ID
	})
}

func (r *Remediator) onTimer(ctx context.Context) {
	lp := r.lp
	now := r.clock.Now()
	for _, in := range r.sorted() {
		if !in.RetryAt.IsZero() && !now.Before(in.RetryAt) && in.running == "" {
			in.RetryAt = time.Time{}
			r.touch(in)
			r.enqueueRun(in)
			r.log.Info("running the tier again after a model API error", "id", in.ID, "service", in.Service,
				"tier", int(in.tier()), "failures", in.APIFailures)
		}
		if (in.State == StateVerify2 || in.State == StateVerify3) && !now.Before(in.VerifyDeadline) {
			if s := in.lastEnded(in.tier()); s != nil {
				s.NotVerified = true
			}
			r.log.Info("fix not verified in time", "id", in.ID, "service", in.Service, "state", in.State)
			r.escalate(in, true)
		}
	}
	if r.am == nil {
		return
	}
	if !lp.pollInFlight && !lp.nextPoll.IsZero() && !now.Before(lp.nextPoll) {
		r.startPoll(ctx)
	}
	if !lp.nextResend.IsZero() && !now.Before(lp.nextResend) {
		var alerts []PostableAlert
		for _, in := range r.sorted() {
			if in.State == StateNeedsHuman {
				alerts = append(alerts, r.needsHumanAlert(in, now.Add(AlertTTL)))
			}
		}
		r.push(alerts)
		lp.nextResend = now.Add(AlertResendInterval)
	}
}

// startPoll asks Alertmanager, in a goroutine, which watched alerts are active.
func (r *Remediator) startPoll(ctx context.Context) {
	lp := r.lp
	lp.nextPoll = time.Time{}
	var fps []string
	for _, in := range lp.byID {
		if watched(in) {
			fps = append(fps, in.firing()...)
		}
	}
	if len(fps) == 0 {
		return
	}
	lp.pollInFlight = true
	lp.wg.Add(1)
	go func(polls chan<- pollResult, quit <-chan struct{}) {
		defer lp.wg.Done()
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		active, err := r.am.Active(pctx, fps)
		select {
		case polls <- pollResult{asked: fps, active: active, err: err}:
		case <-quit:
		}
	}(lp.polls, lp.quit)
}

func (r *Remediator) onPoll(ctx context.Context, p pollResult) {
	lp := r.lp
	now := r.clock.Now()
	lp.pollInFlight = false
	lp.nextPoll = now.Add(r.cfg.PollInterval)
	if p.err != nil {
		r.log.Warn("alertmanager poll failed", "err", p.err)
		return
	}
	asked := make(map[string]bool, len(p.asked))
	for _, fp := range p.asked {
		asked[fp] = true
	}
	for _, in := range r.sorted() {
		if !watched(in) {
			continue
		}
		fps := in.firing()
		gone := len(fps) > 0
		for _, fp := range fps {
			if !asked[fp] || p.active[fp] {
				gone = false
				break
			}
		}
		if !gone {
			continue
		}
		for i := range in.Alerts {
			if in.Alerts[i].Status != "resolved" {
				in.Alerts[i].Status, in.Alerts[i].EndsAt = "resolved", now
			}
		}
		r.touch(in)
		r.log.Info("alertmanager no longer lists the incident's alerts", "id", in.ID, "service", in.Service)
		r.onAllResolved(ctx, in)
	}
}

// push hands alerts to the pusher goroutine; it never blocks the loop.
func (r *Remediator) push(alerts []PostableAlert) {
	if r.am == nil || len(alerts) == 0 {
		return
	}
	select {
	case r.lp.pushes <- alerts:
	default:
		r.log.Error("alertmanager push queue full; alerts dropped", "alerts", len(alerts))
	}
}

// pusher posts alerts to Alertmanager in order.
func (r *Remediator) pusher(ctx context.Context, pushes <-chan []PostableAlert, quit <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	send := func(ctx context.Context, alerts []PostableAlert) {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := r.am.Push(pctx, alerts)
		if err != nil {
			r.log.Error("alertmanager push failed", "alerts", len(alerts), "err", err)
		}
		r.notePushed(alerts, err)
	}
	for {
		select {
		case alerts := <-pushes:
			send(ctx, alerts)
		case <-quit:
			// Best effort for what is left (an ended needs-human alert, say).
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for {
				select {
				case alerts := <-pushes:
					send(dctx, alerts)
				default:
					return
				}
			}
		}
	}
}

// notePushed keeps claudeops_needs_human_alert_pushed: 1 while a service's
// needs-human alert is in Alertmanager as last pushed, 0 when its last push
// failed, absent once ended.
func (r *Remediator) notePushed(alerts []PostableAlert, err error) {
	now := r.clock.Now()
	for _, a := range alerts {
		if a.Labels["alertname"] != AlertNeedsHuman {
			continue
		}
		g := r.m.pushed
		switch svc := a.Labels["service"]; {
		case !a.EndsAt.After(now):
			g.DeleteLabelValues(svc)
		case err != nil:
			g.WithLabelValues(svc).Set(0)
		default:
			g.WithLabelValues(svc).Set(1)
		}
	}
}
