package main

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/claude-ops/claude-ops/actions"
	"github.com/claude-ops/claude-ops/api"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/store"
)

// errNoAPIKey is why no session runs without a key: /-/ready says it, the
// log at start and every session refused.
var errNoAPIKey = errors.New("no API key: set ANTHROPIC_API_KEY or --claude.api-key-file")

// sessionRunner runs sessions through the runner, or, without an API key,
// ends each at once as error (no_api_key) without starting the CLI: the
// scheduler and the remediator go on as usual and every attempt is counted
// and recorded. A session whose key the model API rejected is logged.
type sessionRunner struct {
	runner sessions.Runner
	noKey  bool
	logger *slog.Logger
}

func (r *sessionRunner) Run(ctx context.Context, req session.Request) session.Record {
	if r.noKey {
		now := time.Now()
		r.logger.Error("session not run: "+errNoAPIKey.Error(), "session", req.ID, "tier", int(req.Tier), "trigger", req.Trigger)
		return session.Record{
			ID: req.ID, Tier: req.Tier, Model: req.Model, Trigger: req.Trigger, IncidentID: req.IncidentID,
			Start: now, End: now, Outcome: session.OutcomeError, ErrorSubtype: "no_api_key", Reason: errNoAPIKey.Error(),
		}
	}
	rec := r.runner.Run(ctx, req)
	if rec.Outcome == session.OutcomeAuthFailed {
		r.logger.Error(runner.AuthFailedReason+": check ANTHROPIC_API_KEY or --claude.api-key-file",
			"session", rec.ID, "tier", int(rec.Tier), "reason", rec.Reason)
	}
	return rec
}

// proxyVars are the variables that send a session's HTTP through a proxy.
var proxyVars = []string{"HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"}

// loopback is what a session reaches without a proxy: the daemon's session
// endpoint (and, sandboxed, its bridge) listen there.
var loopback = []string{"127.0.0.1", "localhost", "::1"}

// passEnv is the part of the daemon's environment (lookup) that
// --session.pass-env copies into each session's: the variables that are
// set. A proxy URL with credentials in it is not passed (warned). When a
// proxy is passed, NO_PROXY and no_proxy gain the loopback addresses, so
// that the CLI still reaches the daemon's endpoint directly.
func passEnv(names []string, lookup func(string) (string, bool), logger *slog.Logger) map[string]string {
	env := map[string]string{}
	for _, n := range names {
		v, ok := lookup(n)
		if !ok {
			continue
		}
		if slices.Contains(proxyVars, n) && strings.Contains(v, "@") {
			logger.Warn("not passed to sessions: the proxy URL carries credentials", "var", n)
			continue
		}
		env[n] = v
	}
	if !slices.ContainsFunc(proxyVars, func(n string) bool { return env[n] != "" }) {
		return env
	}
	for _, n := range []string{"NO_PROXY", "no_proxy"} {
		list := splitList(env[n])
		for _, h := range loopback {
			if !slices.Contains(list, h) {
				list = append(list, h)
			}
		}
		env[n] = strings.Join(list, ",")
	}
	return env
}

// budget enforces --budget.daily-usd over all sessions of the UTC day.
type budget struct {
	// live is what running sessions have spent so far (the API proxy's
	// meter); nil until wired.
	live   func() float64
	limit  float64
	st     *store.Store
	logger *slog.Logger
	now    func() time.Time
}

func newBudget(limit float64, st *store.Store, reg prometheus.Registerer, logger *slog.Logger) *budget {
	b := &budget{limit: limit, st: st, logger: logger, now: time.Now}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "claudeops_budget_limit_usd", Help: "Daily spend limit in USD (0 = none).",
	}, func() float64 { return b.limit }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "claudeops_budget_spent_usd", Help: "Spent by sessions started this UTC day, in USD.",
	}, b.spent))
	return b
}

func (b *budget) spent() float64 {
	now := b.now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	s, err := b.st.SpentSince(context.Background(), day)
	if err != nil {
		b.logger.Error("read spend", "err", err)
	}
	if b.live != nil {
		s += b.live()
	}
	return s
}

// ForSession says what a new session may spend, and whether it may start:
// past the limit no Tier 2 or 3 session starts while Tier 1 goes on.
func (b *budget) ForSession(t session.Tier) (float64, bool) {
	if b.limit <= 0 {
		return 0, true
	}
	left := b.limit - b.spent()
	if left <= 0 {
		return 0, t == session.Tier1
	}
	return left, true
}

// Exhausted reports whether the day's budget is spent.
func (b *budget) Exhausted() bool { return b.limit > 0 && b.spent() >= b.limit }

