package api

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/claude-ops/claude-ops/session"
)

// The daemon's HTML pages (SPEC.md §6): plain html/template, no JavaScript
// but the few lines that follow a running session's server-sent events.
// They read what the JSON API does, redacted alike, behind the same auth.

//go:embed pages/*.html
var pageFiles embed.FS

var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"seconds": func(s float64) string {
		return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
	},
	"usd": func(v float64) string { return fmt.Sprintf("$%.4f", v) },
	"firstLine": func(s string) string {
		line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
		return clip(line, 160)
	},
	"pretty": func(raw json.RawMessage) string {
		var b bytes.Buffer
		if json.Indent(&b, raw, "", "  ") != nil {
			return string(raw)
		}
		return b.String()
	},
}).ParseFS(pageFiles, "pages/*.html"))

// page is what every page's layout reads.
type page struct {
	Title   string
	Metrics string
}

func (a *API) registerPages(mux *http.ServeMux) error {
	mux.HandleFunc("GET /sessions", a.auth(a.sessionsPage))
	mux.HandleFunc("GET /sessions/{id}", a.auth(a.sessionPage))
	mux.HandleFunc("GET /sessions/{id}/events", a.auth(a.sessionEvents))
	// A browser's cross-site POST is refused: the form is the landing
	// page's and the sessions page's own.
	mux.Handle("POST /runs", http.NewCrossOriginProtection().Handler(a.auth(a.runForm)))
	if a.Landing.Name == "" {
		return nil
	}
	cfg := a.Landing
	cfg.Profiling = "false" // no pprof handlers: no dead links
	cfg.Links = append([]web.LandingLinks{
		{Address: "/sessions", Text: "Sessions", Description: "recent sessions, each with its readable transcript"},
		{Address: a.metricsPath(), Text: "Metrics"},
		{Address: "/api/v1/sessions", Text: "Sessions (JSON)"},
		{Address: "/api/v1/incidents?state=all", Text: "Incidents (JSON)", Description: "open and closed; ?state=open|closed|all, ?service="},
		{Address: "/api/v1/cooldowns", Text: "Cooldowns (JSON)"},
		{Address: "/api/v1/actions", Text: "Actions (JSON)", Description: "the action ledger of the last day"},
		{Address: "/api/v1/status", Text: "Status (JSON)", Description: "version and effective flags"},
		{Address: "/api/v1/views/events", Text: "Events (JSON)", Description: "the rows of Grafana's events panel"},
	}, cfg.Links...)
	var form bytes.Buffer
	if err := pages.ExecuteTemplate(&form, "runform", nil); err != nil {
		return err
	}
	cfg.ExtraHTML = "<h3>Run now</h3>\n" + form.String() + cfg.ExtraHTML
	landing, err := web.NewLandingPage(cfg)
	if err != nil {
		return fmt.Errorf("landing page: %w", err)
	}
	mux.Handle("GET /{$}", landing)
	return nil
}

func (a *API) metricsPath() string {
	if a.MetricsPath != "" {
		return a.MetricsPath
	}
	return "/metrics"
}

func (a *API) render(w http.ResponseWriter, code int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		a.Logger.Error("render page", "page", name, "err", err)
		fail(w, http.StatusInternalServerError, "cannot render the page")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// sessionsPage is GET /sessions: the recent sessions (?service=, ?tier=,
// ?limit=), each linking to its transcript, and the Run-now form.
func (a *API) sessionsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("from") == "" {
		q.Set("from", "0") // all, newest first, up to ?limit
	}
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	rows, err := a.sessionsView(r2)
	if errors.Is(err, errBadRequest) {
		fail(w, http.StatusBadRequest, "%s", strings.TrimPrefix(err.Error(), errBadRequest.Error()+": "))
		return
	}
	if err != nil {
		a.Logger.Error("sessions page", "err", err)
		fail(w, http.StatusInternalServerError, "cannot list sessions")
		return
	}
	a.render(w, http.StatusOK, "sessions", struct {
		page
		Rows []sessionRow
	}{page{"Sessions", a.metricsPath()}, rows.([]sessionRow)})
}

