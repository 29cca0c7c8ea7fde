package sessions

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/session"
)

// Spender is the store's record of what ended sessions spent.
type Spender interface {
	SpentSince(ctx context.Context, since time.Time) (float64, error)
}

// Budget enforces --budget.daily-usd over all sessions of the UTC day.
type Budget struct {
	// live is what running sessions have spent so far (the API proxy's
	// meter); nil until wired.
	live   func() float64 // SetLive
	limit  float64
	st     Spender
	logger *slog.Logger
	now    func() time.Time
}

// NewBudget is the budget of limit USD a day (0 = none), with its gauges.
func NewBudget(limit float64, st Spender, reg prometheus.Registerer, logger *slog.Logger) *Budget {
	b := &Budget{limit: limit, st: st, logger: logger, now: time.Now}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "claudeops_budget_limit_usd", Help: "Daily spend limit in USD (0 = none).",
	}, func() float64 { return b.limit }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "claudeops_budget_spent_usd", Help: "Spent by sessions started this UTC day, in USD.",
	}, b.spent))
	return b
}

func (b *Budget) spent() float64 {
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
func (b *Budget) ForSession(t session.Tier) (float64, bool) {
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
func (b *Budget) Exhausted() bool { return b.limit > 0 && b.spent() >= b.limit }

// SetLive counts what running sessions have spent so far (Meter.Live).
// Call it before the first session.
func (b *Budget) SetLive(live func() float64) { b.live = live }
