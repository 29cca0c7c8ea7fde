// Package apiproxy is the Messages API proxy inside the daemon. Each session's
// CLI gets ANTHROPIC_BASE_URL pointing here and a per-session token as its
// ANTHROPIC_API_KEY; the proxy swaps the token for the real credentials, so
// the real key never enters a session. On the way back it streams the answer
// to the CLI unchanged while it meters the usage event by event (a session
// killed mid-stream is still charged for what it was served), and before each
// request it asks the session's Meter whether the budget allows it.
//
// Routes: POST /v1/messages and POST /v1/messages/count_tokens (query string
// kept, e.g. ?beta=true) go upstream; HEAD /api/hello is answered 200 here;
// anything else is 404. Mount the proxy at the root of a listener (or strip
// the prefix of its mount point): the CLI appends /v1/messages to its base URL.
//
// Local answers are Anthropic-shaped JSON errors ({"type":"error","error":
// {"type":…,"message":…},"request_id":…}) with `x-should-retry: false`:
//
//   - 401 authentication_error: no, unknown or revoked token.
//   - 402 billing_error: a budget (Meter.Allow) or runaway
//     (MaxRequestsPerSession) refusal.
//   - 404 not_found_error, 413 request_too_large (body over MaxRequestBytes).
//   - 502 api_error, without x-should-retry, when upstream cannot be reached:
//     the CLI retries it, as it would a 5xx of the API.
//
// Measured with Claude Code 2.1.330 in -p mode: it ends the run at once on a
// 402 (one request, no retry; result subtype "success", is_error true,
// terminal_reason "api_error", api_error_status 402, result "API Error: 402
// <message>", exit status 1; under a second). It retries 429 and 5xx with
// backoff for minutes, re-sends a 400 about six times, shows a 403 as "Failed
// to authenticate", and retries a 401 with backoff unless the answer says
// `x-should-retry: false` (then it stops at once: "Invalid API key").
package apiproxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/session"
)

const (
	// DefaultUpstream is the Anthropic API.
	DefaultUpstream = "https://api.anthropic.com"
	// DefaultMaxRequestBytes bounds a request body.
	DefaultMaxRequestBytes = 32 << 20
)

// Config configures a Proxy. Only APIKey (or UpstreamHeader) is needed in
// practice; everything else has a default.
type Config struct {
	// Upstream is the API base URL: DefaultUpstream when nil. It may be a
	// gateway (LiteLLM, ...) with a path prefix: the request path is appended.
	Upstream *url.URL
	// APIKey is the real key, sent upstream as x-api-key; empty sends none.
	APIKey string
	// UpstreamHeader is added to every upstream request after APIKey, e.g.
	// "Authorization: Bearer …" for a gateway. It replaces headers of the
	// same name.
	UpstreamHeader http.Header
	// Prices price the usage reported to Meters: DefaultPrices when nil.
	Prices Prices
	// Client sends the upstream requests: a client of its own when nil.
	// Redirects are passed on to the CLI, not followed, unless the client
	// has a CheckRedirect. A Client.Timeout cuts long streams short.
	Client *http.Client
	// Logger defaults to a discarding logger.
	Logger *slog.Logger
	// Registerer registers the proxy's metrics; nil registers them nowhere.
	Registerer prometheus.Registerer
	// Now defaults to time.Now.
	Now func() time.Time
	// MaxRequestsPerSession refuses a session's requests beyond this many
	// (the runaway guard); 0 means no limit.
	MaxRequestsPerSession int
	// MaxRequestBytes bounds a request body: DefaultMaxRequestBytes when 0.
	MaxRequestBytes int64
}

// Session is what the proxy knows of a session it admits.
type Session struct {
	ID      string
	Tier    session.Tier
	Service string
	// Meter is told the session's usage and asked before each request; nil
	// meters nothing and allows everything.
	Meter Meter
}

// Proxy is the Messages API proxy, an http.Handler. It is safe for
// concurrent use.
type Proxy struct {
	upstream    *url.URL
	apiKey      string
	header      http.Header
	prices      Prices
	client      *http.Client
	log         *slog.Logger
	now         func() time.Time
	maxRequests int64
	maxBody     int64
	metrics     *metrics

	mu       sync.RWMutex
	sessions map[[sha256.Size]byte]*entry // by the SHA-256 of the token
}

// entry is one registered session.
type entry struct {
	sess     Session
	token    []byte
	requests atomic.Int64
	revoked  atomic.Bool
}

