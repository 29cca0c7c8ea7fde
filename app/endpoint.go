package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/apiproxy"
	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/opsmcp"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/sessions"
)

// openEngine connects to the container engine and says which API it found.
// No engine is not fatal: container actions then fail with a reason.
func openEngine(ctx context.Context, host string, logger *slog.Logger) *engine.Engine {
	eng, err := engine.New(host)
	if err != nil {
		logger.Error("container engine: typed container actions will fail", "host", host, "err", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := eng.Ping(ctx)
	if err != nil {
		logger.Error("container engine not reachable: typed container actions (restart, redeploy) fail until it is",
			"host", eng.Host(), "err", err, "hint", engineHint(err))
		return eng
	}
	logger.Info("container engine", "host", eng.Host(), "engine", info.String())
	return eng
}

// engineHint says what to change when the engine cannot be reached, the
// compose setup first (docker-compose.yaml: DOCKER_SOCK, DOCKER_GID).
func engineHint(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "the daemon's user may not use the socket: add the socket's group (compose: DOCKER_GID=$(stat -c %g /var/run/docker.sock) in .env)"
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return "no engine listens there: mount the engine's socket (compose: DOCKER_SOCK, default /var/run/docker.sock) or set --engine.host / DOCKER_HOST"
	}
	return "check --engine.host / DOCKER_HOST and that the engine runs"
}

// opsTokenEnv carries a session's ops token to its CLI.
const opsTokenEnv = "CLAUDEOPS_OPS_TOKEN"

// newProxy is the Messages API proxy in front of --claude.base-url (or
// Anthropic's API) with the daemon's key.
func newProxy(o *Options, apiKey string, reg prometheus.Registerer, logger *slog.Logger) (*apiproxy.Proxy, error) {
	cfg := apiproxy.Config{APIKey: apiKey, Registerer: reg, Logger: logger, MaxRequestsPerSession: o.maxRequests}
	if o.baseURL != "" {
		u, err := url.Parse(o.baseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--claude.base-url %q: an http or https URL is needed", o.baseURL)
		}
		cfg.Upstream = u
	}
	return apiproxy.New(cfg)
}

// sessionEndpoint is where sessions reach the daemon: the MCP server ops
// (the typed tools) and the Messages API proxy, on a loopback listener for
// unsandboxed sessions and on a unix socket the sandbox bridges in.
type sessionEndpoint struct {
	ops       *opsmcp.Server
	proxy     *apiproxy.Proxy
	meter     *sessions.Meter
	listeners []net.Listener
	// base is the URL at which a session's CLI reaches the endpoint.
	base string
	http *http.Server
}

func newSessionEndpoint(addr string, sb *runner.Sandbox, ops *opsmcp.Server, proxy *apiproxy.Proxy, meter *sessions.Meter) (*sessionEndpoint, error) {
	mux := http.NewServeMux()
	mux.Handle(opsmcp.Path, ops.Handler())
	mux.Handle("/", proxy)
	e := &sessionEndpoint{ops: ops, proxy: proxy, meter: meter, http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for sessions on %s: %w", addr, err)
	}
	e.listeners, e.base = append(e.listeners, l), "http://"+l.Addr().String()
	if sb != nil {
		_ = os.Remove(sb.Bridge) // a socket left by a killed daemon; the state dir is ours
		u, err := net.Listen("unix", sb.Bridge)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("listen for sandboxed sessions: %w", err)
		}
		e.listeners, e.base = append(e.listeners, u), sb.BridgeURL()
	}
	return e, nil
}

// Serve answers sessions until ctx is done.
func (e *sessionEndpoint) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.http.Shutdown(sctx)
	}()
	errc := make(chan error, len(e.listeners))
	for _, l := range e.listeners {
		go func() { errc <- e.http.Serve(l) }()
	}
	var first error
	for range e.listeners {
		if err := <-errc; first == nil && !errors.Is(err, http.ErrServerClosed) {
			first = err
		}
	}
	return first
}

// Attach implements sessions.Attachment: the session's CLI gets the API
// proxy with a token of its own as its API key, and the ops server with
// another token and allow rules for its tier's tools. Both tokens travel in
// the environment, never in argv or a file: the sandbox denies the
// variables to Bash while the CLI uses them.
func (e *sessionEndpoint) Attach(b sessions.Binding) (sessions.Attached, func()) {
	opsToken, unregisterOps := e.ops.Register(b)
	apiToken, unregisterAPI := e.proxy.Register(apiproxy.Session{ID: b.ID, Tier: b.Tier, Service: b.Service, Meter: e.meter})
	return sessions.Attached{
			Env: map[string]string{
				opsTokenEnv: opsToken, "ANTHROPIC_API_KEY": apiToken, "ANTHROPIC_BASE_URL": e.base,
			},
			MCPServers: map[string]json.RawMessage{opsmcp.Name: opsmcp.MCPConfig(e.base+opsmcp.Path, "${"+opsTokenEnv+"}")},
			Allow:      e.ops.Tools(b.Tier),
		}, func() {
			unregisterOps()
			unregisterAPI()
		}
}
