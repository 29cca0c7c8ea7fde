package actions

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/store"
)

// CooldownReader is the part of the ledger the cooldown views read.
type CooldownReader interface {
	CooldownState(ctx context.Context, now time.Time, windows map[string]time.Duration) (map[string]map[string]int, error)
}

// LedgerReader is the part of the ledger GET /api/v1/actions reads.
type LedgerReader interface {
	ActionsSince(ctx context.Context, since time.Time) ([]store.ActionRecord, error)
}

// CooldownCollector exposes the ledger: actions within each window per
// service, and the limits.
type CooldownCollector struct {
	st      CooldownReader
	limits  Limits
	logger  *slog.Logger
	actions *prometheus.Desc
	limit   *prometheus.Desc
}

func NewCooldownCollector(st CooldownReader, l Limits, logger *slog.Logger) *CooldownCollector {
	return &CooldownCollector{
		st: st, limits: l, logger: logger,
		actions: prometheus.NewDesc("claudeops_cooldown_actions", "Allowed actions per service within the action's cooldown window.", []string{"service", "action"}, nil),
		limit:   prometheus.NewDesc("claudeops_cooldown_limit", "Actions allowed per service within the cooldown window.", []string{"action"}, nil),
	}
}

func (c *CooldownCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.actions; ch <- c.limit }

func (c *CooldownCollector) Collect(ch chan<- prometheus.Metric) {
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

// CooldownView is GET /api/v1/cooldowns: per service and action, the actions
// within the window, the limit and when the oldest one leaves the window.
func CooldownView(ctx context.Context, st CooldownReader, l Limits) (any, error) {
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

// LedgerView is GET /api/v1/actions: the ledger of the last day, newest
// first: action, canonical service, tier, the deciding stage and its reason.
func LedgerView(ctx context.Context, st LedgerReader) (any, error) {
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
