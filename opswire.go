package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/claude-ops/claude-ops/actions"
	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/opsmcp"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/sessions"
)

// catalogOf builds the service catalog now: the repos' manifests and the
// containers the engine reports. An engine that cannot be reached leaves
// the declared services; the error is logged.
func catalogOf(inv *inventoryLoader, eng *engine.Engine, logger *slog.Logger) func(context.Context) (*services.Catalog, error) {
	return func(ctx context.Context) (*services.Catalog, error) {
		decls := services.FromInventory(inv.Load())
		var cs []services.Container
		if eng != nil {
			list, err := eng.Containers(ctx)
			if err != nil {
				logger.Error("list containers", "err", err)
			}
			for _, c := range list {
				cs = append(cs, services.Container{ID: c.ID, Name: c.Name, ComposeService: c.ComposeService, ComposeProject: c.ComposeProject})
			}
		}
		cat := services.Build(decls, cs)
		for _, c := range cat.Conflicts {
			logger.Debug("service name conflict", "conflict", c.String())
		}
		return cat, nil
	}
}

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
		logger.Warn("container engine not reachable; container actions fail until it is", "host", eng.Host(), "err", err)
		return eng
	}
	logger.Info("container engine", "host", eng.Host(), "engine", info.String())
	return eng
}

// opsTokenEnv carries a session's ops token to its CLI.
const opsTokenEnv = "CLAUDEOPS_OPS_TOKEN"

// opsEndpoint is where sessions reach the daemon's typed tools: a loopback
// listener serving the MCP server ops.
type opsEndpoint struct {
	server   *opsmcp.Server
	listener net.Listener
	http     *http.Server
}

func newOpsEndpoint(addr string, server *opsmcp.Server) (*opsEndpoint, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for sessions on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(opsmcp.Path, server.Handler())
	return &opsEndpoint{server: server, listener: l, http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// URL is the MCP server's address as the CLI reaches it.
func (e *opsEndpoint) URL() string { return "http://" + e.listener.Addr().String() + opsmcp.Path }

// Serve answers sessions until ctx is done.
func (e *opsEndpoint) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.http.Shutdown(sctx)
	}()
	if err := e.http.Serve(e.listener); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// Attach implements sessions.Attachment: the session's CLI gets the ops
// server with a token of its own, and allow rules for its tier's tools.
func (e *opsEndpoint) Attach(b sessions.Binding) (sessions.Attached, func()) {
	token, unregister := e.server.Register(actions.Session{
		ID: b.ID, IncidentID: b.IncidentID, Tier: b.Tier, Service: b.Service, DryRun: b.DryRun,
	})
	// The token travels in the environment, not in argv or a file: the
	// sandbox denies the variable to Bash while the CLI expands it.
	return sessions.Attached{
		Env:        map[string]string{opsTokenEnv: token},
		MCPServers: map[string]json.RawMessage{opsmcp.Name: opsmcp.MCPConfig(e.URL(), "${"+opsTokenEnv+"}")},
		Allow:      e.server.Tools(b.Tier),
	}, unregister
}
