package sessions

import (
	"errors"
	"testing"

	"github.com/claude-ops/claude-ops/session"
)

type usageRec struct {
	n    int
	cost float64
}

func (u *usageRec) Usage(_ session.Tier, _ string, _ session.Tokens, c float64) { u.n++; u.cost += c }

func TestMeter(t *testing.T) {
	daily := false
	rec := &usageRec{}
	m := NewMeter(rec, func() bool { return daily })
	m.Begin("a", session.Tier2, 0.10)
	m.Begin("b", session.Tier1, 0)

	if err := m.Allow("a"); err != nil {
		t.Fatal(err)
	}
	m.Usage("a", "claude-sonnet-5-5", session.Tokens{Input: 100, Output: 10}, 0.06)
	m.Usage("a", "claude-sonnet-5-5", session.Tokens{Output: 5, CacheRead: 7}, 0.05)
	m.Usage("gone", "x", session.Tokens{Input: 1}, 1) // not metered: ignored
	if got := m.Live(); got < 0.109 || got > 0.111 {
		t.Errorf("Live = %v", got)
	}
	// Over its own cap, a session is refused; another is not.
	if err := m.Allow("a"); !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("Allow(a) over its cap = %v", err)
	}
	if err := m.Allow("b"); err != nil {
		t.Errorf("Allow(b) = %v", err)
	}
	// The day's budget stops tier 2 and 3, not tier 1.
	daily = true
	m.Begin("c", session.Tier3, 0)
	if err := m.Allow("c"); !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("Allow(c) with the day spent = %v", err)
	}
	if err := m.Allow("b"); err != nil {
		t.Errorf("tier 1 Allow with the day spent = %v", err)
	}
	if err := m.Allow("nobody"); err == nil {
		t.Error("an unknown session was allowed")
	}
	cost, tokens, refused := m.End("a")
	if !refused || cost < 0.109 || tokens["claude-sonnet-5-5"] != (session.Tokens{Input: 100, Output: 15, CacheRead: 7}) {
		t.Errorf("End(a) = %v %+v %v", cost, tokens, refused)
	}
	if _, _, refused := m.End("b"); refused {
		t.Error("b was refused")
	}
	if rec.n != 2 || rec.cost < 0.109 {
		t.Errorf("metrics saw %d increments, %v USD", rec.n, rec.cost)
	}
}
