// Package api serves Claude Ops' JSON API (SPEC.md §6): starting a Tier 1 run,
// sessions with their redacted transcripts, the cooldown ledger, incidents and
// the effective configuration.
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
	"strconv"
	"time"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// Store reads persisted session records.
type Store interface {
	GetSession(ctx context.Context, id string) (session.Record, error)
	ListSessions(ctx context.Context, o store.ListOptions) ([]session.Record, error)
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
	// Cooldowns, Actions, Incidents and Status return JSON-encodable views.
	Cooldowns func(ctx context.Context) (any, error)
	Actions   func(ctx context.Context) (any, error)
	Incidents func(ctx context.Context) (any, error)
	Status    func() any
	Logger    *slog.Logger
	// FollowPoll is how often a followed transcript is re-read (default 200ms).
	FollowPoll time.Duration
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/runs", a.runs)
	mux.HandleFunc("GET /api/v1/sessions", a.sessions)
	mux.HandleFunc("GET /api/v1/sessions/{id}", a.session)
	mux.HandleFunc("GET /api/v1/cooldowns", a.view(func(ctx context.Context) (any, error) { return a.Cooldowns(ctx) }))
	if a.Actions != nil {
		mux.HandleFunc("GET /api/v1/actions", a.view(func(ctx context.Context) (any, error) { return a.Actions(ctx) }))
	}
	mux.HandleFunc("GET /api/v1/incidents", a.view(func(ctx context.Context) (any, error) { return a.Incidents(ctx) }))
	mux.HandleFunc("GET /api/v1/status", a.view(func(context.Context) (any, error) { return a.Status(), nil }))
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
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "started": started})
}

func (a *API) sessions(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			fail(w, http.StatusBadRequest, "limit must be a number from 1 to 1000")
			return
		}
		limit = n
	}
	var tier session.Tier
	if s := r.URL.Query().Get("tier"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || !session.Tier(n).Valid() {
			fail(w, http.StatusBadRequest, "tier must be 1, 2 or 3")
			return
		}
		tier = session.Tier(n)
	}
	recs, err := a.Store.ListSessions(r.Context(), store.ListOptions{Limit: limit, Tier: tier})
	if err != nil {
		a.Logger.Error("list sessions", "err", err)
		fail(w, http.StatusInternalServerError, "cannot list sessions")
		return
	}
	if recs == nil {
		recs = []session.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": recs})
}

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// maxTranscript bounds the transcript returned inline.
const maxTranscript = 32 << 20

func (a *API) session(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID.MatchString(id) {
		fail(w, http.StatusBadRequest, "invalid session id")
		return
	}
	rec, done, live := a.Live.Get(id)
	if !live {
		var err error
		rec, err = a.Store.GetSession(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			fail(w, http.StatusNotFound, "no session %s", id)
			return
		}
		if err != nil {
			a.Logger.Error("get session", "id", id, "err", err)
			fail(w, http.StatusInternalServerError, "cannot read session")
			return
		}
	}
	path := filepath.Join(a.ResultsDir, id+".jsonl")
	if r.URL.Query().Get("follow") == "1" {
		a.follow(w, r, id, path, done)
		return
	}
	lines, err := readTranscript(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		a.Logger.Error("read transcript", "id", id, "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": rec, "transcript": lines})
}

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

// follow streams a transcript as NDJSON while its session runs, then the
// final record as the last line.
func (a *API) follow(w http.ResponseWriter, r *http.Request, id, path string, done <-chan struct{}) {
	poll := a.FollowPoll
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	var offset int64
	var partial []byte
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
		n, rest, err := copyLines(w, path, offset, partial)
		offset, partial = offset+n, rest
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			a.Logger.Error("follow transcript", "id", id, "err", err)
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		if finished {
			rec, err := a.Store.GetSession(r.Context(), id)
			if err == nil {
				b, _ := json.Marshal(map[string]any{"type": "claudeops_session", "session": rec})
				_, _ = w.Write(append(b, '\n'))
			}
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-done:
		case <-time.After(poll):
		}
	}
}

// copyLines writes the complete lines of path after offset; it returns the
// bytes consumed and an incomplete last line to be finished by the next read.
func copyLines(w io.Writer, path string, offset int64, partial []byte) (int64, []byte, error) {
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
	buf := append(partial, b...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		if _, err := w.Write(append(asJSON(buf[:i]), '\n')); err != nil {
			return n, nil, err
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
