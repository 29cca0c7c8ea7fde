package remediator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/claude-ops/claude-ops/inbox"
	"github.com/claude-ops/claude-ops/store"
)

// Persistence: Resume loads the open incidents and replays the inbox; after
// each event, flush publishes the incidents that changed, saves them with
// the inbox number of the last batch applied in one transaction, and tells
// the Alertmanager watch what to poll.

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
	// Services that got a session in the last hour count for the blast
	// radius: the session rows say so, each saved before its session
	// started, whether or not its incident was saved since. Counted
	// before the incidents resume, which may ask for a session.
	if starts, err := r.store.IncidentSessionsSince(ctx, time.Now().Add(-blastWindow)); err != nil {
		r.log.Warn("blast radius: cannot list the last hour's sessions", "err", err)
	} else {
		for _, s := range starts {
			lp.slots.reserve(s.Service, s.Start)
		}
	}
	recs, err := r.store.OpenIncidents(ctx)
	if err != nil {
		return fmt.Errorf("remediator: load open incidents: %w", err)
	}
	for _, rec := range recs {
		v, entries, err := decodeRecord(rec)
		if err != nil {
			r.log.Error("cannot resume incident", "id", rec.ID, "err", err)
			continue
		}
		in := &incident{Incident: v, pol: r.pol}
		if other := lp.byService[in.Service]; other != nil {
			r.log.Warn("two open incidents for one service; resuming the oldest only", "service", in.Service, "kept", other.ID, "skipped", in.ID)
			continue
		}
		if !in.State.resumable() {
			r.log.Error("cannot resume incident in unknown state", "id", in.ID, "state", in.State)
			continue
		}
		lp.byID[in.ID], lp.byService[in.Service] = in, in
		if len(rec.Log) > 0 {
			// The next save appends only what changes.
			lp.savedAlerts[in.ID] = savedAlerts{alerts: slices.Clone(v.Alerts), entries: entries}
		}
		r.handle(ctx, in, evResumed{})
	}
	if err := r.replayInbox(); err != nil {
		return err
	}
	lp.resumed = true
	r.flush(ctx)
	return nil
}

// replayInbox queues the batches acknowledged before the last stop and not
// applied then; the loop's first event applies them.
func (r *Remediator) replayInbox() error {
	if r.inbox == nil {
		return nil
	}
	n := 0
	err := r.inbox.Replay(func(rec inbox.Record) error {
		alerts, err := readBatch(rec.Data)
		if err != nil {
			r.log.Error("inbox: dropping a batch that does not decode", "seq", rec.Seq, "err", err)
		}
		n++
		r.mu.Lock()
		r.queue = append(r.queue, alerts...)
		r.queueSeq = max(r.queueSeq, rec.Seq)
		r.mu.Unlock()
		return nil
	})
	if err != nil {
		return fmt.Errorf("remediator: replay inbox: %w", err)
	}
	if n > 0 {
		r.log.Info("replaying alerts acknowledged before the last stop", "batches", n)
		r.poke()
	}
	return nil
}

// alertPublishEvery bounds how often what alerts alone changed is shown to
// readers when saves are deferred (Config.SaveEvery): publishing copies each
// changed incident's alerts, which after every pass of a storm cost more
// than the pass.
const alertPublishEvery = 200 * time.Millisecond

