package collector

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/claude-ops/claude-ops/session"
)

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

// SessionMetrics counts sessions, their duration, cost and tokens. It is
// safe for concurrent use.
type SessionMetrics struct {
	sessions *prometheus.CounterVec
	duration *prometheus.HistogramVec
	running  *prometheus.GaugeVec
	cost     *prometheus.CounterVec
	tokens   *prometheus.CounterVec

	mu       sync.Mutex
	inFlight map[string]int // by tier label, never below 0
}

// NewSessionMetrics creates the session metrics and registers them with reg;
// it panics if they are already registered there.
func NewSessionMetrics(reg prometheus.Registerer) *SessionMetrics {
	f := promauto.With(reg)
	m := &SessionMetrics{
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
		inFlight: map[string]int{},
	}
	for _, t := range []session.Tier{session.Tier1, session.Tier2, session.Tier3} {
		m.running.WithLabelValues(t.String())
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

// Usage counts usage as the API proxy meters it, while the session runs;
// model is the API's model id.
func (m *SessionMetrics) Usage(t session.Tier, model string, tk session.Tokens, costUSD float64) {
	tier, model := tierLabel(t), SanitizeLabel(model)
	if costUSD > 0 {
		m.cost.WithLabelValues(tier, model).Add(costUSD)
	}
	for kind, n := range map[string]int64{TokensInput: tk.Input, TokensOutput: tk.Output, TokensCacheRead: tk.CacheRead, TokensCacheWrite: tk.CacheCreation} {
		if n > 0 {
			m.tokens.WithLabelValues(tier, model, kind).Add(float64(n))
		}
	}
}

// Started counts a session of tier t as running.
func (m *SessionMetrics) Started(t session.Tier) {
	tier := tierLabel(t)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inFlight[tier]++
	m.running.WithLabelValues(tier).Set(float64(m.inFlight[tier]))
}

// Finished records an ended session: it is no longer running (the gauge
// never goes below 0, so records that were never Started are safe), and its
// outcome, duration, cost and tokens are counted. Unknown tiers, triggers and
// outcomes are labelled "unknown"; model names go through SanitizeLabel.
func (m *SessionMetrics) Finished(r session.Record) {
	tier := tierLabel(r.Tier)
	m.mu.Lock()
	if m.inFlight[tier] > 0 {
		m.inFlight[tier]--
	}
	m.running.WithLabelValues(tier).Set(float64(m.inFlight[tier]))
	m.mu.Unlock()

	m.sessions.WithLabelValues(tier, triggerLabel(r.Trigger), outcomeLabel(r.Outcome)).Inc()
	d := r.Duration
	if d <= 0 && !r.Start.IsZero() && r.End.After(r.Start) {
		d = r.End.Sub(r.Start)
	}
	if d > 0 {
		m.duration.WithLabelValues(tier).Observe(d.Seconds())
	}
	if r.Metered { // counted live by Usage
		return
	}
	if r.CostUSD > 0 {
		m.cost.WithLabelValues(tier, SanitizeLabel(r.Model)).Add(r.CostUSD)
	}
	for model, tk := range r.Tokens {
		model = SanitizeLabel(model)
		for _, k := range []struct {
			kind string
			n    int64
		}{
			{TokensInput, tk.Input}, {TokensOutput, tk.Output},
			{TokensCacheRead, tk.CacheRead}, {TokensCacheWrite, tk.CacheCreation},
		} {
			if k.n > 0 {
				m.tokens.WithLabelValues(tier, model, k.kind).Add(float64(k.n))
			}
		}
	}
}
