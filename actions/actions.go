package actions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// Ledger persists decisions and enforces cooldowns atomically
// (store.Store implements it).
type Ledger interface {
	ChargeAction(ctx context.Context, rec store.ActionRecord, window time.Duration, limit int) (id int64, allowed bool, used int, err error)
	RecordAction(ctx context.Context, rec store.ActionRecord) error
	SetActionOutcome(ctx context.Context, id int64, outcome, stage, reason string) error
	CooldownState(ctx context.Context, now time.Time, windows map[string]time.Duration) (map[string]map[string]int, error)
	ServicesChangedSince(ctx context.Context, since time.Time) ([]string, error)
}

// Engine is the container engine driver (engine.Engine implements it).
type Engine interface {
	Inspect(ctx context.Context, idOrName string) (engine.Container, error)
	Restart(ctx context.Context, id string, timeout time.Duration) error
	Recreate(ctx context.Context, id string) (string, error)
	Logs(ctx context.Context, id string, tail int) (string, error)
}

// Commands runs the argv the repo owner declared and systemctl
// (runner.Commands implements it).
type Commands interface {
	Run(ctx context.Context, argv []string, timeout time.Duration) (runner.CommandResult, error)
}

// Config wires a Chain.
type Config struct {
	Limits Limits
	Ledger Ledger
	// Catalog returns the inventory now: the repos' manifests and the
	// containers the engine reports.
	Catalog func(ctx context.Context) (*services.Catalog, error)
	// Engine may be nil: no container engine (container actions fail).
	Engine   Engine
	Commands Commands
	// Budget reports whether the day's budget is spent; nil for none.
	Budget func() bool
	// PrometheusURL answers prometheus_query when set.
	PrometheusURL string
	// HTTP is the client of http_probe and prometheus_query.
	HTTP *http.Client
	// RestartTimeout is what the engine gives a container to stop.
	RestartTimeout time.Duration
	Registerer     prometheus.Registerer
	Logger         *slog.Logger
	Now            func() time.Time
}

// Chain decides and executes typed action calls. It is safe for concurrent use.
type Chain struct {
	cfg     Config
	metrics *metrics
	// mu makes read-decide-charge one step, so two sessions cannot both
	// take the last action a cooldown or the blast radius allows. Execution
	// runs outside it.
	mu sync.Mutex
}

