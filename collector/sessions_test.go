package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/claude-ops/claude-ops/session"
)

func TestSessionMetricsInitial(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	NewSessionMetrics(reg)
	want := `
# HELP claudeops_sessions_running Sessions running now.
# TYPE claudeops_sessions_running gauge
claudeops_sessions_running{tier="1"} 0
claudeops_sessions_running{tier="2"} 0
claudeops_sessions_running{tier="3"} 0
# HELP claudeops_sessions_total Sessions ended, by tier, trigger and outcome.
# TYPE claudeops_sessions_total counter
claudeops_sessions_total{outcome="healthy",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="healthy",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="issues_found",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="issues_found",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="error",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="error",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="timeout",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="timeout",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="interrupted",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="interrupted",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="remediated",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="not_fixed",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="needs_human",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="resolved",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="budget_exhausted",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="budget_exhausted",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="budget_exhausted",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="budget_exhausted",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="auth_failed",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="auth_failed",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="auth_failed",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="auth_failed",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="dry_run",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="error",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="timeout",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="interrupted",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="remediated",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="not_fixed",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="needs_human",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="resolved",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="dry_run",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="error",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="timeout",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="interrupted",tier="3",trigger="alert"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "claudeops_sessions_running", "claudeops_sessions_total"); err != nil {
		t.Error(err)
	}
	// Each tier's duration histogram exists, empty.
	if n := testutil.CollectAndCount(reg, "claudeops_session_duration_seconds"); n != 3 {
		t.Errorf("%d duration series, want one per tier", n)
	}
}

func TestSessionMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewSessionMetrics(reg)
	m.Started(session.Tier1)
	m.Started(session.Tier2)
	m.Started(session.Tier2)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m.Finished(session.Record{
		ID: "a", Tier: session.Tier2, Model: "Claude-Sonnet-4-5", Trigger: session.TriggerAlert,
		Start: start, End: start.Add(90 * time.Second), Duration: 90 * time.Second,
		Outcome: session.OutcomeRemediated, CostUSD: 0.5,
		Tokens: map[string]session.Tokens{
			"Claude-Sonnet-4-5": {Input: 100, Output: 20, CacheRead: 3000, CacheCreation: 400},
			"claude-haiku-4-5":  {Input: 7, Output: 0},
		},
	})
	// No Duration: taken from End-Start. Free-text outcome and trigger: "unknown".
	m.Finished(session.Record{ID: "b", Tier: session.Tier1, Trigger: "cron job", Outcome: "weird",
		Start: start, End: start.Add(3 * time.Second), CostUSD: 0.01})
	// Never Started (e.g. marked interrupted at start-up): the gauge stays at 0.
	m.Finished(session.Record{ID: "c", Tier: session.Tier3, Trigger: session.TriggerManual,
		Outcome: session.OutcomeInterrupted})

	want := `
# HELP claudeops_sessions_running Sessions running now.
# TYPE claudeops_sessions_running gauge
claudeops_sessions_running{tier="1"} 0
claudeops_sessions_running{tier="2"} 1
claudeops_sessions_running{tier="3"} 0
# HELP claudeops_sessions_total Sessions ended, by tier, trigger and outcome.
# TYPE claudeops_sessions_total counter
claudeops_sessions_total{outcome="remediated",tier="2",trigger="alert"} 1
claudeops_sessions_total{outcome="unknown",tier="1",trigger="unknown"} 1
claudeops_sessions_total{outcome="interrupted",tier="3",trigger="manual"} 1
claudeops_sessions_total{outcome="healthy",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="healthy",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="issues_found",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="issues_found",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="error",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="error",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="timeout",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="timeout",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="interrupted",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="interrupted",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="not_fixed",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="needs_human",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="resolved",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="budget_exhausted",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="budget_exhausted",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="budget_exhausted",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="budget_exhausted",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="auth_failed",tier="1",trigger="manual"} 0
claudeops_sessions_total{outcome="auth_failed",tier="1",trigger="schedule"} 0
claudeops_sessions_total{outcome="auth_failed",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="auth_failed",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="dry_run",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="error",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="timeout",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="interrupted",tier="2",trigger="alert"} 0
claudeops_sessions_total{outcome="remediated",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="not_fixed",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="needs_human",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="resolved",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="dry_run",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="error",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="timeout",tier="3",trigger="alert"} 0
claudeops_sessions_total{outcome="interrupted",tier="3",trigger="alert"} 0
# HELP claudeops_cost_usd_total Cost in USD the CLI reported for ended sessions, by the session's model.
# TYPE claudeops_cost_usd_total counter
claudeops_cost_usd_total{model="claude-sonnet-4-5",tier="2"} 0.5
claudeops_cost_usd_total{model="unknown",tier="1"} 0.01
# HELP claudeops_tokens_total Tokens used by ended sessions, by model and kind (input, output, cache_read, cache_write).
# TYPE claudeops_tokens_total counter
claudeops_tokens_total{kind="input",model="claude-sonnet-4-5",tier="2"} 100
claudeops_tokens_total{kind="output",model="claude-sonnet-4-5",tier="2"} 20
claudeops_tokens_total{kind="cache_read",model="claude-sonnet-4-5",tier="2"} 3000
claudeops_tokens_total{kind="cache_write",model="claude-sonnet-4-5",tier="2"} 400
claudeops_tokens_total{kind="input",model="claude-haiku-4-5",tier="2"} 7
# HELP claudeops_session_duration_seconds Wall-clock duration of ended sessions.
# TYPE claudeops_session_duration_seconds histogram
claudeops_session_duration_seconds_bucket{tier="1",le="1"} 0
claudeops_session_duration_seconds_bucket{tier="1",le="2.5"} 0
claudeops_session_duration_seconds_bucket{tier="1",le="5"} 1
claudeops_session_duration_seconds_bucket{tier="1",le="10"} 1
claudeops_session_duration_seconds_bucket{tier="1",le="30"} 1
claudeops_session_duration_seconds_bucket{tier="1",le="60"} 1
claudeops_session_duration_seconds_bucket{tier="1",le="120"} 1
claudeops_session_duration_seconds_bucket{tier="1",le="300"} 1
claudeops_session_duration_seconds_bucket{tier="1",le="600"} 1
claudeops_session_duration_seconds_bucket{tier="1",le="900"} 1
claudeops_session_duration_seconds_bucket{tier="1",le="1200"} 1
claudeops_session_duration_seconds_bucket{tier="1",le="1800"} 1
claudeops_session_duration_seconds_bucket{tier="1",le="+Inf"} 1
claudeops_session_duration_seconds_sum{tier="1"} 3
claudeops_session_duration_seconds_count{tier="1"} 1
claudeops_session_duration_seconds_bucket{tier="2",le="1"} 0
claudeops_session_duration_seconds_bucket{tier="2",le="2.5"} 0
claudeops_session_duration_seconds_bucket{tier="2",le="5"} 0
claudeops_session_duration_seconds_bucket{tier="2",le="10"} 0
claudeops_session_duration_seconds_bucket{tier="2",le="30"} 0
claudeops_session_duration_seconds_bucket{tier="2",le="60"} 0
claudeops_session_duration_seconds_bucket{tier="2",le="120"} 1
claudeops_session_duration_seconds_bucket{tier="2",le="300"} 1
claudeops_session_duration_seconds_bucket{tier="2",le="600"} 1
claudeops_session_duration_seconds_bucket{tier="2",le="900"} 1
claudeops_session_duration_seconds_bucket{tier="2",le="1200"} 1
claudeops_session_duration_seconds_bucket{tier="2",le="1800"} 1
claudeops_session_duration_seconds_bucket{tier="2",le="+Inf"} 1
claudeops_session_duration_seconds_sum{tier="2"} 90
claudeops_session_duration_seconds_count{tier="2"} 1
claudeops_session_duration_seconds_bucket{tier="3",le="1"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="2.5"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="5"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="10"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="30"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="60"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="120"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="300"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="600"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="900"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="1200"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="1800"} 0
claudeops_session_duration_seconds_bucket{tier="3",le="+Inf"} 0
claudeops_session_duration_seconds_sum{tier="3"} 0
claudeops_session_duration_seconds_count{tier="3"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
