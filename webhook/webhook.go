package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrFull is returned by a Sink whose queue is full. The handler answers 503
// with a Retry-After header, so Alertmanager sends the notification again.
var ErrFull = errors.New("webhook: queue full")

// Sink receives the new alerts of a valid request. Enqueue must not block
// for long: it queues the alerts, or returns ErrFull at once when it cannot.
// The Sink owns the slice it is given. Any error means nothing was queued.
type Sink interface {
	Enqueue(ctx context.Context, alerts []Alert) error
}

// DefaultRetryAfter is the default Retry-After of a 503 answer.
const DefaultRetryAfter = 30 * time.Second

// Config configures a Handler.
type Config struct {
	// Token is the bearer token Alertmanager must send. TokenFunc, if set,
	// is called on every request instead, so a reload takes effect at once.
	// With neither (or an empty token) the handler answers 503, unless
	// NoAuth is set.
	Token     []byte
	TokenFunc func() []byte
	// NoAuth accepts requests without checking any token.
	NoAuth bool
	// ServiceLabels names the labels that name an alert's service, first
	// present wins; empty means DefaultServiceLabels.
	ServiceLabels []string
	// MaxBodyBytes is the largest body accepted; 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RetryAfter is sent with 503 answers; 0 means DefaultRetryAfter.
	RetryAfter time.Duration

	// Sink receives the new alerts. Required.
	Sink Sink
	// Deduper tells new alerts from repeated ones; nil means a
	// NewMemoryDeduper with default limits.
	Deduper Deduper
	// Registerer registers the handler's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger logs rejected requests; nil logs nothing.
	Logger *slog.Logger
}

// Handler serves POST /api/v1/webhook. Make one with NewHandler.
type Handler struct {
	token         func() []byte
	noAuth        bool
	serviceLabels []string
	maxBody       int64
	retryAfter    string
	sink          Sink
	dedup         Deduper
	logger        *slog.Logger
	m             *metrics
	hdr           headerValues
}

// headerValues are the answers' header values, shared by all answers and
// never changed: a Header.Set per request allocated a slice each.
type headerValues struct {
	textPlain, noSniff, wwwAuthenticate []string
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns a Handler. It panics if cfg.Sink is nil, or if its
// metrics cannot be registered.
func NewHandler(cfg Config) *Handler {
	if cfg.Sink == nil {
		panic("webhook: Config.Sink is nil")
	}
	h := &Handler{
		token:         cfg.TokenFunc,
		noAuth:        cfg.NoAuth,
		serviceLabels: cfg.ServiceLabels,
		maxBody:       cfg.MaxBodyBytes,
		sink:          cfg.Sink,
		dedup:         cfg.Deduper,
		logger:        cfg.Logger,
		m:             newMetrics(cfg.Registerer),
		hdr: headerValues{
			textPlain: []string{"text/plain; charset=utf-8"}, noSniff: []string{"nosniff"},
			wwwAuthenticate: []string{`Bearer realm="claudeops"`},
		},
	}
	if h.token == nil {
		t := bytes.Clone(cfg.Token)
		h.token = func() []byte { return t }
	}
	if len(h.serviceLabels) == 0 {
		h.serviceLabels = DefaultServiceLabels
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	ra := cfg.RetryAfter
	if ra <= 0 {
		ra = DefaultRetryAfter
	}
	h.retryAfter = strconv.Itoa(int((ra + time.Second - 1) / time.Second))
	if h.dedup == nil {
		h.dedup = NewMemoryDeduper(0, 0)
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	return h
}

// ServeHTTP implements http.Handler. Every answer is one line of plain
// text. An answer that may quote the request (every one but the bare
// "accepted ..." line) says so in its headers, with nosniff; the bare line,
// our words and digits only, leaves its Content-Type to net/http, which
// sniffs it as text/plain; charset=utf-8: a handler that touches the header
// map costs the map and net/http's clone of it, 0.75 KiB a request, an
// eighth of what a request allocated in a storm.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	a := h.serve(w, r)
	if a.quotes {
		hd := w.Header()
		hd["Content-Type"], hd["X-Content-Type-Options"] = h.hdr.textPlain, h.hdr.noSniff
	}
	w.WriteHeader(a.code)
	io.WriteString(w, a.msg) //nolint:errcheck // The client went away; nothing to do.
	io.WriteString(w, "\n")  //nolint:errcheck // Idem.
	h.m.request(a.code)
	h.m.duration.Observe(time.Since(start).Seconds())
}

// answer is the status code and the one line a request is answered with;
// quotes reports a line that may quote the request.
type answer struct {
	code   int
	msg    string
	quotes bool
}

// serve handles a request and returns its answer; it sets the other
// headers.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) answer {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.rejected(r, http.StatusMethodNotAllowed, "method "+clip(r.Method, 16)+" not allowed, use POST")
	}
	if code, reason := h.authorize(w, r); code != 0 {
		return h.rejected(r, code, reason)
	}
	if reason := checkContentType(r.Header.Get("Content-Type")); reason != "" {
		return h.rejected(r, http.StatusUnsupportedMediaType, reason)
	}
	body, code, reason := h.readBody(w, r)
	defer putBuffer(body)
	if code != 0 {
		return h.rejected(r, code, reason)
	}
	msg, alerts, rejected, err := Decode(body.Bytes(), h.serviceLabels)
	h.reportRejected(r, rejected)
	if err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			return h.rejected(r, re.Code, re.Reason)
		}
		return h.rejected(r, http.StatusBadRequest, oneLine(err.Error()))
	}
	for i := range alerts {
		h.m.receivedAlert(alerts[i].Status)
	}
	if msg.TruncatedAlerts > 0 {
		h.m.truncated.Add(float64(msg.TruncatedAlerts))
		h.logger.Warn("Alertmanager truncated a notification; raise max_alerts of the receiver",
			"group_key", msg.GroupKey, "truncated", msg.TruncatedAlerts)
	}
	a := h.dispatch(w, r, alerts)
	if a.code == http.StatusAccepted && len(rejected) > 0 {
		a.msg += fmt.Sprintf("; %d rejected, the first: %s", len(rejected), rejected[0].Detail)
		a.quotes = true
	}
	return a
}

