package remediator

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/claude-ops/claude-ops/prompts"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/store"
	"github.com/claude-ops/claude-ops/webhook"
)

// ---- time ------------------------------------------------------------------
//
// The tests run in synctest bubbles (testing/synctest): time is fake and
// moves only when every goroutine of the bubble is blocked, so a test reads
// the loop's outcome after synctest.Wait and moves time with advance.

// advance lets d of fake time pass (the loop's timers fire in order), then
// waits until the loop is idle.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// ---- sessions --------------------------------------------------------------

type fakeCall struct {
	Spec sessions.Spec
	done chan session.Record
}

// finish ends the session with a record.
func (c *fakeCall) finish(rec session.Record) { c.done <- rec }

type cancelCall struct {
	ID      string
	Outcome session.Outcome
}

// fakeSessions blocks each Run until the test finishes it (or auto answers).
type fakeSessions struct {
	mu                  sync.Mutex
	calls               []*fakeCall
	running, maxRunning int
	cancels             []cancelCall
	ended               map[string]session.Outcome  // what each Run returned
	live                map[string][]session.Action // actions of running sessions (act)
	budget              func(sessions.Spec) bool
	auto                func(sessions.Spec) session.Record
	rows                *fakeStore // gets a session row as each session starts
}

// act records an action decided during a running session, as the action
// chain does through the manager's AddAction.
func (f *fakeSessions) act(id string, a session.Action) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.live == nil {
		f.live = map[string][]session.Action{}
	}
	f.live[id] = append(f.live[id], a)
}

// Get shows a running session's record so far (LiveSessions).
func (f *fakeSessions) Get(id string) (session.Record, <-chan struct{}, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ended := f.ended[id]; ended {
		return session.Record{}, nil, false
	}
	for _, c := range f.calls {
		if c.Spec.ID == id {
			return session.Record{ID: id, Outcome: session.OutcomeRunning, Actions: slices.Clone(f.live[id])}, nil, true
		}
	}
	return session.Record{}, nil, false
}

// blind hides Get: Sessions that cannot show a running session.
type blind struct{ Sessions }

func (f *fakeSessions) Run(ctx context.Context, spec sessions.Spec) (session.Record, error) {
	f.mu.Lock()
	if f.budget != nil && f.budget(spec) {
		f.mu.Unlock()
		return session.Record{}, sessions.ErrBudget
	}
	if f.rows != nil {
		f.rows.sessionStarted(spec.Service, time.Now())
	}
	c := &fakeCall{Spec: spec, done: make(chan session.Record, 1)}
	f.calls = append(f.calls, c)
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	auto := f.auto
	f.mu.Unlock()
	var rec session.Record
	if auto != nil {
		rec = auto(spec)
	} else {
		select {
		case rec = <-c.done:
		case <-ctx.Done():
			o, ok := session.OutcomeOf(context.Cause(ctx))
			if !ok {
				o = session.OutcomeError
			}
			rec = session.Record{Outcome: o}
		}
	}
	f.mu.Lock()
	f.running--
	if f.ended == nil {
		f.ended = map[string]session.Outcome{}
	}
	f.ended[spec.ID] = rec.Outcome
	rec.Actions = append(slices.Clone(f.live[spec.ID]), rec.Actions...)
	f.mu.Unlock()
	rec.ID, rec.Tier, rec.IncidentID = spec.ID, spec.Tier, spec.IncidentID
	return rec, nil
}

func (f *fakeSessions) Cancel(id string, o session.Outcome) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels = append(f.cancels, cancelCall{id, o})
	for _, c := range f.calls {
		if c.Spec.ID == id {
			select {
			case c.done <- session.Record{Outcome: o}:
			default:
			}
			return true
		}
	}
	return false
}

func (f *fakeSessions) snapshot() (calls []*fakeCall, cancels []cancelCall, maxRunning int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls), slices.Clone(f.cancels), f.maxRunning
}

// record builds a Tier 2/3 session record with a structured result.
func record(o session.Outcome, summary, findings string, actions ...session.RemediationAction) session.Record {
	res := session.RemediationResult{Summary: summary, Findings: findings, Actions: actions, Outcome: "not_fixed"}
	switch o {
	case session.OutcomeRemediated:
		res.Outcome = "fixed"
	case session.OutcomeNeedsHuman:
		res.Outcome = "needs_human"
	}
	if res.Actions == nil {
		res.Actions = []session.RemediationAction{}
	}
	raw, _ := json.Marshal(res)
	return session.Record{Outcome: o, StructuredOutput: raw}
}

// ---- store -----------------------------------------------------------------