// flush pushes the alerts of the event, publishes the incidents that changed,
// updates the watch set, and saves what changed since the last save (see
// Config.SaveEvery).
func (r *Remediator) flush(ctx context.Context) {
	lp := r.lp
	if len(lp.pushes) > 0 {
		r.am.push(lp.pushes)
		lp.pushes = nil
	}
	r.m.open.Set(float64(len(lp.byID)))
	now := time.Now()
	if len(lp.dirty) > 0 {
		if lp.urgent || lp.shown || r.cfg.SaveEvery <= 0 || now.Sub(lp.lastPublish) >= alertPublishEvery {
			r.publish()
			lp.lastPublish, lp.publishAt, lp.shown = now, time.Time{}, false
		} else if lp.publishAt.IsZero() {
			lp.publishAt = lp.lastPublish.Add(alertPublishEvery)
		}
	}
	if len(lp.unsaved) == 0 && lp.applied == lp.savedApplied && len(lp.rewatch) == 0 {
		lp.urgent = false
		return
	}
	// An urgent change (a session started or ended, an incident closed by
	// a session) is saved at once when the last save is SaveEvery old;
	// within SaveEvery of it (a storm), it goes with the next save, at most
	// SaveEvery after the last. A save carries every incident changed
	// since the last one: in a storm, hundreds, whose encoding and writing
	// would take a core from the webhook each time a session starts. What
	// a crash in between loses is redone after the restart (the incident
	// resumes where it was saved, its batches replayed); the blast radius
	// is read back from the session rows, saved before each session starts.
	if lp.urgent && r.cfg.SaveEvery > 0 && now.Sub(lp.lastSave) < r.cfg.SaveEvery {
		if at := lp.lastSave.Add(r.cfg.SaveEvery); lp.saveAt.IsZero() || at.Before(lp.saveAt) {
			lp.saveAt = at
		}
		return
	}
	// At most one deferred save per SaveEvery, and per ten times the last
	// save's duration: in a long storm, saving takes a tenth of the loop's
	// time at most, however many incidents it holds.
	if every := max(r.cfg.SaveEvery, 10*lp.saveTook); !lp.urgent && r.cfg.SaveEvery > 0 && now.Sub(lp.lastSave) < every {
		if lp.saveAt.IsZero() {
			lp.saveAt = lp.lastSave.Add(every)
		}
		return
	}
	r.save(ctx)
}

// publish hands the views of the incidents that changed to readers.
func (r *Remediator) publish() {
	lp := r.lp
	r.viewMu.Lock()
	for id, in := range lp.dirty {
		if in.State == StateClosed {
			delete(r.views, id)
		} else {
			r.views[id] = in.view()
		}
	}
	r.viewMu.Unlock()
	clear(lp.dirty)
}

// rewatch hands the watch set (the fingerprints Alertmanager is polled for:
// every watched incident's firing alerts) over if the incidents changed
// since the last time changed it. It runs with each save: recomputing it
// after each alert of a storm cost more than the alert.
func (r *Remediator) rewatch() {
	lp := r.lp
	changed := false
	for id, in := range lp.rewatch {
		var fps []string
		if in.watched() {
			fps = in.firing()
		}
		if !slices.Equal(fps, lp.watching[id]) {
			changed = true
			if len(fps) == 0 {
				delete(lp.watching, id)
			} else {
				lp.watching[id] = fps
			}
		}
	}
	clear(lp.rewatch)
	if !changed {
		return
	}
	var all []string
	for _, id := range slices.Sorted(maps.Keys(lp.watching)) {
		all = append(all, lp.watching[id]...)
	}
	r.am.watch(all)
}

// save hands the watch set over if it changed, and persists the incidents
// changed since the last save together with the inbox number of the last
// batch applied (one transaction: a batch counts as applied exactly when
// what it produced is saved).
func (r *Remediator) save(ctx context.Context) {
	lp := r.lp
	r.rewatch()
	if lp.saving {
		return // one save at a time: what changed meanwhile follows it (onSaved)
	}
	lp.urgent, lp.saveAt, lp.lastSave = false, time.Time{}, time.Now()
	if len(lp.unsaved) == 0 && lp.applied == lp.savedApplied {
		return
	}
	// The saver encodes the readers' views, which nobody changes once
	// published: publishing now makes every open incident's view current,
	// and a closed one's copy is made here.
	if len(lp.dirty) > 0 {
		r.publish()
		lp.lastPublish, lp.publishAt = lp.lastSave, time.Time{}
	}
	job := saveJob{applied: lp.applied}
	r.viewMu.RLock()
	for id, in := range lp.unsaved {
		v, ok := r.views[id]
		if !ok {
			v = in.view()
		}
		job.ins = append(job.ins, in)
		job.views = append(job.views, v)
		job.saved = append(job.saved, lp.savedAlerts[id])
	}
	r.viewMu.RUnlock()
	clear(lp.unsaved)
	if !lp.async {
		r.onSaved(r.write(ctx, job)) // Resume and the stop
		return
	}
	lp.saving = true
	lp.saves <- job
}

