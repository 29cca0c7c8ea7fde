package remediator

import (
	"context"
	"time"

	"github.com/claude-ops/claude-ops/prompts"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
)

// Sessions run in worker goroutines, one per session, which report their
// end to the loop (onResult) and touch nothing else.

// result is what a worker reports when its session ends.
type result struct {
	incident, service, session string
	rec                        session.Record
	err                        error
}

// start runs a session of the incident in a worker goroutine.
func (r *Remediator) start(ctx context.Context, in *incident, fx fxStartSession, now time.Time) {
	lp := r.lp
	sctx, cancel := context.WithCancelCause(ctx)
	lp.cancels[fx.ID] = cancel
	lp.slots.start(in.Service, now)
	incident := in.ID
	spec := sessions.Spec{ID: fx.ID, Tier: fx.Tier, Trigger: session.TriggerAlert, IncidentID: in.ID, Service: in.Service,
		// A change a limit refused sends the incident to a human.
		OnRefused: func(_ session.Stage, reason string) { r.CooldownRefused(incident, reason) }}
	lp.wg.Add(1)
	go r.work(sctx, cancel, spec, fx.Handoff)
}

// work runs one session; it never touches incidents, only reports.
func (r *Remediator) work(ctx context.Context, cancel context.CancelCauseFunc, spec sessions.Spec, h prompts.Handoff) {
	lp := r.lp
	defer lp.wg.Done()
	defer cancel(nil)
	if r.ctxp != nil {
		h.Tier1 = r.ctxp.Tier1(ctx, spec.Service)
		h.RepoRules = r.ctxp.RepoRules(spec.Service)
	}
	spec.System, spec.Prompt = r.prompt(spec.Tier, h)
	rec, err := r.sessions.Run(ctx, spec)
	select {
	case lp.results <- result{incident: spec.IncidentID, service: spec.Service, session: spec.ID, rec: rec, err: err}:
	case <-lp.quit:
	}
}