type fakeStore struct {
	mu      sync.Mutex
	inc     map[string]store.Incident
	saves   int
	written int           // alerts written to incident logs
	fail    bool          // SaveIncidents fails, writing nothing
	gate    chan struct{} // if set, SaveIncidents waits for it to close
	// applied is the inbox's applied number, saved with the incidents.
	applied uint64
	// sessions are the session rows (sessionStarted).
	sessions []store.SessionStart
}

func (s *fakeStore) inboxApplied() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.applied }

func (s *fakeStore) failing() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.fail }

func (s *fakeStore) setFail(on bool) { s.mu.Lock(); defer s.mu.Unlock(); s.fail = on }

func newFakeStore() *fakeStore { return &fakeStore{inc: map[string]store.Incident{}} }

// SaveIncidents saves the incidents and the inbox's applied number, as
// store.Store does in one transaction.
func (s *fakeStore) SaveIncidents(_ context.Context, seq iter.Seq[store.Incident], applied uint64) error {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if s.failing() {
		return fmt.Errorf("disk full")
	}
	var ins []store.Incident
	for in := range seq {
		// Taken as store.Store takes it: before the next is asked for,
		// whose encoding may reuse this one's buffers.
		in.Data, in.Append = slices.Clone(in.Data), slices.Clone(in.Append)
		ins = append(ins, in)
	}
	for _, in := range ins {
		if !json.Valid(in.Data) {
			return fmt.Errorf("invalid data")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range ins {
		in.Data = slices.Clone(in.Data)
		// The log as store.Store keeps it: emptied when told, appended to.
		log := s.inc[in.ID].Log
		if in.ResetLog {
			log = nil
		}
		if in.Append != nil {
			log = append(slices.Clone(log), slices.Clone(in.Append))
			es, err := readAlertChunk(in.Append)
			if err != nil {
				return err // written by recordOf: a bug
			}
			s.written += len(es)
		}
		in.Log, in.Append, in.ResetLog = log, nil, false
		s.inc[in.ID] = in
		s.saves++
	}
	s.applied = max(s.applied, applied)
	return nil
}

func (s *fakeStore) GetIncident(_ context.Context, id string) (store.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.inc[id]
	if !ok {
		return store.Incident{}, fmt.Errorf("incident %q: %w", id, store.ErrNotFound)
	}
	return in, nil
}

func (s *fakeStore) all() []store.Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Incident, 0, len(s.inc))
	for _, in := range s.inc {
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

func (s *fakeStore) OpenIncidents(context.Context) ([]store.Incident, error) {
	var out []store.Incident
	for _, in := range s.all() {
		if in.Closed.IsZero() {
			out = append(out, in)
		}
	}
	return out, nil
}

func (s *fakeStore) ListIncidents(_ context.Context, limit int) ([]store.Incident, error) {
	out := s.all()
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// sessionStarted records a session row, as the manager saves one before
// the session starts.
func (s *fakeStore) sessionStarted(service string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions = append(s.sessions, store.SessionStart{Service: service, Start: at})
}

func (s *fakeStore) IncidentSessionsSince(_ context.Context, since time.Time) ([]store.SessionStart, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.SessionStart
	for _, ss := range s.sessions {
		if !ss.Start.Before(since) {
			out = append(out, ss)
		}
	}
	return out, nil
}

// ---- alertmanager ----------------------------------------------------------

type fakeAM struct {
	mu       sync.Mutex
	pushes   []PostableAlert
	active   map[string]bool // fingerprints Alertmanager lists
	polls    int
	pushErr  error // Push fails with it (nothing recorded)
	failures int   // pushes failed
}

func newFakeAM() *fakeAM { return &fakeAM{active: map[string]bool{}} }

func (a *fakeAM) Push(_ context.Context, alerts []PostableAlert) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pushErr != nil {
		a.failures++
		return a.pushErr
	}
	a.pushes = append(a.pushes, alerts...)
	return nil
}

func (a *fakeAM) setPushErr(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pushErr = err
}

func (a *fakeAM) failed() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failures
}

func (a *fakeAM) Active(_ context.Context, fps []string) (map[string]bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.polls++
	out := map[string]bool{}
	for _, fp := range fps {
		if a.active[fp] {
			out[fp] = true
		}
	}
	return out, nil
}

func (a *fakeAM) setActive(fp string, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.active[fp] = on
}

// pushed returns the pushes of an alertname, in order.
func (a *fakeAM) pushed(alertname string) []PostableAlert {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []PostableAlert
	for _, p := range a.pushes {
		if p.Labels["alertname"] == alertname {
			out = append(out, p)
		}
	}
	return out
}

// ---- harness ---------------------------------------------------------------

type handoffRec struct {
	Tier session.Tier
	H    prompts.Handoff
}

type harness struct {
	t   testing.TB
	r   *Remediator
	ses *fakeSessions
	st  *fakeStore
	am  *fakeAM
	reg *prometheus.Registry

	mu       sync.Mutex
	handoffs []handoffRec

	cancel context.CancelFunc
	done   chan error
}

type setup struct {
	cfg   Config
	st    *fakeStore    // nil: new
	am    *fakeAM       // nil: none
	ses   *fakeSessions // nil: new
	inbox Inbox         // nil: none
	blind bool          // the remediator cannot look at running sessions
	// canonical is Deps.Canonical.
	canonical func(string) string
}

func newHarness(t testing.TB, s setup) *harness {
	t.Helper()
	h := &harness{t: t, ses: s.ses, st: s.st, am: s.am, reg: prometheus.NewPedanticRegistry()}
	if h.st == nil {
		h.st = newFakeStore()
	}
	if h.ses == nil {
		h.ses = &fakeSessions{}
	}
	if h.ses.rows == nil {
		h.ses.rows = h.st
	}
	var ses Sessions = h.ses
	if s.blind {
		ses = blind{h.ses}
	}
	d := Deps{
		Sessions: ses, Store: h.st, Registerer: h.reg, Canonical: s.canonical,
		Context: NewContextProvider(nil, func(svc string) string { return "rules of " + svc }),
		Prompt: func(t session.Tier, hd prompts.Handoff) (string, string) {
			h.mu.Lock()
			h.handoffs = append(h.handoffs, handoffRec{t, hd})
			h.mu.Unlock()
			return "system", "user"
		},
	}
	if h.am != nil {
		d.Alertmanager = h.am
	}
	d.Inbox = s.inbox
	if ib, ok := s.inbox.(*memInbox); ok {
		ib.st = h.st
	}
	r, err := New(s.cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	return h
}

func (h *harness) start() *harness {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.r.Run(ctx) }()
	h.t.Cleanup(h.stop)
	return h
}

// stop shuts the loop down like the daemon does and waits for it.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
	h.cancel = nil
}

