package apiproxy

import (
	"math"
	"testing"

	"github.com/claude-ops/claude-ops/session"
)

func TestPricesLookup(t *testing.T) {
	def := DefaultPrices()
	custom := Prices{
		"sonnet":     {InputPerMTok: 3},
		"sonnet-4-5": {InputPerMTok: 4},
		"opus":       {InputPerMTok: 5, OutputPerMTok: 25},
		"opus-4-1":   {InputPerMTok: 15, OutputPerMTok: 75, CacheReadPerMTok: 1.5},
	}
	for _, tc := range []struct {
		prices Prices
		model  string
		want   Price
		found  bool
	}{
		{def, "claude-haiku-5-5", def["haiku"], true},
		{def, "claude-haiku-4-5-20251001", def["haiku"], true},
		{def, "claude-sonnet-5-5", def["sonnet"], true},
		{def, "claude-opus-5-0", def["opus"], true},
		{def, "Claude-OPUS-5", def["opus"], true},
		{def, "anthropic/claude-sonnet-4-5", def["sonnet"], true}, // a gateway's name
		{def, "gpt-9", def["opus"], false},                        // fallback: the dearest
		{def, "", def["opus"], false},
		{custom, "claude-sonnet-4-5-20250929", custom["sonnet-4-5"], true}, // longest key wins
		{custom, "claude-sonnet-4-0", custom["sonnet"], true},
		{custom, "claude-opus-4-1-20250805", custom["opus-4-1"], true},
		{custom, "mystery", Price{InputPerMTok: 15, OutputPerMTok: 75, CacheReadPerMTok: 1.5}, false},
		{Prices{}, "claude-haiku-5-5", def["opus"], false}, // empty table: default fallback
	} {
		got, found := tc.prices.Lookup(tc.model)
		if got != tc.want || found != tc.found {
			t.Errorf("Lookup(%q) = %+v %v, want %+v %v", tc.model, got, found, tc.want, tc.found)
		}
	}
}

func TestPricesDefaults(t *testing.T) {
	def := DefaultPrices()
	for fam, want := range map[string][4]float64{
		"haiku": {1, 5, 1.25, 0.1}, "sonnet": {3, 15, 3.75, 0.3}, "opus": {5, 25, 6.25, 0.5},
	} {
		p := def[fam]
		if [4]float64{p.InputPerMTok, p.OutputPerMTok, p.CacheWritePerMTok, p.CacheReadPerMTok} != want {
			t.Errorf("%s: %+v", fam, p)
		}
	}
	if f := def.Fallback(); f != def["opus"] {
		t.Errorf("fallback %+v", f)
	}
}

func TestPriceCost(t *testing.T) {
	for _, tc := range []struct {
		p    Price
		u    session.Tokens
		want float64
	}{
		{DefaultPrices()["haiku"], session.Tokens{Input: 1_000_000}, 1},
		{DefaultPrices()["haiku"], session.Tokens{Input: 200, Output: 40}, 0.0004},
		{DefaultPrices()["sonnet"], session.Tokens{Input: 1200, Output: 57, CacheRead: 4000, CacheCreation: 300},
			(1200*3 + 57*15 + 4000*0.3 + 300*3.75) / 1e6},
		{DefaultPrices()["opus"], session.Tokens{Output: 2_000_000, CacheCreation: 1_000_000, CacheRead: 1_000_000}, 50 + 6.25 + 0.5},
		{Price{}, session.Tokens{Input: 5}, 0},
	} {
		if got := tc.p.Cost(tc.u); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%+v.Cost(%+v) = %v, want %v", tc.p, tc.u, got, tc.want)
		}
	}
}
