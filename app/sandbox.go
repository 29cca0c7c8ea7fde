package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/gate"
	"github.com/claude-ops/claude-ops/runner"
)

// bridgeSocket is where the session endpoint listens for sandboxed sessions,
// under the state dir (which the sandbox hides; the socket alone is bound in).
func bridgeSocket(stateDir string) string { return filepath.Join(stateDir, "run", "session.sock") }

// newSandbox is the sandbox every session runs in, or nil with
// --sandbox.disable. Hidden besides the defaults: the state dir (the ledger,
// the sockets), the results dir (by the runner), the token and key files.
func newSandbox(o *Options) (*runner.Sandbox, error) {
	if o.sandboxDisable {
		return nil, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary for the hook: %w", err)
	}
	secrets := append(runner.DefaultSecretPaths(), o.stateDir)
	for _, f := range []string{o.tokenFile, o.apiKeyFile, o.mcpConfig, *o.web.WebConfigFile} {
		if f == "" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, abs)
	}
	secrets = append(secrets, o.sandboxSecrets...)
	sock := bridgeSocket(o.stateDir)
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return nil, err
	}
	return &runner.Sandbox{
		SecretPaths:    secrets,
		AllowedDomains: o.sandboxDomains,
		Bridge:         sock,
		Sockets:        []string{filepath.Join(o.stateDir, gate.SocketName)},
		Expose:         []string{self},
	}, nil
}

// sandboxState says whether sessions can be sandboxed: checked at start and
// again, at most every sandboxRecheck, when /-/ready asks, so that a host
// that gains bubblewrap becomes ready without a restart.
type sandboxState struct {
	sb     *runner.Sandbox
	logger *slog.Logger
	ready  prometheus.Gauge

	mu      sync.Mutex
	last    error
	checked time.Time
}

const sandboxRecheck = 10 * time.Second

func checkSandbox(ctx context.Context, sb *runner.Sandbox, reg prometheus.Registerer, logger *slog.Logger) *sandboxState {
	s := &sandboxState{sb: sb, logger: logger, ready: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "claudeops_sandbox_ready",
		Help: "1 when sessions can run sandboxed (or the sandbox is disabled), 0 when no session can run.",
	})}
	reg.MustRegister(s.ready)
	if sb == nil {
		logger.Warn("the sandbox is disabled (--sandbox.disable): sessions see the daemon's files, sockets and network")
		s.ready.Set(1)
		return s
	}
	_ = s.check(ctx) // logged and kept for /-/ready
	return s
}

func (s *sandboxState) check(ctx context.Context) error {
	err := s.sb.Check(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && (s.last == nil || s.checked.IsZero()) {
		s.logger.Error("sessions cannot be sandboxed: no session will run until this is fixed", "err", err)
	} else if err == nil && s.last != nil {
		s.logger.Info("sessions can be sandboxed again")
	}
	s.last, s.checked = err, time.Now()
	if err != nil {
		s.ready.Set(0)
	} else {
		s.ready.Set(1)
	}
	return err
}

// err is the reason no session can run, or nil.
func (s *sandboxState) err(ctx context.Context) error {
	if s.sb == nil {
		return nil
	}
	s.mu.Lock()
	last, fresh := s.last, time.Since(s.checked) < sandboxRecheck
	s.mu.Unlock()
	if fresh {
		return last
	}
	return s.check(ctx)
}
