// Package sessions starts Claude Code sessions for the scheduler and the
// remediator: it turns a small Spec into a full runner request (model, tool
// policy, MCP config, the action gate's hook, budget), tracks running sessions,
// persists every record and feeds the session metrics.
package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/claude-ops/claude-ops/policy"
	"github.com/claude-ops/claude-ops/session"
)

// Spec is what a caller asks for; the manager fills in the rest.
type Spec struct {
	ID         string // optional; generated when empty
	Tier       session.Tier
	Trigger    session.Trigger
	IncidentID string
	Service    string // the incident's service, for the gate's accounting
	System     string // appended system prompt
	Prompt     string
	// MCPConfig, when set, is used instead of Config.MCPConfig's.
	MCPConfig json.RawMessage
	// OnRefused, when set, receives each change of the session that a limit
	// refused (session.Binding.Refused).
	OnRefused func(stage session.Stage, reason string)
}

// Runner runs one session to its end.
type Runner interface {
	Run(ctx context.Context, req session.Request) session.Record
}

// Store persists session records.
type Store interface {
	SaveSession(ctx context.Context, rec session.Record) error
}

// Metrics observes sessions.
type Metrics interface {
	Started(t session.Tier)
	Finished(rec session.Record)
}

// Attachment is something a session is bound to for its lifetime: the
// action gate's hook, the ops MCP server, the Messages API proxy. Attach
// returns what the session's CLI needs and a function that ends the binding.
type Attachment interface {
	Attach(b Binding) (Attached, func())
}

// Binding is what an attachment knows of a session; its Report adds to the
// session's record (AddAction), its Refused is the Spec's OnRefused.
type Binding = session.Binding

// Attached is what an attachment adds to a session's request.
type Attached struct {
	Env map[string]string
	// Settings are merged key by key into the CLI's --settings.
	Settings map[string]any
	// MCPServers are added to the session's MCP configuration; they win
	// over a repo's server of the same name.
	MCPServers map[string]json.RawMessage
	// Allow are more --allowedTools rules.
	Allow []string
}

// Config is the manager's fixed configuration.
type Config struct {
	Models   map[session.Tier]string
	ReposDir string
	DryRun   bool
	// PrometheusURL, when set, is offered to every session for read-only
	// PromQL queries.
	PrometheusURL string
	// MCPConfig returns the merged MCP config for a new session (re-read each time).
	MCPConfig func() json.RawMessage
	// Budget returns what a new session may spend in USD (0 = no limit) and
	// whether a session of this tier may start at all.
	Budget func(t session.Tier) (maxUSD float64, ok bool)
	// Meter, when set, meters each session through the API proxy: its
	// record's cost and tokens are what the proxy counted.
	Meter  *Meter
	Logger *slog.Logger
}

// ErrBudget is the reason a Tier 2 or 3 session is not started when the daily
// budget is spent.
var ErrBudget = fmt.Errorf("daily budget spent")

// Manager starts and tracks sessions.
type Manager struct {
	cfg     Config
	runner  Runner
	store   Store
	metrics Metrics
	attach  []Attachment
	now     func() time.Time

	mu      sync.Mutex
	running map[string]*Running
}

// Running is a session in progress.
type Running struct {
	mu     sync.Mutex
	rec    session.Record
	done   chan struct{}
	cancel context.CancelCauseFunc
}

// New returns a manager; every session is bound to each attachment.
func New(cfg Config, r Runner, st Store, m Metrics, attach ...Attachment) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, runner: r, store: st, metrics: m, attach: attach, now: time.Now, running: map[string]*Running{}}
}

