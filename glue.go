package main

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/claude-ops/claude-ops/actions"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

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
		Used   int    `json:"used"`
		Limit  int    `json:"limit"`
		Window string `json:"window"`
	}
	limit := map[string]int{"restart": l.MaxRestarts, "redeploy": l.MaxRedeploys}
	out := map[string]map[string]entry{}
	for service, byAction := range state {
		out[service] = map[string]entry{}
		for action, n := range byAction {
			out[service][action] = entry{Used: n, Limit: limit[action], Window: l.Windows()[action].String()}
		}
	}
	return map[string]any{"cooldowns": out}, nil
}

// statusView is GET /api/v1/status: version and effective configuration,
// secrets shown as <secret>.
func statusView(o *options, haveKey, haveToken bool) any {
	secret := func(set bool) string {
		if !set {
			return ""
		}
		return "<secret>"
	}
	return map[string]any{
		"version": map[string]string{"version": version.Version, "revision": version.Revision, "go": runtime.Version()},
		"config": map[string]any{
			"web.listen-address": o.listen, "web.telemetry-path": o.telemetryPath,
			"claude.path": o.claudePath, "claude.base-url": o.baseURL, "claude.api-key-file": o.apiKeyFile,
			"anthropic.api-key": secret(haveKey), "webhook.token": secret(haveToken),
			"tier1.model": o.models[0], "tier2.model": o.models[1], "tier3.model": o.models[2],
			"schedule.interval": o.interval.String(), "dry-run": o.dryRun,
			"repos.dir": o.reposDir, "state.dir": o.stateDir, "results.dir": o.resultsDir,
			"alertmanager.url": o.amURL, "prometheus.url": o.promURL,
			"webhook.token-file": o.tokenFile, "webhook.no-auth": o.noAuth, "webhook.service-labels": o.serviceLabel,
			"cooldown.max-restarts": o.maxRestarts, "cooldown.restart-window": o.restartWindow.String(),
			"cooldown.max-redeploys": o.maxRedeploys, "cooldown.redeploy-window": o.redeployWindow.String(),
			"remediation.concurrency": o.concurrency, "remediation.verify-timeout": o.verifyTimeout.String(),
			"remediation.max-services-per-hour": o.maxServicesPerHour, "remediation.queue-size": o.queueSize,
			"session.timeout": o.sessionTimeout.String(), "session.grace": o.sessionGrace.String(),
			"budget.daily-usd": o.budgetUSD,
		},
	}
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
