// Package api serves Claude Ops' JSON API and pages (SPEC.md §6): starting a
// Tier 1 run (also from a form), sessions with their redacted transcripts and
// their readable events (NDJSON, server-sent events, an HTML page), the
// cooldown ledger, incidents open and closed, the effective configuration,
// the flat views Grafana's activity dashboard reads, and the retention of
// sessions and transcripts.
package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// Store reads persisted sessions, incidents and the action ledger
// (*store.Store).
type Store interface {
	GetSession(ctx context.Context, id string) (session.Record, error)
	QuerySessions(ctx context.Context, q store.SessionQuery) ([]session.Record, error)
	IncidentServices(ctx context.Context, ids []string) (map[string]string, error)
	QueryIncidents(ctx context.Context, q store.IncidentQuery) ([]store.Incident, error)
	ActionsSince(ctx context.Context, since time.Time) ([]store.ActionRecord, error)
	CooldownUses(ctx context.Context, now time.Time, windows map[string]time.Duration) ([]store.CooldownUse, error)
}

// Live knows the sessions running now.
type Live interface {
	Get(id string) (session.Record, <-chan struct{}, bool)
}

// API holds the handlers' dependencies.
type API struct {
	// Trigger starts a Tier 1 run now, or names the one already running.
	Trigger    func() (id string, started bool)
	Store      Store
	Live       Live
	ResultsDir string
	// Token is the webhook's bearer token: when set, runs, sessions,
	// transcripts, their pages and the views need it (auth.go).
	Token []byte
	// Cooldowns, Actions and Status return JSON-encodable views.
	Cooldowns func(ctx context.Context) (any, error)
	Actions   func(ctx context.Context) (any, error)
	Status    func() any
	// Incidents returns the open incidents as the remediator holds them
	// now; closed ones are read from the store.
	Incidents func() []remediator.Incident
	// Limits are the cooldown classes' limits (restart, redeploy), and
	// Config the effective flags (ConfigRows), for the views.
	Limits map[string]Limit
	Config []ConfigRow
	// Landing is the landing page's name, description and version (no
	// landing page without a name); the API adds its links and the Run-now
	// form. MetricsPath is where the metrics are (default /metrics).
	Landing     web.LandingConfig
	MetricsPath string
	Logger      *slog.Logger
	// FollowPoll is how often a followed transcript is re-read (default 200ms).
	FollowPoll time.Duration
	// Now is the clock of the views (default time.Now).
	Now func() time.Time
}

// Register adds the API's routes and pages to mux.
func (a *API) Register(mux *http.ServeMux) error {
	mux.HandleFunc("POST /api/v1/runs", a.auth(a.runs))
	mux.HandleFunc("GET /api/v1/sessions", a.auth(a.sessions))
	mux.HandleFunc("GET /api/v1/sessions/{id}", a.auth(a.session))
	mux.HandleFunc("GET /api/v1/cooldowns", a.view(func(ctx context.Context) (any, error) { return a.Cooldowns(ctx) }))
	if a.Actions != nil {
		mux.HandleFunc("GET /api/v1/actions", a.view(func(ctx context.Context) (any, error) { return a.Actions(ctx) }))
	}
	mux.HandleFunc("GET /api/v1/incidents", a.rows(a.incidentList))
	mux.HandleFunc("GET /api/v1/status", a.view(func(context.Context) (any, error) { return a.Status(), nil }))
	for name, v := range map[string]func(*http.Request) (any, error){
		"tldr": a.tldr, "sessions": a.sessionsView, "events": a.events, "cooldowns": a.cooldownsView, "config": a.configView,
	} {
		mux.HandleFunc("GET /api/v1/views/"+name, a.auth(a.rows(v)))
	}
	return a.registerPages(mux)
}

