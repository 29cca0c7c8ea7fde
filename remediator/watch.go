package remediator

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// watch is the loop's side of Alertmanager: an actor that posts the alerts
// Claude Ops pushes, in order, and polls Alertmanager for the alerts of the
// incidents waiting for theirs to resolve. Without an Alertmanager it is
// noWatch, which does nothing.
type watch interface {
	// run starts the actor's goroutines (counted in wg) until quit closes.
	run(ctx context.Context, wg *sync.WaitGroup, quit <-chan struct{})
	// push hands alerts to the pusher; it never blocks.
	push(alerts []PostableAlert)
	// watch sets the fingerprints to poll for (none: no polling); it never
	// blocks.
	watch(fps []string)
	// polls delivers the poll results.
	polls() <-chan pollResult
}

type pollResult struct {
	asked  []string
	active map[string]bool
	err    error
}

// noWatch is the watch of a remediator without Alertmanager.
type noWatch struct{}

func (noWatch) run(context.Context, *sync.WaitGroup, <-chan struct{}) {}
func (noWatch) push([]PostableAlert)                                  {}
func (noWatch) watch([]string)                                        {}
func (noWatch) polls() <-chan pollResult                              { return nil }

// amWatch is the watch of an Alertmanager.
type amWatch struct {
	am       Alertmanager
	interval time.Duration
	log      *slog.Logger
	m        *metrics

	pushes  chan []PostableAlert
	set     chan []string // the latest watch set, not yet taken by the poller
	results chan pollResult
}

func newAMWatch(am Alertmanager, interval time.Duration, log *slog.Logger, m *metrics) *amWatch {
	return &amWatch{
		am: am, interval: interval, log: log, m: m,
		pushes: make(chan []PostableAlert, 256), set: make(chan []string, 1), results: make(chan pollResult, 1),
	}
}

func (w *amWatch) run(ctx context.Context, wg *sync.WaitGroup, quit <-chan struct{}) {
	wg.Add(2)
	go func() { defer wg.Done(); w.pusher(ctx, quit) }()
	go func() { defer wg.Done(); w.poller(ctx, quit) }()
}

func (w *amWatch) push(alerts []PostableAlert) {
	if len(alerts) == 0 {
		return
	}
	select {
	case w.pushes <- alerts:
	default:
		w.log.Error("alertmanager push queue full; alerts dropped", "alerts", len(alerts))
	}
}

// watch replaces the watch set the poller has not taken yet (the loop is the
// only sender).
func (w *amWatch) watch(fps []string) {
	select {
	case <-w.set:
	default:
	}
	w.set <- slices.Clone(fps)
}

func (w *amWatch) polls() <-chan pollResult { return w.results }

// poller asks Alertmanager, a poll interval after the watch set became
// non-empty and then a poll interval after each answer, which of the
// watched alerts are still active.
func (w *amWatch) poller(ctx context.Context, quit <-chan struct{}) {
	var (
		fps   []string
		timer *time.Timer
		due   <-chan time.Time
	)
	arm := func() {
		if len(fps) == 0 {
			if timer != nil {
				timer.Stop()
			}
			due = nil
		} else if due == nil {
			timer = time.NewTimer(w.interval)
			due = timer.C
		}
	}
	for {
		select {
		case <-quit:
			if timer != nil {
				timer.Stop()
			}
			return
		case fps = <-w.set:
			arm()
		case <-due:
			due = nil
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			active, err := w.am.Active(pctx, fps)
			cancel()
			select {
			case w.results <- pollResult{asked: fps, active: active, err: err}:
			case <-quit:
				return
			}
			arm()
		}
	}
}

// pusher posts alerts to Alertmanager in order.
func (w *amWatch) pusher(ctx context.Context, quit <-chan struct{}) {
	send := func(ctx context.Context, alerts []PostableAlert) {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := w.am.Push(pctx, alerts)
		if err != nil {
			w.log.Error("alertmanager push failed", "alerts", len(alerts), "err", err)
		}
		w.notePushed(alerts, err)
	}
	for {
		select {
		case alerts := <-w.pushes:
			send(ctx, alerts)
		case <-quit:
			// Best effort for what is left (an ended needs-human alert, say).
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for {
				select {
				case alerts := <-w.pushes:
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
func (w *amWatch) notePushed(alerts []PostableAlert, err error) {
	now := time.Now()
	for _, a := range alerts {
		if a.Labels["alertname"] != AlertNeedsHuman {
			continue
		}
		g := w.m.pushed
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