// saveJob is a save handed to the saver: copies of the incidents changed
// since the last save (the loop goes on changing the originals) and the
// inbox number of the last batch applied to them.
type saveJob struct {
	ins     []*incident // the originals: unsaved again if the save fails
	views   []Incident
	saved   []savedAlerts // what the store holds of each view's alerts (lp.savedAlerts)
	applied uint64
}

type saveResult struct {
	job     saveJob
	saved   []savedAlerts // what the store holds of each view's alerts now
	skipped map[int]bool  // views that did not encode, not saved
	err     error
	took    time.Duration
}

// saver writes the saves the loop hands it, one at a time, so that the loop
// (and the webhook's queue behind it) never waits for the encoding and the
// fsync of a storm's incidents.
func (r *Remediator) saver(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	for job := range r.lp.saves {
		r.lp.saved <- r.write(ctx, job)
	}
}

// stopSaver waits for the save with the saver, and stops it: the saves of
// the stop are written by the loop itself.
func (r *Remediator) stopSaver() {
	lp := r.lp
	if lp.saving {
		r.onSaved(<-lp.saved)
	}
	lp.async = false
	close(lp.saves)
}

// write encodes the incidents of a save one at a time as the store takes
// them (a storm's save holds one encoding at a time, not hundreds) and
// saves them with the inbox number in one transaction.
func (r *Remediator) write(ctx context.Context, job saveJob) saveResult {
	start := time.Now()
	var (
		skipped map[int]bool
		buf     []byte // each chunk's, the store done with it when it asks for the next
	)
	saved := make([]savedAlerts, len(job.views))
	recs := func(yield func(store.Incident) bool) {
		for i := range job.views {
			rec, next, err := recordOf(job.views[i], job.saved[i], buf[:0])
			saved[i] = next
			if rec.Append != nil {
				buf = rec.Append
			}
			if err != nil {
				r.log.Error("encode incident", "id", job.views[i].ID, "err", err)
				if skipped == nil {
					skipped = map[int]bool{}
				}
				skipped[i] = true
				continue
			}
			if !yield(rec) {
				return
			}
		}
	}
	err := r.store.SaveIncidents(ctx, recs, job.applied)
	return saveResult{job: job, saved: saved, skipped: skipped, err: err, took: time.Since(start)}
}

// onSaved takes a save's result: on success the inbox lets go of what it
// applied; on a failure its incidents are saved with the next save (or
// their batches replayed at the next start). It reports success.
func (r *Remediator) onSaved(res saveResult) bool {
	lp := r.lp
	lp.saving, lp.saveTook = false, res.took
	if res.err != nil {
		r.log.Error("save incidents", "incidents", len(res.job.ins), "inbox_applied", res.job.applied, "err", res.err)
		for _, in := range res.job.ins {
			lp.unsaved[in.ID] = in
		}
		return false
	}
	// What the next save compares each incident's alerts with.
	for i, v := range res.job.views {
		switch {
		case res.skipped[i]:
		case v.State == StateClosed:
			delete(lp.savedAlerts, v.ID)
		default:
			lp.savedAlerts[v.ID] = res.saved[i] // a view's alerts: never changed
		}
	}
	if res.job.applied > lp.savedApplied {
		lp.savedApplied = res.job.applied
		if r.inbox != nil {
			if err := r.inbox.Applied(res.job.applied); err != nil {
				r.log.Warn("inbox: cannot remove applied segments", "err", err)
			}
		}
	}
	return true
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