// sessionPage is GET /sessions/{id}: the session's readable transcript;
// while it runs, the page follows /sessions/{id}/events.
func (a *API) sessionPage(w http.ResponseWriter, r *http.Request) {
	id, rec, done, ok := a.requested(w, r, 25*a.poll(), "session page")
	if !ok {
		return
	}
	running := done != nil
	var evs []Event
	cur := rec
	rd := newReader(func() []session.Action { return cur.Actions })
	if _, _, err := readLines(a.transcriptPath(id), 0, nil, func(l []byte) { evs = append(evs, rd.line(l)...) }); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.Logger.Error("read transcript", "id", id, "err", err)
	}
	if !running {
		evs = append(evs, rd.finish(rec, a.record(rec))...)
	}
	service := ""
	if rec.IncidentID != "" {
		svcs, err := a.Store.IncidentServices(r.Context(), []string{rec.IncidentID})
		if err != nil {
			a.Logger.Error("read the session's incident", "id", id, "incident", rec.IncidentID, "err", err)
		}
		service = svcs[rec.IncidentID]
	}
	a.render(w, http.StatusOK, "session", struct {
		page
		Rec      session.Record
		Kind     string
		Service  string
		Duration float64
		Tokens   int64
		Running  bool
		Events   []Event
		After    int
	}{page{"Session " + id, a.metricsPath()}, rec, kindOf(rec.Trigger), service, a.durationOf(rec), tokensOf(rec), running, evs, rd.seq})
}

// sessionEvents is GET /sessions/{id}/events: the readable events as
// server-sent events, each an HTML fragment of the page (event "row"; the
// outcome is event "end", the last). The event id is the event's number:
// a reconnecting browser's Last-Event-ID, or ?after=, skips those it has.
func (a *API) sessionEvents(w http.ResponseWriter, r *http.Request) {
	id, rec, done, ok := a.requested(w, r, 25*a.poll(), "session events")
	if !ok {
		return
	}
	after := 0
	for _, s := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")} {
		if n, err := strconv.Atoi(s); err == nil && n > after {
			after = n
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	var frag bytes.Buffer
	err := a.stream(r.Context(), id, rec, done, after, func(evs []Event) error {
		var b bytes.Buffer
		for _, e := range evs {
			frag.Reset()
			if err := pages.ExecuteTemplate(&frag, "event", e); err != nil {
				return err
			}
			name := "row"
			if e.Kind == "outcome" {
				name = "end"
			}
			fmt.Fprintf(&b, "id: %d\nevent: %s\n", e.Seq, name)
			for _, line := range strings.Split(strings.TrimRight(frag.String(), "\n"), "\n") {
				fmt.Fprintf(&b, "data: %s\n", line)
			}
			b.WriteString("\n")
		}
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	if err != nil && r.Context().Err() == nil {
		a.Logger.Error("session events", "id", id, "err", err)
	}
}

// runForm is POST /runs, the Run-now form: the same as POST /api/v1/runs
// (a run already going is named, not doubled), form-encoded, answered with
// a redirect to the session's page.
func (a *API) runForm(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" {
		fail(w, http.StatusUnsupportedMediaType, "the form posts application/x-www-form-urlencoded; scripts use POST /api/v1/runs")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "invalid form: %v", err)
		return
	}
	if t := r.PostForm.Get("tier"); t != "" && t != "1" {
		fail(w, http.StatusBadRequest, "only tier 1 runs can be started by hand; tiers 2 and 3 start from alerts")
		return
	}
	id, started := a.Trigger()
	a.Logger.Info("run asked for from the form", "session", id, "started", started)
	http.Redirect(w, r, SessionPath(id), http.StatusSeeOther)
}