// maxRejectedLogs bounds the log lines of the rejected alerts of one
// request; the rest are summed up in one more line.
const maxRejectedLogs = 10

// reportRejected counts and logs the alerts rejected alone.
func (h *Handler) reportRejected(r *http.Request, rejected []Rejected) {
	for i, x := range rejected {
		h.m.rejected.WithLabelValues(x.Reason).Inc()
		if i < maxRejectedLogs {
			h.logger.Warn("webhook alert rejected; the other alerts of its notification are processed",
				"reason", x.Reason, "detail", x.Detail, "index", x.Index, "alertname", x.Alertname,
				"fingerprint", x.Fingerprint, "remote", r.RemoteAddr)
		}
	}
	if n := len(rejected) - maxRejectedLogs; n > 0 {
		h.logger.Warn("more webhook alerts rejected in the same notification", "more", n, "remote", r.RemoteAddr)
	}
}

// dispatch queues the alerts that are neither ours nor duplicates.
func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request, alerts []Alert) answer {
	ctx := r.Context()
	fresh := alerts[:0] // filter in place: alerts is ours
	var marked []Key
	var own int
	for _, a := range alerts {
		if a.Ours {
			own++
			continue
		}
		key := a.Key()
		first, err := h.dedup.Seen(ctx, key)
		if err != nil {
			h.forget(ctx, marked)
			h.logger.Error("deduplication failed", "err", err)
			w.Header().Set("Retry-After", h.retryAfter)
			return h.rejected(r, http.StatusServiceUnavailable, "deduplication store unavailable, retry later")
		}
		if first {
			fresh = append(fresh, a)
			marked = append(marked, key)
		}
	}
	dups := len(alerts) - own - len(fresh)
	if len(fresh) > 0 {
		if err := h.sink.Enqueue(ctx, fresh); err != nil {
			h.forget(ctx, marked)
			w.Header().Set("Retry-After", h.retryAfter)
			if errors.Is(err, ErrFull) {
				return h.rejected(r, http.StatusServiceUnavailable, "remediation queue full, retry later")
			}
			h.logger.Error("enqueue failed", "err", err)
			return h.rejected(r, http.StatusServiceUnavailable, "cannot queue alerts, retry later")
		}
	}
	h.m.own.Add(float64(own))
	h.m.duplicate.Add(float64(dups))
	h.m.enqueued.Add(float64(len(fresh)))
	return answer{code: http.StatusAccepted, msg: acceptedAnswer(len(alerts), len(fresh), dups, own)}
}