// New returns a chain.
func New(cfg Config) (*Chain, error) {
	if cfg.Ledger == nil || cfg.Catalog == nil || cfg.Commands == nil {
		return nil, errors.New("actions: a ledger, a catalog and a command runner are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: probeTimeout, CheckRedirect: noRedirects}
	}
	if cfg.RestartTimeout <= 0 {
		cfg.RestartTimeout = 10 * time.Second
	}
	if cfg.Limits.BlastWindow <= 0 {
		cfg.Limits.BlastWindow = time.Hour
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Chain{cfg: cfg, metrics: newMetrics(reg)}, nil
}

// Result is what a call came to: the text the model reads and the decision.
type Result struct {
	Result  session.ActionResult
	Stage   session.Stage
	Service string
	// Text is the answer for the model: the probe's output, or what was done
	// and how it was verified, or the refusal's stage and reason.
	Text string
}

// Do decides one call and, when allowed, executes and verifies it.
func (c *Chain) Do(ctx context.Context, s Session, call Call) Result {
	start := c.cfg.Now()
	v, id, err := c.decide(ctx, s, call)
	var res Result
	switch {
	case err != nil:
		c.cfg.Logger.Error("action chain", "session", s.ID, "action", call.Kind, "err", err)
		v.Stage, v.Refused, v.Reason = session.StageTarget, true, "the daemon could not decide: "+err.Error()
		res = refusal(v)
	case v.Refused:
		res = refusal(v)
	case v.Proposed:
		res = Result{Result: session.ResultProposed, Stage: session.StageDryRun, Text: v.Reason}
	case !call.Kind.Changes():
		res = c.probe(ctx, call, v)
	default:
		res = c.execute(ctx, call, v)
		if err := c.cfg.Ledger.SetActionOutcome(context.WithoutCancel(ctx), id, string(res.Result), string(res.Stage), res.Text); err != nil {
			c.cfg.Logger.Error("action ledger", "id", id, "err", err)
		}
	}
	if v.Service != nil {
		res.Service = v.Service.Name
	}
	c.report(ctx, s, call, v, res, c.cfg.Now().Sub(start))
	return res
}

func refusal(v Verdict) Result {
	return Result{Result: session.ResultRefused, Stage: v.Stage, Text: fmt.Sprintf("refused at stage %s: %s", v.Stage, v.Reason)}
}

// decide runs the chain and, for a change, writes the decision to the ledger
// before anything runs; an allowed change is charged to its cooldown class
// in the same transaction that counts the class's window.
func (c *Chain) decide(ctx context.Context, s Session, call Call) (Verdict, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	cat, err := c.cfg.Catalog(ctx)
	if err != nil {
		return Verdict{}, 0, fmt.Errorf("read the inventory: %w", err)
	}
	f := Facts{Session: s, Call: call, Catalog: cat, Limits: c.cfg.Limits, PrometheusURL: c.cfg.PrometheusURL}
	if call.Kind.Changes() {
		if f.Used, err = c.cfg.Ledger.CooldownState(ctx, now, c.cfg.Limits.Windows()); err != nil {
			return Verdict{}, 0, err
		}
		if f.Changed, err = c.cfg.Ledger.ServicesChangedSince(ctx, now.Add(-c.cfg.Limits.BlastWindow)); err != nil {
			return Verdict{}, 0, err
		}
		f.BudgetExhausted = c.cfg.Budget != nil && c.cfg.Budget()
	}
	v := Decide(f)
	if v.Service == nil && v.Refused {
		// Refused before the target stage: the ledger and the metrics still
		// name the canonical service when there is one.
		v.Service, _ = cat.Resolve(call.Target)
	}
	if !call.Kind.Changes() {
		return v, 0, nil
	}
	rec := c.record(s, call, v, now)
	if v.Refused || v.Proposed {
		if err := c.cfg.Ledger.RecordAction(ctx, rec); err != nil {
			c.cfg.Logger.Error("action ledger", "err", err)
		}
		return v, 0, nil
	}
	window, limit, ok := c.cfg.Limits.cooldown(v.Class)
	if !ok { // no cooldown class: charged to nothing, but a change all the same
		window, limit = 0, 1
	}
	id, allowed, used, err := c.cfg.Ledger.ChargeAction(ctx, rec, window, limit)
	if err != nil {
		return Verdict{}, 0, err
	}
	if !allowed { // the ledger disagrees with the state read above: it wins
		v.Stage, v.Refused = session.StageCooldown, true
		v.Reason = fmt.Sprintf("cooldown: %d %s actions on %s in the last %s (limit %d)", used, v.Class, v.Service.Name, window, limit)
	}
	return v, id, nil
}

// record is the ledger row of a decided change. A change with a cooldown
// class is recorded under its class, so that a playbook charged to the
// restart class counts against restarts.
func (c *Chain) record(s Session, call Call, v Verdict, now time.Time) store.ActionRecord {
	svc := "unknown" // the target did not resolve: Target keeps what the model said
	if v.Service != nil {
		svc = v.Service.Name
	}
	action := string(call.Kind)
	if v.Class != "" && v.Class != classNone {
		action = v.Class
	}
	command := string(call.Kind) + " " + call.Target
	if call.Name != "" {
		command += " " + call.Name
	}
	return store.ActionRecord{
		Time: now, SessionID: s.ID, IncidentID: s.IncidentID, Service: svc, Action: action,
		Result: v.Result(), Command: truncate(command, 500), Reason: v.Reason, Tier: int(s.Tier),
		Stage: string(v.Stage), Target: truncate(call.Target, 200),
	}
}

// report counts the call, logs it and hands it to the session's record.
func (c *Chain) report(ctx context.Context, s Session, call Call, v Verdict, res Result, took time.Duration) {
	c.metrics.observe(s, call, v, res, took)
	level := slog.LevelInfo
	if res.Result == session.ResultFailed || res.Result == session.ResultUnverified {
		level = slog.LevelWarn
	}
	c.cfg.Logger.Log(ctx, level, "action", "session", s.ID, "tier", int(s.Tier), "action", call.Kind,
		"target", call.Target, "service", res.Service, "result", res.Result, "stage", res.Stage, "took", took)
	if s.Report != nil {
		s.Report(session.Action{
			Time: c.cfg.Now(), Service: res.Service, Action: string(call.Kind), Result: string(res.Result),
			Stage: string(res.Stage), Target: truncate(call.Target, 200), Tier: s.Tier, Reason: truncate(res.Text, 1000),
		})
	}
	if v.Refused && call.Kind.Changes() && v.Stage.Limited() && s.Refused != nil {
		s.Refused(v.Stage, v.Reason)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
