package remediator

import (
	"fmt"
	"time"
)

// slots decides when incidents that asked for a session (fxRequestSlot) get
// one: at most Config.Concurrency sessions at once, one per service, in
// arrival order; and a new incident only while fewer than
// Config.MaxServicesPerHour distinct services got a session in the last
// hour (the blast radius). Owned by the event loop.
type slots struct {
	concurrency int
	maxServices int // < 0: no limit

	pending []string        // incidents waiting, in arrival order
	queued  map[string]bool // the ids in pending
	active  int             // session goroutines alive
	busy    map[string]bool // services with a session goroutine alive
	started map[string]time.Time
}

func newSlots(concurrency, maxServices int) *slots {
	return &slots{
		concurrency: concurrency, maxServices: maxServices,
		queued: map[string]bool{}, busy: map[string]bool{}, started: map[string]time.Time{},
	}
}

// admit applies the blast radius to a new incident of the service. When it
// may run, the service is reserved in the window; when not, detail says why.
func (s *slots) admit(service string, now time.Time) (ok bool, detail string) {
	ok, n := blastAdmit(s.started, service, now, s.maxServices)
	if !ok {
		return false, fmt.Sprintf("sessions already started for %d distinct services in the last hour (limit %d)", n, s.maxServices)
	}
	s.reserve(service, now)
	return true, ""
}

// blastAdmit reports whether a session may start for the service, given the
// latest session start of each service: always when the service had one
// within the window, otherwise when fewer than limit services had (limit < 0:
// no limit). inWindow is how many services had one.
func blastAdmit(started map[string]time.Time, service string, now time.Time, limit int) (ok bool, inWindow int) {
	seen := false
	for s, t := range started {
		if now.Sub(t) < blastWindow {
			inWindow++
			seen = seen || s == service
		}
	}
	return limit < 0 || seen || inWindow < limit, inWindow
}

// reserve records a session start of the service at now, and forgets the
// starts that left the window.
func (s *slots) reserve(service string, now time.Time) {
	for svc, t := range s.started {
		if now.Sub(t) >= blastWindow {
			delete(s.started, svc)
		}
	}
	if now.After(s.started[service]) {
		s.started[service] = now
	}
}

// enqueue queues an incident for a session, once.
func (s *slots) enqueue(id string) {
	if !s.queued[id] {
		s.queued[id] = true
		s.pending = append(s.pending, id)
	}
}

// slotReq is a pending incident as pickRunnable sees it.
type slotReq struct{ id, service string }

// pickRunnable splits the pending requests, in order, into those that start
// now and those that keep waiting: at most free start, never one for a
// busy service nor two for one service.
func pickRunnable(pending []slotReq, free int, busy map[string]bool) (run, keep []slotReq) {
	taken := map[string]bool{}
	for _, p := range pending {
		if len(run) >= free || busy[p.service] || taken[p.service] {
			keep = append(keep, p)
			continue
		}
		taken[p.service] = true
		run = append(run, p)
	}
	return run, keep
}

// next returns the incidents to grant a slot now, forgetting those that no
// longer wait (service looks an id up; ok false when it does not wait).
func (s *slots) next(service func(id string) (string, bool)) []string {
	reqs := make([]slotReq, 0, len(s.pending))
	for _, id := range s.pending {
		if svc, ok := service(id); ok {
			reqs = append(reqs, slotReq{id, svc})
		} else {
			delete(s.queued, id)
		}
	}
	run, keep := pickRunnable(reqs, s.concurrency-s.active, s.busy)
	s.pending = s.pending[:0]
	for _, k := range keep {
		s.pending = append(s.pending, k.id)
	}
	ids := make([]string, len(run))
	for i, r := range run {
		ids[i] = r.id
		delete(s.queued, r.id)
	}
	return ids
}

// start counts a session of the service started at now.
func (s *slots) start(service string, now time.Time) {
	s.active++
	s.busy[service] = true
	s.reserve(service, now)
}

// release counts a session of the service ended.
func (s *slots) release(service string) {
	s.active--
	delete(s.busy, service)
}
