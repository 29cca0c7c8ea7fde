package sessions

import (
	"errors"
	"fmt"
	"sync"

	"github.com/claude-ops/claude-ops/session"
)

// UsageMetrics counts metered usage as it arrives (collector.SessionMetrics).
type UsageMetrics interface {
	Usage(t session.Tier, model string, tokens session.Tokens, costUSD float64)
}

// Meter keeps what each running session has used, as the Messages API proxy
// reports it request by request, and says whether a session may make its
// next request. It implements apiproxy.Meter. Safe for concurrent use.
type Meter struct {
	metrics UsageMetrics
	// dailySpent reports whether the day's budget is spent (nil: no budget).
	dailySpent func() bool

	mu   sync.Mutex
	live map[string]*metered
}

type metered struct {
	tier    session.Tier
	capUSD  float64 // 0: none
	cost    float64
	tokens  map[string]session.Tokens
	refused error
}

// ErrBudgetExhausted is why the proxy refused a session's request.
var ErrBudgetExhausted = errors.New("budget exhausted")

// NewMeter returns a meter; dailySpent may be nil.
func NewMeter(m UsageMetrics, dailySpent func() bool) *Meter {
	return &Meter{metrics: m, dailySpent: dailySpent, live: map[string]*metered{}}
}

// Begin starts metering a session; capUSD > 0 bounds what it may spend.
func (m *Meter) Begin(id string, t session.Tier, capUSD float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live[id] = &metered{tier: t, capUSD: capUSD, tokens: map[string]session.Tokens{}}
}

// End stops metering a session and returns what it used, and whether the
// meter refused a request for the budget.
func (m *Meter) End(id string) (cost float64, tokens map[string]session.Tokens, budgetRefused bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.live[id]
	delete(m.live, id)
	if s == nil {
		return 0, nil, false
	}
	return s.cost, s.tokens, errors.Is(s.refused, ErrBudgetExhausted)
}

// Live is what the running sessions have spent so far.
func (m *Meter) Live() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum float64
	for _, s := range m.live {
		sum += s.cost
	}
	return sum
}

// Usage adds one increment of a session's usage and counts it.
func (m *Meter) Usage(id, model string, u session.Tokens, costUSD float64) {
	m.mu.Lock()
	s := m.live[id]
	if s == nil {
		m.mu.Unlock()
		return
	}
	s.cost += costUSD
	t := s.tokens[model]
	t.Input += u.Input
	t.Output += u.Output
	t.CacheRead += u.CacheRead
	t.CacheCreation += u.CacheCreation
	s.tokens[model] = t
	tier := s.tier
	m.mu.Unlock()
	m.metrics.Usage(tier, model, u, costUSD)
}

// Allow says whether a session may make its next request: not once its own
// cap or the day's budget is spent.
func (m *Meter) Allow(id string) error {
	daily := m.dailySpent != nil && m.dailySpent()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.live[id]
	switch {
	case s == nil:
		return errors.New("session not metered")
	case s.capUSD > 0 && s.cost >= s.capUSD:
		s.refused = fmt.Errorf("%w: the session spent %.4f of its %.4f USD", ErrBudgetExhausted, s.cost, s.capUSD)
	case daily && s.tier > session.Tier1:
		s.refused = fmt.Errorf("%w: the daily budget is spent", ErrBudgetExhausted)
	default:
		return nil
	}
	return s.refused
}
