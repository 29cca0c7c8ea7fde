package remediator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/webhook"
)

// Intake: Enqueue (the webhook's Sink) and CooldownRefused (the action gate)
// only append under a mutex and poke the loop; the loop drains what they
// queued and hands each alert to its service's incident, opening one when
// there is none.

// Enqueue queues alerts for the event loop; it never blocks on the loop. It
// returns webhook.ErrFull, accepting none of them, when the queue cannot hold
// them all (the webhook answers 503 and Alertmanager retries).
func (r *Remediator) Enqueue(ctx context.Context, alerts []webhook.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	if r.full(len(alerts)) {
		return webhook.ErrFull
	}
	var id int64
	if r.inbox != nil {
		data, err := json.Marshal(alerts) // replayInbox reads them back
		if err != nil {
			return fmt.Errorf("remediator: encode alerts: %w", err)
		}
		if id, err = r.inbox.Append(ctx, data); err != nil {
			return err
		}
	}
	if !r.add(alerts, id) {
		if id != 0 {
			// Refused after all: forget it, Alertmanager sends it again.
			if err := r.inbox.Delete(context.WithoutCancel(ctx), []int64{id}); err != nil {
				r.log.Error("inbox: delete a refused batch", "err", err)
			}
		}
		return webhook.ErrFull
	}
	return nil
}

func (r *Remediator) full(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)+n > r.cfg.QueueSize
}

// add queues alerts (from inbox batch id, 0 for none) unless the queue is full.
func (r *Remediator) add(alerts []webhook.Alert, id int64) bool {
	r.mu.Lock()
	if len(r.queue)+len(alerts) > r.cfg.QueueSize {
		r.mu.Unlock()
		return false
	}
	r.queue = append(r.queue, alerts...)
	if id != 0 {
		r.queueIDs = append(r.queueIDs, id)
	}
	r.m.queueDepth.Set(float64(len(r.queue)))
	r.mu.Unlock()
	r.poke()
	return true
}

// CooldownRefused is called by the action gate when it refused a change of
// the incident's session over a limit (cooldown, blast radius, budget). When
// that session ends, the incident goes to needs-human with this reason (the
// refused action's stage names the limit); no further tier runs.
func (r *Remediator) CooldownRefused(incidentID, reason string) {
	r.mu.Lock()
	r.refusals = append(r.refusals, refusal{incidentID, reason})
	r.mu.Unlock()
	r.poke()
}

func (r *Remediator) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// take returns the queued alerts, their inbox batches and the refusals;
// giveBack gives the alert slice
// back for reuse.
func (r *Remediator) take() (alerts []webhook.Alert, ids []int64, refs []refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	alerts, r.queue = r.queue, r.spare[:0]
	r.spare = nil
	ids, r.queueIDs = r.queueIDs, nil
	refs, r.refusals = r.refusals, nil
	r.m.queueDepth.Set(0)
	return alerts, ids, refs
}

func (r *Remediator) giveBack(alerts []webhook.Alert) {
	clear(alerts) // drop references to maps
	r.mu.Lock()
	if r.spare == nil && cap(alerts) <= 4*r.cfg.QueueSize {
		r.spare = alerts[:0]
	}
	r.mu.Unlock()
}

// drain handles what Enqueue and CooldownRefused queued. The inbox batches
// drained are deleted with the incidents they touched (flush).
func (r *Remediator) drain(ctx context.Context) {
	alerts, ids, refs := r.take()
	r.lp.acks = append(r.lp.acks, ids...)
	for _, rf := range refs {
		if in := r.lp.byID[rf.incident]; in != nil {
			r.handle(ctx, in, evLimitRefused{Reason: rf.reason})
		} else {
			r.log.Warn("cooldown refusal for an unknown or closed incident", "incident", rf.incident, "reason", rf.reason)
		}
	}
	// What alerts change alone may be saved later (Config.SaveEvery): the inbox
	// batches they came in are deleted only with that save.
	r.lp.alertOnly = true
	for i := range alerts {
		r.onAlert(ctx, alerts[i])
	}
	r.lp.alertOnly = false
	r.giveBack(alerts)
}

// onAlert hands an alert to the open incident of its (canonical) service, or
// opens one for a firing alert.
func (r *Remediator) onAlert(ctx context.Context, wa webhook.Alert) {
	if wa.Ours || wa.Labels["claudeops"] == "true" {
		return
	}
	if wa.Service == "" {
		r.log.Warn("alert without a service dropped", "fingerprint", wa.Fingerprint, "alertname", wa.Labels["alertname"])
		return
	}
	lp := r.lp
	service := r.canonical(wa.Service)
	a := alertFrom(wa)
	in := lp.byService[service]
	switch {
	case a.Status == "resolved":
		if in == nil {
			return
		}
		ev := evAlertResolved{Alert: a}
		if in.running != "" {
			ev.Live, ev.LiveOK = r.liveActions(in.running)
		}
		r.handle(ctx, in, ev)
	case in != nil:
		r.handle(ctx, in, evAlertFired{Alert: a})
	default:
		now := time.Now()
		in = newIncident("inc-"+session.NewID(now), service, r.pol, now)
		lp.byID[in.ID], lp.byService[in.Service] = in, in
		r.handle(ctx, in, evOpened{Alert: a})
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
