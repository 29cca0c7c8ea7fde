package collector

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/session"
)

// SessionMetrics counts sessions, their duration, cost and tokens. It is
// safe for concurrent use.
type SessionMetrics struct {
	*metrics

	mu       sync.Mutex
	inFlight map[string]int // by tier label, never below 0
}

// NewSessionMetrics creates the session metrics and registers them with reg;
// it panics if they are already registered there.
func NewSessionMetrics(reg prometheus.Registerer) *SessionMetrics {
	return &SessionMetrics{metrics: newMetrics(reg), inFlight: map[string]int{}}
}

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
		// The same model label as the tokens' (the API's model id) when
		// the session used one model; else the session's.
		model := r.Model
		if len(r.Tokens) == 1 {
			for id := range r.Tokens {
				model = id
			}
		}
		m.cost.WithLabelValues(tier, SanitizeLabel(model)).Add(r.CostUSD)
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