func alert(service, name, status string) webhook.Alert {
	return webhook.Alert{
		Service: service, Status: status, Fingerprint: fmt.Sprintf("%s-%s", service, name),
		Labels:       labels.FromMap(map[string]string{"alertname": name, "service": service, "severity": "critical"}),
		Annotations:  labels.FromMap(map[string]string{"summary": name + " on " + service, "runbook_url": "https://runbooks/" + name}),
		GeneratorURL: "http://prometheus/graph?g0.expr=up",
	}
}

func (h *harness) send(alerts ...webhook.Alert) {
	h.t.Helper()
	if err := h.r.Enqueue(context.Background(), alerts); err != nil {
		h.t.Fatalf("Enqueue: %v", err)
	}
}

func (h *harness) fire(service, name string) { h.t.Helper(); h.send(alert(service, name, "firing")) }

func (h *harness) resolve(service, name string) {
	h.t.Helper()
	h.send(alert(service, name, "resolved"))
}

// eventually waits until the bubble is idle (every goroutine blocked: the
// loop has done all it can), then requires cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	synctest.Wait()
	if !cond() {
		t.Fatalf("not so once the loop is idle: %s", what)
	}
}

// incident returns the newest stored incident of a service.
func (h *harness) incident(service string) (Incident, bool) {
	var last *store.Incident
	all := h.st.all()
	for i := range all {
		if all[i].Service == service && (last == nil || !last.Closed.IsZero()) {
			last = &all[i] // the open one, else the newest
		}
	}
	if last == nil {
		return Incident{}, false
	}
	v, err := DecodeIncident(*last)
	if err != nil {
		h.t.Fatal(err)
	}
	return v, true
}

func (h *harness) waitState(service string, st State) Incident {
	h.t.Helper()
	var in Incident
	eventually(h.t, fmt.Sprintf("%s in state %s", service, st), func() bool {
		var ok bool
		in, ok = h.incident(service)
		return ok && in.State == st
	})
	return in
}

// waitCalls waits until n sessions were started and returns them.
func (h *harness) waitCalls(n int) []*fakeCall {
	h.t.Helper()
	var calls []*fakeCall
	eventually(h.t, fmt.Sprintf("%d sessions", n), func() bool {
		calls, _, _ = h.ses.snapshot()
		return len(calls) >= n
	})
	return calls
}

func (h *harness) handoff(i int) handoffRec {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.handoffs[i]
}

// metric returns the value of a series, and whether it exists.
func (h *harness) metric(name string, labels ...string) (float64, bool) {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			want := map[string]string{}
			for i := 0; i+1 < len(labels); i += 2 {
				want[labels[i]] = labels[i+1]
			}
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if want[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue(), true
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func (h *harness) wantMetric(want float64, name string, labels ...string) {
	h.t.Helper()
	got, ok := h.metric(name, labels...)
	if !ok || got != want {
		h.t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
	}
}