// cooldownCollector exposes the ledger: actions within each window per
// service, and the limits.
type cooldownCollector struct {
	st      *store.Store
	limits  actions.Limits
	logger  *slog.Logger
	actions *prometheus.Desc
	limit   *prometheus.Desc
}

func newCooldownCollector(st *store.Store, l actions.Limits, logger *slog.Logger) *cooldownCollector {
	return &cooldownCollector{
		st: st, limits: l, logger: logger,
		actions: prometheus.NewDesc("claudeops_cooldown_actions", "Allowed actions per service within the action's cooldown window.", []string{"service", "action"}, nil),
		limit:   prometheus.NewDesc("claudeops_cooldown_limit", "Actions allowed per service within the cooldown window.", []string{"action"}, nil),
	}
}

func (c *cooldownCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.actions; ch <- c.limit }

func (c *cooldownCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(c.limits.MaxRestarts), "restart")
	ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(c.limits.MaxRedeploys), "redeploy")
	state, err := c.st.CooldownState(context.Background(), time.Now(), c.limits.Windows())
	if err != nil {
		c.logger.Error("read cooldown ledger", "err", err)
		return
	}
	for service, byAction := range state {
		for action, n := range byAction {
			ch <- prometheus.MustNewConstMetric(c.actions, prometheus.GaugeValue, float64(n), service, action)
		}
	}
}

// cooldownView is GET /api/v1/cooldowns: per service and action, the actions
// within the window, the limit and when the oldest one leaves the window.
func cooldownView(ctx context.Context, st *store.Store, l actions.Limits) (any, error) {
	now := time.Now()
	state, err := st.CooldownState(ctx, now, l.Windows())
	if err != nil {
		return nil, err
	}
	type entry struct {
		Used          int     `json:"used"`
		Limit         int     `json:"limit"`
		WindowSeconds float64 `json:"window_seconds"`
	}
	limit := map[string]int{"restart": l.MaxRestarts, "redeploy": l.MaxRedeploys}
	out := map[string]map[string]entry{}
	for service, byAction := range state {
		out[service] = map[string]entry{}
		for action, n := range byAction {
			out[service][action] = entry{Used: n, Limit: limit[action], WindowSeconds: l.Windows()[action].Seconds()}
		}
	}
	return map[string]any{"cooldowns": out}, nil
}

// statusView is GET /api/v1/status: version and effective configuration,
// secrets shown as <secret>, URLs' passwords redacted.
func statusView(o *options, haveKey, haveToken bool) any {
	return map[string]any{
		"version": map[string]string{"version": version.Version, "revision": version.GetRevision(), "go": runtime.Version()},
		"config":  api.ConfigMap(configRows(o, haveKey, haveToken)),
	}
}

// configRows are the effective flags from kingpin's model (api.ConfigRows),
// and whether the two secrets that are not flags are set.
func configRows(o *options, haveKey, haveToken bool) []api.ConfigRow {
	secret := func(set bool) string {
		if !set {
			return ""
		}
		return api.Secret
	}
	return append(api.ConfigRows(o.flags),
		api.ConfigRow{Flag: "anthropic.api-key", Value: secret(haveKey), Env: "ANTHROPIC_API_KEY", Help: "The Anthropic API key (or --claude.api-key-file)."},
		api.ConfigRow{Flag: "webhook.token", Value: secret(haveToken), Help: "The webhook's bearer token, read from --webhook.token-file."})
}

// actionView is GET /api/v1/actions: the ledger of the last day, newest
// first: action, canonical service, tier, the deciding stage and its reason.
func actionView(ctx context.Context, st *store.Store) (any, error) {
	rows, err := st.ActionsSince(ctx, time.Now().Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	type entry struct {
		Time     time.Time `json:"time"`
		Session  string    `json:"session_id,omitempty"`
		Incident string    `json:"incident_id,omitempty"`
		Service  string    `json:"service"`
		Target   string    `json:"target,omitempty"`
		Action   string    `json:"action"`
		Tier     int       `json:"tier"`
		Result   string    `json:"result"`
		Stage    string    `json:"stage,omitempty"`
		Outcome  string    `json:"outcome,omitempty"`
		Reason   string    `json:"reason,omitempty"`
		Command  string    `json:"command,omitempty"`
	}
	out := make([]entry, 0, len(rows))
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		out = append(out, entry{Time: r.Time, Session: r.SessionID, Incident: r.IncidentID, Service: r.Service, Target: r.Target,
			Action: r.Action, Tier: r.Tier, Result: r.Result, Stage: r.Stage, Outcome: r.Outcome, Reason: r.Reason, Command: r.Command})
	}
	return map[string]any{"actions": out}, nil
}
