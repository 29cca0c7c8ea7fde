package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	dto "github.com/prometheus/client_model/go"

	"github.com/claude-ops/claude-ops/session"
)

// metrics are the counted series of sessions (SessionMetrics); the series
// of every known tier and outcome exist from the start.
type metrics struct {
	sessions *prometheus.CounterVec
	duration *prometheus.HistogramVec
	running  *prometheus.GaugeVec
	cost     *prometheus.CounterVec
	tokens   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		sessions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "claudeops_sessions_total",
			Help: "Sessions ended, by tier, trigger and outcome.",
		}, []string{"tier", "trigger", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claudeops_session_duration_seconds",
			Help:    "Wall-clock duration of ended sessions.",
			Buckets: DurationBuckets,
		}, []string{"tier"}),
		running: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claudeops_sessions_running",
			Help: "Sessions running now.",
		}, []string{"tier"}),
		cost: f.NewCounterVec(prometheus.CounterOpts{
			Name: "claudeops_cost_usd_total",
			Help: "Cost in USD the CLI reported for ended sessions, by the session's model.",
		}, []string{"tier", "model"}),
		tokens: f.NewCounterVec(prometheus.CounterOpts{
			Name: "claudeops_tokens_total",
			Help: "Tokens used by ended sessions, by model and kind (input, output, cache_read, cache_write).",
		}, []string{"tier", "model", "kind"}),
	}
	for _, t := range []session.Tier{session.Tier1, session.Tier2, session.Tier3} {
		m.running.WithLabelValues(t.String())
		m.duration.WithLabelValues(t.String())
	}
	// The series a session can end in exist from the start at 0, so that
	// increase() and rate() see the first error or timeout.
	for _, o := range tier1Outcomes {
		for _, tr := range []session.Trigger{session.TriggerSchedule, session.TriggerManual} {
			m.sessions.WithLabelValues(session.Tier1.String(), string(tr), string(o))
		}
	}
	for _, t := range []session.Tier{session.Tier2, session.Tier3} {
		for _, o := range remediationOutcomes {
			m.sessions.WithLabelValues(t.String(), string(session.TriggerAlert), string(o))
		}
	}
	return m
}

// DurationBuckets are the buckets of claudeops_session_duration_seconds,
// from one second to 30 minutes.
var DurationBuckets = []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, 1200, 1800}

// Token kinds of claudeops_tokens_total (SPEC.md §7 calls cache creation
// "cache_write").
const (
	TokensInput      = "input"
	TokensOutput     = "output"
	TokensCacheRead  = "cache_read"
	TokensCacheWrite = "cache_write"
)

// The outcomes a session of each kind can end with.
var (
	tier1Outcomes = []session.Outcome{
		session.OutcomeHealthy, session.OutcomeIssuesFound, session.OutcomeError,
		session.OutcomeTimeout, session.OutcomeInterrupted, session.OutcomeBudgetExhausted,
		session.OutcomeAuthFailed,
	}
	remediationOutcomes = []session.Outcome{
		session.OutcomeRemediated, session.OutcomeNotFixed, session.OutcomeNeedsHuman,
		session.OutcomeResolved, session.OutcomeDryRun, session.OutcomeError,
		session.OutcomeTimeout, session.OutcomeInterrupted, session.OutcomeBudgetExhausted,
		session.OutcomeAuthFailed,
	}
)

// The families of the Tier1Collector, in Describe order.
var (
	defCheckSuccess = newGaugeDef("claudeops_check_success",
		"Whether the check passed (status ok): its probe's latest run when a probe plan runs, else the latest successful Tier 1 run's report: 1 or 0.",
		"service", "check", "type")
	defCheckDuration = newGaugeDef("claudeops_check_duration_seconds",
		"How long the check's probe took in its latest run, else the latency the latest successful Tier 1 run reported.",
		"service", "check", "type")
	defCheckStatus = newGaugeDef("claudeops_check_status",
		"State set of each check: 1 for its status (ok, degraded, failing, unknown), 0 for the others. Only failing pages.",
		"service", "check", "type", "status")
	defUnplanned = newGaugeDef("claudeops_checks_unplanned",
		"Checks of a service the probe plan does not cover: the model could not turn them into probes.",
		"service")
	defServices = newGaugeDef("claudeops_services_discovered",
		"Services in the latest successful Tier 1 result.")
	defLastRun = newGaugeDef("claudeops_tier1_last_run_timestamp_seconds",
		"Unix time of the latest Tier 1 run, successful or not; 0 if none.")
	defLastSuccess = newGaugeDef("claudeops_tier1_last_success_timestamp_seconds",
		"Unix time of the latest successful Tier 1 run; 0 if none.")
	defDropped = newGaugeDef("claudeops_check_series_dropped",
		"Checks of the latest Tier 1 result not exported because the result exceeded the collector's cap.")

	tier1Defs = []*gaugeDef{defCheckSuccess, defCheckDuration, defServices, defLastRun, defLastSuccess, defDropped}
	// probeDefs are the families only a probe plan fills.
	probeDefs = []*gaugeDef{defCheckStatus, defUnplanned}
)

// gaugeDef describes one gauge family the Tier1Collector builds itself: the
// Desc for the Collector path, name and help for the Gatherer path.
type gaugeDef struct {
	name, help string
	desc       *prometheus.Desc
}

func newGaugeDef(name, help string, labels ...string) *gaugeDef {
	return &gaugeDef{name: name, help: help, desc: prometheus.NewDesc(name, help, labels, nil)}
}

// family wraps samples in a metric family of this definition.
func (d *gaugeDef) family(ms []*dto.Metric) *dto.MetricFamily {
	return &dto.MetricFamily{Name: &d.name, Help: &d.help, Type: dto.MetricType_GAUGE.Enum(), Metric: ms}
}