// New returns a proxy for cfg. Its metrics are registered with
// cfg.Registerer, which fails (panics) if they already are.
func New(cfg Config) (*Proxy, error) {
	up := cfg.Upstream
	if up == nil {
		up, _ = url.Parse(DefaultUpstream)
	}
	if (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
		return nil, fmt.Errorf("apiproxy: upstream %q is not an http(s) URL", up.Redacted())
	}
	if up.User != nil {
		return nil, errors.New("apiproxy: upstream URL must not carry credentials; use APIKey or UpstreamHeader")
	}
	if cfg.MaxRequestsPerSession < 0 || cfg.MaxRequestBytes < 0 {
		return nil, errors.New("apiproxy: negative limit")
	}
	up = &url.URL{Scheme: up.Scheme, Host: up.Host, Path: strings.TrimSuffix(up.Path, "/"), RawQuery: up.RawQuery}
	p := &Proxy{
		upstream:    up,
		apiKey:      cfg.APIKey,
		header:      cfg.UpstreamHeader.Clone(),
		prices:      cfg.Prices,
		log:         cfg.Logger,
		now:         cfg.Now,
		maxRequests: int64(cfg.MaxRequestsPerSession),
		maxBody:     cfg.MaxRequestBytes,
		metrics:     newMetrics(cfg.Registerer),
		sessions:    map[[sha256.Size]byte]*entry{},
	}
	if p.prices == nil {
		p.prices = DefaultPrices()
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.maxBody == 0 {
		p.maxBody = DefaultMaxRequestBytes
	}
	client := http.Client{}
	if cfg.Client != nil {
		client = *cfg.Client
	}
	if client.CheckRedirect == nil {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	p.client = &client
	return p, nil
}

// Register admits a session: the CLI is to send token as its API key
// (ANTHROPIC_API_KEY, or a bearer token). unregister revokes the token at
// once (requests in flight run to their end and are still metered); it may
// be called more than once.
func (p *Proxy) Register(s Session) (token string, unregister func()) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	token = hex.EncodeToString(b[:])
	key := sha256.Sum256([]byte(token))
	e := &entry{sess: s, token: []byte(token)}
	p.mu.Lock()
	p.sessions[key] = e
	p.mu.Unlock()
	var once sync.Once
	return token, func() {
		once.Do(func() {
			e.revoked.Store(true)
			p.mu.Lock()
			if p.sessions[key] == e {
				delete(p.sessions, key)
			}
			p.mu.Unlock()
		})
	}
}

// authenticate finds the session of the request's x-api-key, else of its
// bearer token. The map is keyed by the token's hash, so a lookup's timing
// says nothing about the token; the token itself is then compared in
// constant time.
func (p *Proxy) authenticate(r *http.Request) *entry {
	creds := []string{r.Header.Get("X-Api-Key")}
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		creds = append(creds, strings.TrimSpace(tok))
	}
	for _, c := range creds {
		if c == "" {
			continue
		}
		key := sha256.Sum256([]byte(c))
		p.mu.RLock()
		e := p.sessions[key]
		p.mu.RUnlock()
		if e != nil && subtle.ConstantTimeCompare(e.token, []byte(c)) == 1 && !e.revoked.Load() {
			return e
		}
	}
	return nil
}

// ServeHTTP proxies one request of a session's CLI.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.now()
	switch {
	case r.Method == http.MethodHead && r.URL.Path == "/api/hello":
		// The CLI's reachability probe; no token needed, nothing upstream.
		w.WriteHeader(http.StatusOK)
		p.metrics.requests.WithLabelValues("200").Inc()
		return
	case r.Method == http.MethodPost && (r.URL.Path == "/v1/messages" || r.URL.Path == "/v1/messages/count_tokens"):
	default:
		p.writeError(w, http.StatusNotFound, "not_found_error", "claude-ops proxy: no route for "+r.Method+" "+r.URL.Path)
		return
	}
	ent := p.authenticate(r)
	if ent == nil {
		p.refuse(w, nil, http.StatusUnauthorized, ReasonAuth, "authentication_error",
			"claude-ops proxy: invalid x-api-key (unknown or expired session token)")
		return
	}
	if n := ent.requests.Add(1); p.maxRequests > 0 && n > p.maxRequests {
		p.refuse(w, ent, http.StatusPaymentRequired, ReasonRunaway, "billing_error",
			fmt.Sprintf("claude-ops: request refused: session made more than %d API requests (runaway guard)", p.maxRequests))
		return
	}
	if m := ent.sess.Meter; m != nil {
		if err := m.Allow(ent.sess.ID); err != nil {
			p.refuse(w, ent, http.StatusPaymentRequired, ReasonBudget, "billing_error",
				"claude-ops: request refused: session budget exhausted: "+err.Error())
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			p.writeError(w, http.StatusRequestEntityTooLarge, "request_too_large",
				fmt.Sprintf("claude-ops proxy: request body over %d bytes", p.maxBody))
			return
		}
		p.writeError(w, http.StatusBadRequest, "invalid_request_error", "claude-ops proxy: reading request body: "+err.Error())
		return
	}
	p.forward(w, r, ent, body, start)
}

