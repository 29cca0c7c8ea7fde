package remediator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/claude-ops/claude-ops/inbox"
	"github.com/claude-ops/claude-ops/store"
	"github.com/claude-ops/claude-ops/webhook"
)

// memInbox is an Inbox in memory that survives "restarts" of the
// remediator; like inbox.Open with Options.After, it replays the batches
// after the number its store saved.
type memInbox struct {
	mu      sync.Mutex
	next    uint64
	records []inbox.Record
	fail    bool
	st      *fakeStore // the store whose applied number it follows (newHarness)
}

func (m *memInbox) Append(_ context.Context, data []byte, commit func(uint64) error) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return 0, errors.New("disk full")
	}
	m.next++
	m.records = append(m.records, inbox.Record{Seq: m.next, Data: slices.Clone(data)})
	if commit != nil {
		if err := commit(m.next); err != nil {
			return 0, err
		}
	}
	return m.next, nil
}

func (m *memInbox) Replay(fn func(inbox.Record) error) error {
	for _, rec := range m.unapplied() {
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

func (m *memInbox) Applied(seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = slices.DeleteFunc(m.records, func(r inbox.Record) bool { return r.Seq <= seq })
	return nil
}

// unapplied returns the batches a restart would replay.
func (m *memInbox) unapplied() []inbox.Record {
	after := m.st.inboxApplied()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []inbox.Record
	for _, r := range m.records {
		if r.Seq > after {
			out = append(out, r)
		}
	}
	return out
}

func (m *memInbox) len() int { return len(m.unapplied()) }

func TestInboxReplaysWhatWasAcknowledged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ib, st := &memInbox{}, newFakeStore()
		// The first process acknowledges two alerts and dies before its loop ran.
		first := newHarness(t, setup{st: st, inbox: ib})
		first.fire("db", "Down")
		first.fire("db", "Slow")
		if ib.len() != 2 {
			t.Fatalf("inbox holds %d batches after two acknowledged requests, want 2", ib.len())
		}

		// The next process replays them: one incident, one session, and the
		// batches count as applied once the incident is persisted.
		h := newHarness(t, setup{st: st, inbox: ib}).start()
		h.waitCalls(1)
		in := h.waitState("db", StateTier2)
		if len(in.Alerts) != 2 {
			t.Errorf("incident has %d alerts, want the 2 replayed", len(in.Alerts))
		}
		eventually(t, "the inbox to empty", func() bool { return ib.len() == 0 })
		if got := len(st.all()); got != 1 {
			t.Errorf("%d incidents, want 1", got)
		}
	})
}

func TestInboxFailureRefusesTheRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ib := &memInbox{fail: true}
		h := newHarness(t, setup{inbox: ib}).start()
		err := h.r.Enqueue(context.Background(), []webhook.Alert{alert("db", "Down", "firing")})
		if err == nil || errors.Is(err, webhook.ErrFull) {
			t.Fatalf("Enqueue with a failing inbox = %v, want its error (the webhook answers 503)", err)
		}
		if calls, _, _ := h.ses.snapshot(); len(calls) != 0 {
			t.Errorf("a session started for an alert that was not acknowledged")
		}
	})
}

// A batch refused for a full queue is never applied, and the next save
// marks it as done: a restart does not replay it.
func TestInboxFullQueueForgetsTheBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ib, st := &memInbox{}, newFakeStore()
		h := newHarness(t, setup{st: st, inbox: ib, cfg: Config{QueueSize: 1}})
		h.fire("db", "Down") // fills the queue: the loop is not running
		err := h.r.Enqueue(context.Background(), []webhook.Alert{alert("web", "Down", "firing")})
		if !errors.Is(err, webhook.ErrFull) {
			t.Fatalf("Enqueue past the queue size = %v, want ErrFull", err)
		}
		h.start()
		h.waitCalls(1)
		eventually(t, "both batches done with the save", func() bool { return ib.len() == 0 })
		h.stop()
		again := newHarness(t, setup{st: st, inbox: ib}).start()
		again.waitState("db", StateTier2)
		if in, ok := again.incident("web"); ok {
			t.Errorf("the refused batch was applied after a restart: %+v", in)
		}
	})
}

// An inbox batch counts as applied only with the save of what it produced:
// while saves fail, a restart would replay it; the next save that works
// writes the incidents and the applied number together.
func TestInboxDeletedWithTheSave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ib, st := &memInbox{}, newFakeStore()
		h := newHarness(t, setup{st: st, inbox: ib}).start()
		st.setFail(true)
		h.fire("db", "Down")
		h.waitCalls(1)
		if ib.len() != 1 || len(st.all()) != 0 {
			t.Fatalf("after a failed save: inbox %d batches, %d incidents stored; want 1, 0", ib.len(), len(st.all()))
		}
		st.setFail(false)
		h.fire("web", "Down")
		h.waitCalls(2)
		if ib.len() != 0 {
			t.Errorf("inbox holds %d batches after the save, want 0", ib.len())
		}
		if in, ok := h.incident("db"); !ok || in.State != StateTier2 {
			t.Errorf("db incident = %+v, %v: not saved with the next save", in, ok)
		}
	})
}

