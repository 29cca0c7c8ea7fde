package remediator

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

// The event loop owns the incidents. It turns what happens (alerts, session
// ends, poll results, timers) into events, hands each to its incident's
// machine (Handle) and carries out the effects: it starts and cancels
// sessions, pushes alerts, counts, wakes incidents up and persists them.

// loopState is owned by the event loop (and by Resume before it).
type loopState struct {
	byID         map[string]*incident // open incidents
	byService    map[string]*incident // the open incident of each service
	slots        *slots
	wakes        map[string]time.Time // incident → when it asked for an evTick
	firstWake    time.Time            // the earliest of wakes; valid unless wakesChanged
	wakesChanged bool
	cancels      map[string]context.CancelCauseFunc // running session → its context's cancel
	dirty        map[string]*incident               // to publish at the end of the event
	unsaved      map[string]*incident               // changed since the last save
	savedAlerts  map[string]savedAlerts             // what the store holds of each open incident's alerts
	urgent       bool                               // save at the end of this event, not later
	shown        bool                               // publish at the end of this event: an incident closed
	alertOnly    bool                               // handling an alert: its changes may be saved later
	lastSave     time.Time                          // when the store last took the incidents
	saveAt       time.Time                          // a deferred save is due (zero: none)
	lastPublish  time.Time                          // when readers last got the changed incidents
	publishAt    time.Time                          // a deferred publish is due (zero: none)
	saveTook     time.Duration                      // how long the last save took
	watching     map[string][]string                // incident → fingerprints Alertmanager is polled for
	rewatch      map[string]*incident               // changed since the watch set was handed over
	applied      uint64                             // the inbox number of the last batch applied
	savedApplied uint64                             // applied, as last saved
	pushes       []PostableAlert                    // to push at the end of the event
	results      chan result
	saves        chan saveJob    // to the saver, while the loop runs (async)
	saved        chan saveResult // from the saver
	async        bool            // the saver runs: saves go to it
	saving       bool            // a save is with the saver
	quit         chan struct{}   // closed when the loop stops
	wg           sync.WaitGroup
	resumed      bool
	running      bool
}

func newLoopState(cfg Config) *loopState {
	return &loopState{
		byID: map[string]*incident{}, byService: map[string]*incident{},
		slots: newSlots(cfg.Concurrency, cfg.MaxServicesPerHour),
		wakes: map[string]time.Time{}, cancels: map[string]context.CancelCauseFunc{},
		dirty: map[string]*incident{}, unsaved: map[string]*incident{}, savedAlerts: map[string]savedAlerts{},
		watching: map[string][]string{},
		rewatch:  map[string]*incident{},
		results:  make(chan result, 16), quit: make(chan struct{}),
		saves: make(chan saveJob, 1), saved: make(chan saveResult, 1),
	}
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
	r.am.run(base, &lp.wg, lp.quit)
	lp.wg.Add(1)
	go r.saver(base, &lp.wg)
	lp.async = true
	defer func() {
		close(lp.quit)
		stop(session.Cancelled(session.OutcomeInterrupted))
		lp.wg.Wait()
		r.log.Info("remediator stopped")
	}()
	r.afterEvent(base, ctx.Err() == nil)
	for {
		var timer *time.Timer
		var due <-chan time.Time
		if next := r.nextWake(); !next.IsZero() {
			timer = time.NewTimer(time.Until(next))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			r.stopSaver()
			r.save(base) // what a deferred save still held
			return nil
		case res := <-lp.saved:
			if !r.onSaved(res) {
				// Failed: tried again with the next event, not at once.
				if timer != nil {
					timer.Stop()
				}
				continue
			}
		case <-r.wake:
			// Let the requests about to queue alerts do so: a storm's
			// alerts then come in passes of dozens, not one or two, and
			// what a pass costs besides its alerts is paid that much less.
			runtime.Gosched()
			r.drain(base)
		case res := <-lp.results:
			r.onResult(base, res)
		case p := <-r.am.polls():
			r.onPoll(base, p)
		case <-due:
			r.onTimer(base)
		}
		if timer != nil {
			timer.Stop()
		}
		r.afterEvent(base, ctx.Err() == nil)
	}
}

// afterEvent starts what can start, then persists and publishes what changed.
func (r *Remediator) afterEvent(ctx context.Context, schedule bool) {
	if schedule {
		for _, id := range r.lp.slots.next(r.waiting) {
			r.handle(ctx, r.lp.byID[id], evSlotGranted{Session: session.NewID(time.Now())})
		}
	}
	r.flush(ctx)
}

// waiting returns the service of an open incident waiting for a slot.
func (r *Remediator) waiting(id string) (string, bool) {
	in := r.lp.byID[id]
	if in == nil || !in.waiting {
		return "", false
	}
	return in.Service, true
}