// fail answers with a status and a one-line reason.
func fail(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintf(w, format+"\n", args...)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *API) runs(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Tier session.Tier `json:"tier"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		fail(w, http.StatusBadRequest, "invalid request body: %v", err)
		return
	}
	if body.Tier == 0 {
		body.Tier = session.Tier1
	}
	if body.Tier != session.Tier1 {
		fail(w, http.StatusBadRequest, "only tier 1 runs can be started by hand; tiers 2 and 3 start from alerts")
		return
	}
	id, started := a.Trigger()
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "started": started, "page": SessionPath(id)})
}

// Record is a session record as the API serves it: its duration in
// seconds (a running session's so far) instead of nanoseconds.
type Record struct {
	session.Record
	// DurationNS hides the record's duration_ns.
	DurationNS      *struct{} `json:"duration_ns,omitempty"`
	DurationSeconds float64   `json:"duration_seconds"`
}

func (a *API) record(rec session.Record) Record {
	return Record{Record: rec, DurationSeconds: a.durationOf(rec)}
}

// sessions is GET /api/v1/sessions: ?tier=, ?service= (the sessions of its
// incidents and those that acted on it), ?limit=.
func (a *API) sessions(w http.ResponseWriter, r *http.Request) {
	q, err := sessionQuery(r.URL.Query(), 100)
	if err != nil {
		fail(w, http.StatusBadRequest, "%s", strings.TrimPrefix(err.Error(), errBadRequest.Error()+": "))
		return
	}
	recs, err := a.Store.QuerySessions(r.Context(), q)
	if err != nil {
		a.Logger.Error("list sessions", "err", err)
		fail(w, http.StatusInternalServerError, "cannot list sessions")
		return
	}
	out := make([]Record, 0, len(recs))
	for _, rec := range recs {
		if live, _, ok := a.Live.Get(rec.ID); ok {
			rec = live // actions so far
		}
		out = append(out, a.record(rec))
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// maxTranscript bounds the transcript returned inline.
const maxTranscript = 32 << 20

// errNoSession is lookup's answer for an unknown session.
var errNoSession = errors.New("no such session")

// requested finds the session the request's {id} names, waiting up to wait;
// when it cannot, it has answered (404 or 500, the error logged as what)
// and ok is false.
func (a *API) requested(w http.ResponseWriter, r *http.Request, wait time.Duration, what string) (id string, rec session.Record, done <-chan struct{}, ok bool) {
	id = r.PathValue("id")
	rec, done, err := a.lookup(r.Context(), id, wait)
	if errors.Is(err, errNoSession) {
		fail(w, http.StatusNotFound, "no session %s", id)
		return id, rec, nil, false
	}
	if err != nil {
		a.Logger.Error(what, "id", id, "err", err)
		fail(w, http.StatusInternalServerError, "cannot read session")
		return id, rec, nil, false
	}
	return id, rec, done, true
}

// lookup finds a session, running or stored; wait is how long an unknown
// one is waited for (a run just asked for starts within moments).
func (a *API) lookup(ctx context.Context, id string, wait time.Duration) (rec session.Record, done <-chan struct{}, err error) {
	if !validID.MatchString(id) {
		return rec, nil, errNoSession
	}
	deadline := time.Now().Add(wait)
	for {
		if rec, done, ok := a.Live.Get(id); ok {
			return rec, done, nil
		}
		rec, err = a.Store.GetSession(ctx, id)
		if !errors.Is(err, store.ErrNotFound) {
			return rec, nil, err
		}
		if !time.Now().Before(deadline) {
			return rec, nil, errNoSession
		}
		select {
		case <-ctx.Done():
			return rec, nil, ctx.Err()
		case <-time.After(a.poll()):
		}
	}
}

func (a *API) poll() time.Duration {
	if a.FollowPoll > 0 {
		return a.FollowPoll
	}
	return 200 * time.Millisecond
}

// session is GET /api/v1/sessions/{id}: the record and the redacted
// transcript as the CLI wrote it; with ?follow=1, the readable events as
// NDJSON while the session runs, the outcome (with the final record) last.
func (a *API) session(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID.MatchString(id) {
		fail(w, http.StatusBadRequest, "invalid session id")
		return
	}
	_, rec, done, ok := a.requested(w, r, 0, "get session")
	if !ok {
		return
	}
	if r.URL.Query().Get("follow") == "1" {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		flusher, _ := w.(http.Flusher)
		if flusher != nil {
			flusher.Flush()
		}
		enc := json.NewEncoder(w)
		err := a.stream(r.Context(), id, rec, done, 0, func(evs []Event) error {
			for _, e := range evs {
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
			if flusher != nil {
				flusher.Flush()
			}
			return nil
		})
		if err != nil && r.Context().Err() == nil {
			a.Logger.Error("follow session", "id", id, "err", err)
		}
		return
	}
	lines, err := readTranscript(a.transcriptPath(id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		a.Logger.Error("read transcript", "id", id, "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": a.record(rec), "transcript": lines})
}

func (a *API) transcriptPath(id string) string { return filepath.Join(a.ResultsDir, id+".jsonl") }

func readTranscript(path string) ([]json.RawMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return []json.RawMessage{}, err
	}
	defer f.Close()
	lines := []json.RawMessage{}
	sc := bufio.NewScanner(io.LimitReader(f, maxTranscript))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		lines = append(lines, asJSON(sc.Bytes()))
	}
	return lines, sc.Err()
}

// asJSON keeps a JSON line as it is and quotes anything else.
func asJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return json.RawMessage(append([]byte(nil), b...))
	}
	q, _ := json.Marshal(string(b))
	return q
}

// stream reads a session's transcript from the start and hands its
// readable events after the one numbered after to emit: at once what is
// written, then what is added while the session runs (done open), and
// last, once it has ended, its outcome with the final record. It returns
// when the outcome is sent, emit fails or ctx ends.
func (a *API) stream(ctx context.Context, id string, rec session.Record, done <-chan struct{}, after int, emit func([]Event) error) error {
	cur, final := rec, done == nil
	actions := func() []session.Action {
		if live, _, ok := a.Live.Get(id); ok {
			cur = live
		} else if !final {
			// Ended: the final record was stored before it left the
			// running sessions.
			if stored, err := a.Store.GetSession(ctx, id); err == nil {
				cur, final = stored, true
			}
		}
		return cur.Actions
	}
	rd := newReader(actions)
	send := func(evs []Event) error {
		evs = slices.DeleteFunc(evs, func(e Event) bool { return e.Seq <= after })
		if len(evs) == 0 {
			return nil
		}
		return emit(evs)
	}
	path := a.transcriptPath(id)
	var (
		offset  int64
		partial []byte
	)
	for {
		finished := done == nil
		if !finished {
			select {
			case <-done:
				finished = true
			default:
			}
		}
		// Read what is there; after the end, once more to catch the tail.
		var evs []Event
		n, rest, err := readLines(path, offset, partial, func(line []byte) { evs = append(evs, rd.line(line)...) })
		offset, partial = offset+n, rest
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := send(evs); err != nil {
			return err
		}
		if finished {
			if done != nil {
				stored, err := a.Store.GetSession(ctx, id)
				if err != nil {
					return err
				}
				cur = stored
			}
			return send(rd.finish(cur, a.record(cur)))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
		case <-time.After(a.poll()):
		}
	}
}

// readLines calls line for each complete line of path after offset; it
// returns the bytes consumed and an incomplete last line to be finished by
// the next read.
func readLines(path string, offset int64, partial []byte, line func([]byte)) (int64, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, partial, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, partial, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTranscript))
	if err != nil {
		return 0, partial, err
	}
	n := int64(len(b))
	buf := append(partial, b...) //nolint:gocritic // partial is the caller's copy, never read again
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		if l := bytes.TrimSpace(buf[:i]); len(l) > 0 {
			line(l)
		}
		buf = buf[i+1:]
	}
	return n, append([]byte(nil), buf...), nil
}

func (a *API) view(get func(context.Context) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := get(r.Context())
		if err != nil {
			a.Logger.Error("api view", "path", r.URL.Path, "err", err)
			fail(w, http.StatusInternalServerError, "cannot read state")
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}