// With Config.SaveEvery, what alerts alone change is saved at most once per
// interval (a storm's alerts in bulk) and shown to readers within
// alertPublishEvery; its inbox batch stays until that save; a session start
// is saved and shown at once.
func TestSaveEveryDefersAlertSaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ib, st := &memInbox{}, newFakeStore()
		h := newHarness(t, setup{st: st, inbox: ib, cfg: Config{SaveEvery: time.Second}}).start()
		h.fire("db", "Down")
		h.waitCalls(1)
		eventually(t, "the session start saved at once, its batch deleted", func() bool {
			in, ok := h.incident("db")
			return ok && in.State == StateTier2 && ib.len() == 0
		})
		h.fire("db", "Slow") // joins the incident: an alert alone
		eventually(t, "the joined alert neither shown nor saved yet", func() bool {
			stored, _ := h.incident("db")
			shown := h.r.Incidents()
			return len(shown) == 1 && len(shown[0].Alerts) == 1 && len(stored.Alerts) == 1 && ib.len() == 1
		})
		time.Sleep(alertPublishEvery)
		eventually(t, "the joined alert shown within alertPublishEvery, not saved yet, its batch kept", func() bool {
			stored, _ := h.incident("db")
			shown := h.r.Incidents()
			return len(shown) == 1 && len(shown[0].Alerts) == 2 && len(stored.Alerts) == 1 && ib.len() == 1
		})
		time.Sleep(time.Second)
		eventually(t, "the joined alert saved within SaveEvery, its batch deleted", func() bool {
			stored, _ := h.incident("db")
			return len(stored.Alerts) == 2 && ib.len() == 0
		})
	})
}

// A stop saves what a deferred save still held.
func TestSaveEveryStopSaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ib, st := &memInbox{}, newFakeStore()
		h := newHarness(t, setup{st: st, inbox: ib, cfg: Config{SaveEvery: time.Hour}}).start()
		h.fire("db", "Down")
		h.waitCalls(1)
		h.fire("db", "Slow")
		eventually(t, "the joined alert not saved yet", func() bool {
			stored, _ := h.incident("db")
			return len(stored.Alerts) == 1 && ib.len() == 1
		})
		h.stop()
		if stored, _ := h.incident("db"); len(stored.Alerts) != 2 || ib.len() != 0 {
			t.Errorf("after the stop: %d alerts stored, %d inbox batches; want 2, 0", len(stored.Alerts), ib.len())
		}
	})
}

// With Config.SaveEvery, an urgent change after a quiet spell is saved at
// once; the next one, coming within SaveEvery of that save (a storm), goes
// with the next save, SaveEvery after the last: a storm's session starts do
// not each save every incident the storm changed.
func TestUrgentSavesCoalesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		h := newHarness(t, setup{st: st, cfg: Config{SaveEvery: time.Second, MaxServicesPerHour: -1}}).start()
		h.fire("db", "Down")
		h.waitCalls(1)
		eventually(t, "the first session start saved at once", func() bool {
			in, ok := h.incident("db")
			return ok && in.State == StateTier2
		})
		saved := time.Now()
		h.fire("web", "Down")
		h.waitCalls(2)
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if _, ok := h.incident("web"); ok {
			t.Fatal("the second start, half a second later, saved already; want it with the next save")
		}
		time.Sleep(time.Until(saved.Add(time.Second)))
		eventually(t, "the second start saved with the next save, SaveEvery after the first", func() bool {
			in, ok := h.incident("web")
			return ok && in.State == StateTier2
		})
	})
}

// A save runs beside the loop: while the store takes its time (a storm's
// save encodes and fsyncs hundreds of incidents), alerts go on being
// applied and shown, and the queue behind the webhook keeps draining.
func TestSaveDoesNotBlockTheLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		gate := make(chan struct{})
		st.gate = gate
		h := newHarness(t, setup{st: st, cfg: Config{MaxServicesPerHour: -1}}).start()
		h.fire("db", "Down") // its save waits for the gate
		eventually(t, "db shown, its save stuck in the store", func() bool {
			return len(h.r.Incidents()) == 1 && len(st.all()) == 0
		})
		h.fire("web", "Down")
		h.fire("dns", "Down")
		eventually(t, "three incidents shown, none saved yet", func() bool {
			return len(h.r.Incidents()) == 3 && len(st.all()) == 0
		})
		close(gate)
		eventually(t, "all three saved once the store answers", func() bool { return len(st.all()) == 3 })
	})
}

