package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/gate"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/store"
)

// actionGate is the daemon side of the PreToolUse hook: the gate's decisions
// and the unix socket the hook asks them on.
type actionGate struct {
	gate     *gate.Gate
	server   *gate.Server
	settings json.RawMessage
}

// newGate builds the gate and creates its socket, so that the hook of the
// very first session can reach it.
func newGate(o *Options, st *store.Store, reg prometheus.Registerer, logger *slog.Logger) (*actionGate, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary for the hook: %w", err)
	}
	g, err := gate.New(gate.Config{
		ReposDir: o.reposDir, Ledger: st, Registerer: reg,
		Logger: logger.With("component", "gate"),
	})
	if err != nil {
		return nil, err
	}
	socket, err := filepath.Abs(filepath.Join(o.stateDir, gate.SocketName))
	if err != nil {
		return nil, err
	}
	srv := gate.NewServer(g, socket)
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	return &actionGate{gate: g, server: srv, settings: gate.Settings([]string{self, "hook", "pre-tool-use"})}, nil
}

// Attach implements sessions.Attachment: the session's hook gets the
// socket, the session id and a token of its own.
func (a *actionGate) Attach(b sessions.Binding) (sessions.Attached, func()) {
	token, unregister := a.gate.Register(b)
	var settings map[string]any
	if err := json.Unmarshal(a.settings, &settings); err != nil {
		panic("gate settings: " + err.Error()) // gate.Settings marshals a map
	}
	return sessions.Attached{Env: gate.Env(a.server.Path(), b.ID, token), Settings: settings}, unregister
}

// Serve answers the hooks until ctx is done.
func (a *actionGate) Serve(ctx context.Context) error { return a.server.Serve(ctx) }
