package repos

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// SourceConfig configures a Source.
type SourceConfig struct {
	Dir      string
	Baseline json.RawMessage // the baseline MCP configuration (--mcp.config-file)
	// Hash is the content hash of what Load reads (probes.ReposHash): the
	// repos are re-read when it changes. nil: re-read on every Fresh.
	Hash       func() (string, error)
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Source is the one place the repos are read. Run is an actor (one reload
// path, as cmd/prometheus has one): SIGHUP, POST /-/reload and every reader
// that needs the repos as they are now ask it; it re-reads them, sets
// claudeops_repo_errors and claudeops_repo_mcp_conflicts and publishes the
// inventory, which Inventory returns without reading anything.
type Source struct {
	cfg     SourceConfig
	cur     atomic.Pointer[Inventory]
	reqs    chan sourceReq
	running atomic.Bool   // Run is answering
	done    chan struct{} // closed when Run returns

	// Owned by the actor (and by NewSource before it runs).
	hash      string
	errors    *prometheus.GaugeVec
	conflicts *prometheus.GaugeVec
}

type sourceReq struct {
	force bool
	reply chan *Inventory
}

// NewSource reads the repos once, now.
func NewSource(cfg SourceConfig) *Source {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	f := promauto.With(cfg.Registerer)
	s := &Source{
		cfg: cfg, reqs: make(chan sourceReq), done: make(chan struct{}),
		errors: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claudeops_repo_errors", Help: "Files of a repo that could not be used at the last read (1 per repo with errors).",
		}, []string{"repo"}),
		conflicts: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claudeops_repo_mcp_conflicts", Help: "MCP servers a repo tries to redefine, ignored, at the last read.",
		}, []string{"repo"}),
	}
	s.load(true)
	return s
}

// Run answers reload requests until ctx is done.
func (s *Source) Run(ctx context.Context) error {
	defer close(s.done)
	s.running.Store(true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-s.reqs:
			r.reply <- s.load(r.force)
		}
	}
}

// Inventory is the inventory of the latest read.
func (s *Source) Inventory() *Inventory { return s.cur.Load() }

// Fresh is the inventory as the repos are now: re-read when they changed
// since the latest read. Before Run starts (NewSource has just read them),
// after it stopped, or when ctx is done first: the latest read.
func (s *Source) Fresh(ctx context.Context) *Inventory { return s.ask(ctx, false) }

// Reload re-reads the repos whether they changed or not.
func (s *Source) Reload(ctx context.Context) *Inventory { return s.ask(ctx, true) }

func (s *Source) ask(ctx context.Context, force bool) *Inventory {
	if !s.running.Load() {
		return s.cur.Load()
	}
	r := sourceReq{force: force, reply: make(chan *Inventory, 1)}
	select {
	case s.reqs <- r:
		return <-r.reply
	case <-s.done:
	case <-ctx.Done():
	}
	return s.cur.Load()
}

// load re-reads the repos when forced or when their hash changed.
func (s *Source) load(force bool) *Inventory {
	var h string
	if s.cfg.Hash != nil {
		var err error
		if h, err = s.cfg.Hash(); err == nil && !force && h == s.hash && s.cur.Load() != nil {
			return s.cur.Load()
		} else if err != nil {
			h = "" // unknown: read again next time
		}
	}
	inv, err := Load(s.cfg.Dir, s.cfg.Baseline)
	if err != nil {
		s.cfg.Logger.Error("read repos", "dir", s.cfg.Dir, "err", err)
	}
	s.errors.Reset()
	s.conflicts.Reset()
	for _, e := range inv.Errors {
		s.cfg.Logger.Error("repo file skipped", "repo", e.Repo, "file", e.File, "err", e.Err)
		s.errors.WithLabelValues(e.Repo).Set(1)
	}
	for _, c := range inv.Conflicts {
		s.cfg.Logger.Warn("repo may not replace an MCP server", "repo", c.Repo, "server", c.Server)
		s.conflicts.WithLabelValues(c.Repo).Inc()
	}
	s.hash = h
	s.cur.Store(inv)
	return inv
}

// maxRules bounds the repo rules handed to a remediation session.
const maxRules = 32 << 10

// RulesFor returns the rules of the repo named like the service, or of every
// repo when none is, bounded.
func (inv *Inventory) RulesFor(service string) string {
	if _, ok := inv.Repo(service); ok {
		return inv.RepoRules(service)
	}
	var b []byte
	for _, r := range inv.Repos {
		b = append(b, inv.RepoRules(r.Name)...)
		if len(b) > maxRules {
			return string(b[:maxRules])
		}
	}
	return string(b)
}