// An incident closed by its alerts alone is saved with them (Config.SaveEvery):
// a crash before that save replays their batches and closes it again. A
// storm's closures then cost no save of their own. Readers see the closure
// at once, as the metric counts it.
func TestAlertClosureSavedWithItsBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ib, st := &memInbox{}, newFakeStore()
		cfg := Config{SaveEvery: time.Second, MaxServicesPerHour: 1}
		h := newHarness(t, setup{st: st, inbox: ib, cfg: cfg}).start()
		h.fire("web", "Down") // takes the only slot: a session, saved at once
		h.waitCalls(1)
		h.fire("db", "Down") // refused by the blast radius: a human is asked
		time.Sleep(time.Second)
		h.waitState("db", StateNeedsHuman)
		h.fire("web", "Slow") // shown at once after a quiet spell
		synctest.Wait()
		h.resolve("db", "Down") // within alertPublishEvery of that
		eventually(t, "db's closure shown at once, not saved yet, its batch kept (and web's)", func() bool {
			in, _ := h.incident("db")
			shown := h.r.Incidents()
			return len(shown) == 1 && shown[0].Service == "web" && in.State == StateNeedsHuman && ib.len() == 2
		})
		time.Sleep(time.Second)
		eventually(t, "db's closure saved within SaveEvery, its batch done", func() bool {
			in, _ := h.incident("db")
			return in.State == StateClosed && ib.len() == 0
		})

		// Again, and the process dies before the save: the restart replays
		// the resolved alert and the incident closes again.
		h.fire("db", "Down")
		time.Sleep(time.Second)
		h.waitState("db", StateNeedsHuman)
		h.resolve("db", "Down")
		synctest.Wait()
		st.setFail(true) // nothing more reaches the store, the stop's save neither
		h.stop()
		if in, _ := h.incident("db"); in.State != StateNeedsHuman || ib.len() != 1 {
			t.Fatalf("before the restart: db %s, %d batches to replay; want needs_human, 1", in.State, ib.len())
		}
		st.setFail(false)
		again := newHarness(t, setup{st: st, inbox: ib, cfg: cfg}).start()
		time.Sleep(time.Second) // web's session resumed and saved at once: db's closure within SaveEvery
		again.waitState("db", StateClosed)
		eventually(t, "the replayed batch done", func() bool { return ib.len() == 0 })
		for _, in := range again.r.Incidents() {
			if in.Service == "db" {
				t.Errorf("db open again after the replay: %+v", in)
			}
		}
	})
}

// A save writes the alerts that came or changed since the last one, not
// every alert of the incident again; after a restart too.
func TestSaveWritesNewAlertsOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		written := func() int { st.mu.Lock(); defer st.mu.Unlock(); return st.written }
		h := newHarness(t, setup{st: st}).start()
		h.fire("db", "Down")
		h.waitState("db", StateTier2)
		for i, name := range []string{"Slow", "Lag", "Full"} {
			h.fire("db", name)
			eventually(t, fmt.Sprintf("alert %d saved", i+2), func() bool {
				in, _ := h.incident("db")
				return len(in.Alerts) == i+2
			})
		}
		h.resolve("db", "Lag") // changes one alert: written again
		h.stop()
		if got := written(); got != 5 {
			t.Errorf("%d alerts written for 4 alerts and a resolved one, want 5", got)
		}
		again := newHarness(t, setup{st: st}).start()
		again.fire("db", "Swap")
		eventually(t, "the fifth alert saved", func() bool {
			in, _ := again.incident("db")
			return len(in.Alerts) == 5
		})
		if got := written(); got != 6 {
			t.Errorf("%d alerts written after the restart's alert, want 6", got)
		}
		in, _ := again.incident("db")
		var got []string
		for _, a := range in.Alerts {
			got = append(got, a.Labels.Get("alertname")+" "+a.Status)
		}
		want := []string{"Down firing", "Slow firing", "Lag resolved", "Full firing", "Swap firing"}
		if !slices.Equal(got, want) {
			t.Errorf("stored alerts %q, want %q", got, want)
		}
	})
}

// An incident an older daemon saved holds its alerts in its document; after
// the upgrade it resumes with them, its first save writes them all to the
// alert log (the document no longer holds them), and later saves only what
// comes.
func TestResumeIncidentSavedBeforeTheAlertLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		in := newIncident("inc-old", "db", policy{}, time.Now())
		in.State = StateNeedsHuman
		in.upsertAlert(alertFrom(alert("db", "Down", "firing")))
		in.upsertAlert(alertFrom(alert("db", "Slow", "firing")))
		doc, err := json.Marshal(in.Incident) // as an older daemon saved it
		if err != nil {
			t.Fatal(err)
		}
		st.inc[in.ID] = store.Incident{ID: in.ID, Service: "db", State: string(in.State), Opened: in.Opened, Updated: in.Updated, Data: doc}
		h := newHarness(t, setup{st: st}).start()
		h.fire("db", "Lag")
		eventually(t, "the third alert saved", func() bool {
			got, _ := h.incident("db")
			return got.ID == in.ID && len(got.Alerts) == 3
		})
		rec := st.all()[0]
		if st.written != 3 {
			t.Errorf("%d alerts written to the log, want the 3, each once", st.written)
		}
		var stored Incident
		if err := json.Unmarshal(rec.Data, &stored); err != nil || len(stored.Alerts) != 0 {
			t.Errorf("the document still holds %d alerts (%v)", len(stored.Alerts), err)
		}
	})
}
