package remediator

import (
	"context"
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
	if r.inbox == nil {
		if !r.add(alerts, 0) {
			return webhook.ErrFull
		}
		return nil
	}
	buf, _ := r.batchBufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	data := appendBatch((*buf)[:0], alerts) // replayInbox reads them back
	// Queued in the inbox's order. A batch refused here (the queue filled
	// meanwhile) is written but never applied: the next save marks it as
	// done; a crash before that replays it, as if Alertmanager's retry had
	// come.
	_, err := r.inbox.Append(ctx, data, func(seq uint64) error {
		if !r.add(alerts, seq) {
			return webhook.ErrFull
		}
		return nil
	})
	// The inbox copied data unless Append gave up waiting (ctx): then the
	// batch may still be written later, and its buffer is not reused.
	if ctx.Err() == nil && cap(data) <= 64<<10 {
		*buf = data
		r.batchBufs.Put(buf)
	}
	return err
}

func (r *Remediator) full(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)+n > r.cfg.QueueSize
}

// add queues alerts (from inbox batch seq, 0 for none) unless the queue is
// full. A refused batch still counts as done once the batches queued before
// it are applied: it is never replayed after the next save.
func (r *Remediator) add(alerts []webhook.Alert, seq uint64) bool {
	r.mu.Lock()
	r.queueSeq = max(r.queueSeq, seq)
	if len(r.queue)+len(alerts) > r.cfg.QueueSize {
		r.mu.Unlock()
		return false
	}
	r.queue = append(r.queue, alerts...)
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

// take returns the queued alerts, the inbox number of the last batch
// queued and the refusals; giveBack gives the alert slice back for reuse.
func (r *Remediator) take() (alerts []webhook.Alert, seq uint64, refs []refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	alerts, r.queue = r.queue, r.spare[:0]
	r.spare = nil
	refs, r.refusals = r.refusals, nil
	r.m.queueDepth.Set(0)
	return alerts, r.queueSeq, refs
}

func (r *Remediator) giveBack(alerts []webhook.Alert) {
	clear(alerts) // drop references to maps
	r.mu.Lock()
	if r.spare == nil && cap(alerts) <= 4*r.cfg.QueueSize {
		r.spare = alerts[:0]
	}
	r.mu.Unlock()
}

// drain handles what Enqueue and CooldownRefused queued. The inbox number
// of the last batch drained is saved with the incidents they touched
// (flush): batches are queued in the inbox's order, so every batch up to it
// is applied.
func (r *Remediator) drain(ctx context.Context) {
	alerts, seq, refs := r.take()
	r.lp.applied = max(r.lp.applied, seq)
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
	if wa.Ours || wa.Labels.Get(webhook.OwnLabel) == "true" {
		return
	}
	if wa.Service == "" {
		r.log.Warn("alert without a service dropped", "fingerprint", wa.Fingerprint, "alertname", wa.Labels.Get("alertname"))
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