// acceptedAnswer is "accepted N alerts: Q queued, D duplicate, O own"
// (fmt.Sprintf cost as much as the rest of the answer).
func acceptedAnswer(n, queued, dups, own int) string {
	b := make([]byte, 0, 64)
	b = append(b, "accepted "...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, " alerts: "...)
	b = strconv.AppendInt(b, int64(queued), 10)
	b = append(b, " queued, "...)
	b = strconv.AppendInt(b, int64(dups), 10)
	b = append(b, " duplicate, "...)
	b = strconv.AppendInt(b, int64(own), 10)
	b = append(b, " own"...)
	return string(b)
}

// forget drops the keys a failed request marked as seen, so that its retry
// is handled as new.
func (h *Handler) forget(ctx context.Context, keys []Key) {
	f, ok := h.dedup.(Forgetter)
	if !ok || len(keys) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, k := range keys {
		if err := f.Forget(ctx, k); err != nil {
			h.logger.Error("cannot forget alert key; its retry will be taken for a duplicate", "key", k.String(), "err", err)
		}
	}
}

func (h *Handler) rejected(r *http.Request, code int, reason string) answer {
	h.logger.Warn("webhook request rejected", "code", code, "reason", reason, "remote", r.RemoteAddr)
	return answer{code: code, msg: reason, quotes: true}
}

// authorize checks the bearer token; it returns 0 if the request may go on.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) (int, string) {
	if h.noAuth {
		return 0, ""
	}
	want := h.token()
	if len(want) == 0 {
		return http.StatusServiceUnavailable, "webhook disabled: no bearer token configured"
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return h.unauthorized(w), "missing bearer token"
	}
	scheme, got, _ := strings.Cut(strings.TrimSpace(auth), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return h.unauthorized(w), "authorization scheme must be Bearer"
	}
	got = strings.TrimSpace(got)
	if got == "" {
		return h.unauthorized(w), "missing bearer token"
	}
	// Compare digests, so the comparison takes the same time whatever the
	// lengths.
	g, x := sha256.Sum256([]byte(got)), sha256.Sum256(want)
	if subtle.ConstantTimeCompare(g[:], x[:]) != 1 {
		return h.unauthorized(w), "invalid bearer token"
	}
	return 0, ""
}

// unauthorized adds the challenge of a 401 answer and returns its code.
func (h *Handler) unauthorized(w http.ResponseWriter) int {
	w.Header()["Www-Authenticate"] = h.hdr.wwwAuthenticate
	return http.StatusUnauthorized
}

// checkContentType accepts application/json with no charset or utf-8.
func checkContentType(ct string) string {
	if ct == "application/json" {
		return "" // what Alertmanager sends, without parsing
	}
	if ct == "" {
		return "missing Content-Type, want application/json"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Sprintf("unsupported Content-Type %q, want application/json", clip(ct, 64))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Sprintf("unsupported charset %q, want utf-8", clip(cs, 32))
	}
	return ""
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBuffer(b *bytes.Buffer) {
	if b == nil || b.Cap() > 4*DefaultMaxBodyBytes {
		return // let a rare huge buffer go
	}
	b.Reset()
	buffers.Put(b)
}

// readBody reads the body into a pooled buffer, at most h.maxBody bytes.
// The buffer is returned even on error, for putBuffer.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (*bytes.Buffer, int, string) {
	tooLarge := func() string { return fmt.Sprintf("body larger than %d bytes", h.maxBody) }
	if r.ContentLength > h.maxBody {
		return nil, http.StatusRequestEntityTooLarge, tooLarge()
	}
	buf := buffers.Get().(*bytes.Buffer)
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return buf, http.StatusRequestEntityTooLarge, tooLarge()
		}
		return buf, http.StatusBadRequest, "cannot read body: " + oneLine(clip(err.Error(), 100))
	}
	return buf, 0, ""
}