// Run runs a session to its end and returns its record. It returns ErrBudget,
// without starting anything, when the budget forbids a session of this tier;
// every other failure is an outcome in the record.
func (m *Manager) Run(ctx context.Context, spec Spec) (session.Record, error) {
	maxUSD := 0.0
	if m.cfg.Budget != nil {
		var ok bool
		if maxUSD, ok = m.cfg.Budget(spec.Tier); !ok {
			return session.Record{}, ErrBudget
		}
	}
	if spec.ID == "" {
		spec.ID = session.NewID(m.now())
	}
	rec := session.Record{
		ID: spec.ID, Tier: spec.Tier, Model: m.cfg.Models[spec.Tier], Trigger: spec.Trigger,
		IncidentID: spec.IncidentID, Service: spec.Service, Start: m.now(), Outcome: session.OutcomeRunning,
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	run := &Running{rec: rec, done: make(chan struct{}), cancel: cancel}
	m.mu.Lock()
	m.running[rec.ID] = run
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.running, rec.ID)
		m.mu.Unlock()
		close(run.done)
	}()

	m.metrics.Started(spec.Tier)
	// Persist the running record first: a crash leaves it to be found and
	// marked interrupted at the next start.
	if err := m.store.SaveSession(context.WithoutCancel(ctx), rec); err != nil {
		m.cfg.Logger.Error("save session", "id", rec.ID, "err", err)
	}

	system := spec.System
	if m.cfg.PrometheusURL != "" {
		system += "\n\nPrometheus answers read-only PromQL queries through mcp__ops__prometheus_query."
	}
	req := session.Request{
		ID: rec.ID, Tier: spec.Tier, Trigger: spec.Trigger, Model: rec.Model, IncidentID: spec.IncidentID,
		Prompt: spec.Prompt, SystemPrompt: system,
		Policy:       policy.ForTier(spec.Tier, m.cfg.ReposDir, m.cfg.DryRun),
		MaxBudgetUSD: maxUSD, Dir: m.cfg.ReposDir,
	}
	mcpConfig := spec.MCPConfig
	if mcpConfig == nil && m.cfg.MCPConfig != nil {
		mcpConfig = m.cfg.MCPConfig()
	}
	b := Binding{ID: rec.ID, IncidentID: spec.IncidentID, Service: spec.Service, Tier: spec.Tier, DryRun: m.cfg.DryRun,
		Report: func(a session.Action) { m.AddAction(rec.ID, a) }, Refused: spec.OnRefused}
	var all Attached
	for _, a := range m.attach {
		got, detach := a.Attach(b)
		defer detach()
		all.merge(got)
	}
	req.Env, req.Policy.Allow = all.Env, append(req.Policy.Allow, all.Allow...)
	var err error
	if req.MCPConfig, err = withServers(mcpConfig, all.MCPServers); err != nil {
		m.cfg.Logger.Error("merge MCP servers", "id", rec.ID, "err", err)
	}
	if len(all.Settings) > 0 {
		req.Settings, _ = json.Marshal(all.Settings)
	}
	if m.cfg.Meter != nil {
		m.cfg.Meter.Begin(rec.ID, spec.Tier, maxUSD)
	}
	out := m.runner.Run(ctx, req)
	out.Service = spec.Service
	if m.cfg.Meter != nil {
		var refused bool
		out.CostUSD, out.Tokens, refused = m.cfg.Meter.End(rec.ID)
		out.Metered = true
		if refused && (out.Outcome == session.OutcomeError || out.Outcome == session.OutcomeNotFixed) {
			out.Outcome, out.Reason = session.OutcomeBudgetExhausted, "the budget was spent; the API proxy refused the next request"
		}
	}

	if m.cfg.DryRun && spec.Tier > session.Tier1 && out.StructuredOutput != nil && out.Outcome != session.OutcomeError {
		out.Outcome = session.OutcomeDryRun
	}
	run.mu.Lock()
	out.Actions = append(out.Actions, run.rec.Actions...)
	run.rec = out
	run.mu.Unlock()
	if err := m.store.SaveSession(context.WithoutCancel(ctx), out); err != nil {
		m.cfg.Logger.Error("save session", "id", out.ID, "err", err)
	}
	m.metrics.Finished(out)
	return out, nil
}

// AddAction appends a gate decision to a running session's record.
func (m *Manager) AddAction(id string, a session.Action) {
	m.mu.Lock()
	run := m.running[id]
	m.mu.Unlock()
	if run == nil {
		return
	}
	run.mu.Lock()
	run.rec.Actions = append(run.rec.Actions, a)
	run.mu.Unlock()
}

// Get returns a running session's record and a channel closed when it ends.
func (m *Manager) Get(id string) (session.Record, <-chan struct{}, bool) {
	m.mu.Lock()
	run := m.running[id]
	m.mu.Unlock()
	if run == nil {
		return session.Record{}, nil, false
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	return run.rec, run.done, true
}

// Cancel stops a running session; its outcome becomes o.
func (m *Manager) Cancel(id string, o session.Outcome) bool {
	m.mu.Lock()
	run := m.running[id]
	m.mu.Unlock()
	if run == nil {
		return false
	}
	run.cancel(session.Cancelled(o))
	return true
}

// Running lists the ids of running sessions of a tier (0 = all).
func (m *Manager) Running(t session.Tier) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, r := range m.running {
		if t == 0 || r.rec.Tier == t {
			ids = append(ids, id)
		}
	}
	return ids
}

func (a *Attached) merge(b Attached) {
	if a.Env == nil {
		a.Env = map[string]string{}
	}
	if a.Settings == nil {
		a.Settings = map[string]any{}
	}
	if a.MCPServers == nil {
		a.MCPServers = map[string]json.RawMessage{}
	}
	maps.Copy(a.Env, b.Env)
	maps.Copy(a.Settings, b.Settings)
	maps.Copy(a.MCPServers, b.MCPServers)
	a.Allow = append(a.Allow, b.Allow...)
}

// withServers adds servers to an MCP configuration ({"mcpServers": {...}}),
// replacing any of the same name.
func withServers(config json.RawMessage, servers map[string]json.RawMessage) (json.RawMessage, error) {
	if len(servers) == 0 {
		return config, nil
	}
	var doc struct {
		Servers map[string]json.RawMessage `json:"mcpServers"`
	}
	if len(config) > 0 {
		if err := json.Unmarshal(config, &doc); err != nil {
			return config, fmt.Errorf("MCP configuration: %w", err)
		}
	}
	if doc.Servers == nil {
		doc.Servers = map[string]json.RawMessage{}
	}
	maps.Copy(doc.Servers, servers)
	return json.Marshal(doc)
}