// forward sends the request upstream and streams the answer back, flushing
// each chunk as it arrives and metering it on the way.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, ent *entry, body []byte, start time.Time) {
	ctx := r.Context()
	out, err := http.NewRequestWithContext(ctx, http.MethodPost, p.target(r.URL), bytes.NewReader(body))
	if err != nil {
		p.writeError(w, http.StatusBadRequest, "invalid_request_error", "claude-ops proxy: "+err.Error())
		return
	}
	copyRequestHeader(out.Header, r.Header)
	if p.apiKey != "" {
		out.Header.Set("X-Api-Key", p.apiKey)
	}
	for k, vs := range p.header {
		out.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	reqModel := ""
	if ent.sess.Meter != nil {
		reqModel = requestModel(body)
	}
	log := p.log.With("session", ent.sess.ID, "path", r.URL.Path)

	resp, err := p.client.Do(out)
	if err != nil {
		if ctx.Err() != nil {
			// The CLI went away before the answer began (nginx's 499).
			p.metrics.requests.WithLabelValues("499").Inc()
			log.Debug("apiproxy: client gone before the answer", "err", err)
			return
		}
		log.Warn("apiproxy: upstream unreachable", "err", err)
		p.writeErrorRetry(w, http.StatusBadGateway, "api_error", "claude-ops proxy: upstream unreachable", true)
		return
	}
	defer resp.Body.Close()

	sink := p.newSink(ent, reqModel, resp)
	copyResponseHeader(w.Header(), resp.Header)
	if resp.StatusCode == http.StatusUnauthorized {
		// The CLI retries a 401 for minutes unless told not to, and no
		// retry helps a key the model API rejected.
		w.Header().Set("X-Should-Retry", "false")
	}
	w.WriteHeader(resp.StatusCode)
	p.metrics.requests.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
	rc := http.NewResponseController(w)
	flush := func() error {
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	werr := flush()

	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	buf := *bufp
	first, n64 := true, int64(0)
	var rerr error
	for werr == nil {
		var n int
		n, rerr = resp.Body.Read(buf)
		if n > 0 {
			if first {
				first = false
				p.metrics.firstByte.Observe(p.now().Sub(start).Seconds())
			}
			n64 += int64(n)
			// Meter first: what was read from upstream is billed, whether
			// or not the CLI is still there to get it.
			sink.Write(buf[:n])
			if _, werr = w.Write(buf[:n]); werr == nil {
				werr = flush()
			}
		}
		if rerr != nil {
			break
		}
	}
	sink.Close()
	d := p.now().Sub(start)
	p.metrics.duration.Observe(d.Seconds())
	switch {
	case werr != nil:
		log.Debug("apiproxy: client gone mid-answer", "status", resp.StatusCode, "bytes", n64, "err", werr)
	case rerr != nil && rerr != io.EOF && ctx.Err() == nil:
		log.Warn("apiproxy: upstream answer cut", "status", resp.StatusCode, "bytes", n64, "err", rerr)
	default:
		log.Debug("apiproxy: proxied", "status", resp.StatusCode, "bytes", n64, "duration", d)
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// target is the upstream URL of the request: upstream's path prefix, then
// the request's path and query string.
func (p *Proxy) target(in *url.URL) string {
	u := *p.upstream
	u.Path += in.Path
	switch {
	case u.RawQuery == "":
		u.RawQuery = in.RawQuery
	case in.RawQuery != "":
		u.RawQuery += "&" + in.RawQuery
	}
	return u.String()
}

// requestModel is the body's top-level "model"; it stops reading there (the
// CLI sends it first).
func requestModel(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		if t == "model" {
			var m string
			_ = dec.Decode(&m)
			return m
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return ""
		}
	}
	return ""
}