// handle hands an event to the incident and carries out its effects, then
// those of the events the effects produced (a refused slot).
func (r *Remediator) handle(ctx context.Context, in *incident, ev event) {
	for evs := []event{ev}; len(evs) > 0; {
		ev, evs = evs[0], evs[1:]
		now := time.Now()
		for _, fx := range in.Handle(ev, now) {
			if next := r.apply(ctx, in, fx, now); next != nil {
				evs = append(evs, next)
			}
		}
	}
}

// apply carries out one effect; it returns the event it produced, if any.
func (r *Remediator) apply(ctx context.Context, in *incident, fx effect, now time.Time) event {
	lp := r.lp
	switch fx := fx.(type) {
	case fxRequestSlot:
		if fx.Admit {
			if ok, detail := lp.slots.admit(in.Service, now); !ok {
				return evSlotRefused{Reason: ReasonBlastRadius, Detail: detail}
			}
		}
		lp.slots.enqueue(in.ID)
	case fxStartSession:
		lp.urgent = true
		r.start(ctx, in, fx, now)
	case fxCancelSession:
		lp.urgent = true
		r.sessions.Cancel(fx.ID, fx.Outcome)
		if cancel := lp.cancels[fx.ID]; cancel != nil {
			cancel(session.Cancelled(fx.Outcome))
		}
	case fxPush:
		lp.pushes = append(lp.pushes, fx.Alert)
	case fxEscalated:
		r.m.escalations.WithLabelValues(fx.From, fx.To).Inc()
	case fxPaging:
		if fx.On {
			r.m.needsHuman.WithLabelValues(in.Service).Set(1)
		} else {
			r.m.needsHuman.DeleteLabelValues(in.Service)
		}
	case fxAPIRetry:
		r.m.apiRetries.WithLabelValues(fx.Tier.String()).Inc()
	case fxClosed:
		// Closed by its alerts alone, an incident closes again when a
		// crash replays their batches: saved with them. Any other closure
		// (a session's end) is saved at once.
		if !lp.alertOnly {
			lp.urgent = true
		}
		lp.shown = true // what the metric counts, readers see at once
		r.m.incidents.WithLabelValues(string(fx.Outcome)).Inc()
		delete(lp.byID, in.ID)
		if lp.byService[in.Service] == in {
			delete(lp.byService, in.Service)
		}
		if r.onClose != nil {
			r.onClose(in.view())
		}
	case fxWake:
		if fx.At.IsZero() {
			delete(lp.wakes, in.ID)
		} else {
			lp.wakes[in.ID] = fx.At
		}
		lp.wakesChanged = true
	case fxPersist:
		lp.dirty[in.ID] = in
		lp.unsaved[in.ID] = in
		lp.rewatch[in.ID] = in
		if !lp.alertOnly {
			lp.urgent = true
		}
	case fxLog:
		r.log.Log(ctx, fx.Level, fx.Msg, fx.Args...)
	}
	return nil
}

// onResult: a session ended. Refusals and alerts queued before it ended
// apply first.
func (r *Remediator) onResult(ctx context.Context, res result) {
	r.lp.slots.release(res.service)
	delete(r.lp.cancels, res.session)
	r.drain(ctx)
	if in := r.lp.byID[res.incident]; in != nil {
		r.handle(ctx, in, evSessionEnded{Session: res.session, Record: res.rec, Err: res.err})
	}
}

// onPoll hands Alertmanager's answer to the incidents.
func (r *Remediator) onPoll(ctx context.Context, p pollResult) {
	if p.err != nil {
		r.log.Warn("alertmanager poll failed", "err", p.err)
		return
	}
	ev := evPolled{Asked: make(map[string]bool, len(p.asked)), Active: p.active}
	for _, fp := range p.asked {
		ev.Asked[fp] = true
	}
	for _, in := range r.sorted() {
		if in.watched() {
			r.handle(ctx, in, ev)
		}
	}
}

// onTimer wakes the incidents whose time came.
func (r *Remediator) onTimer(ctx context.Context) {
	now := time.Now()
	if first := r.nextIncidentWake(); first.IsZero() || now.Before(first) {
		return // a deferred save or publish: afterEvent does it
	}
	for _, in := range r.sorted() {
		if at, ok := r.lp.wakes[in.ID]; ok && !now.Before(at) {
			delete(r.lp.wakes, in.ID)
			r.lp.wakesChanged = true
			r.handle(ctx, in, evTick{})
		}
	}
}

// nextIncidentWake returns the earliest wake an incident asked for (zero:
// none).
func (r *Remediator) nextIncidentWake() time.Time {
	lp := r.lp
	if lp.wakesChanged {
		lp.firstWake, lp.wakesChanged = time.Time{}, false
		for _, t := range lp.wakes {
			if lp.firstWake.IsZero() || t.Before(lp.firstWake) {
				lp.firstWake = t
			}
		}
	}
	return lp.firstWake
}

// nextWake returns when the loop must wake up by itself (zero: never): an
// incident's wake, a deferred save or a deferred publish.
func (r *Remediator) nextWake() time.Time {
	lp := r.lp
	next := r.nextIncidentWake()
	for _, t := range []time.Time{lp.saveAt, lp.publishAt} {
		if next.IsZero() || !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	return next
}
