package apiproxy

import (
	"strings"

	"github.com/claude-ops/claude-ops/session"
)

// Price is what a model costs, in USD per million tokens of each kind.
type Price struct {
	InputPerMTok      float64
	OutputPerMTok     float64
	CacheWritePerMTok float64 // cache_creation_input_tokens (5-minute cache writes)
	CacheReadPerMTok  float64 // cache_read_input_tokens
}

// Cost is the price of u in USD.
func (p Price) Cost(u session.Tokens) float64 {
	return (float64(u.Input)*p.InputPerMTok +
		float64(u.Output)*p.OutputPerMTok +
		float64(u.CacheCreation)*p.CacheWritePerMTok +
		float64(u.CacheRead)*p.CacheReadPerMTok) / 1e6
}

// Prices maps a model key to its price. A model id gets the price of the
// longest key it contains ("haiku" matches "claude-haiku-5-5"; a key equal to
// the id is the longest possible match); keys of equal length are tried in
// lexical order. A model that contains no key gets Fallback.
type Prices map[string]Price

// DefaultPrices are Anthropic's list prices (USD per million tokens) of the
// current model families, as input / output / 5-minute cache write / cache
// read:
//
//	haiku   1 /  5 / 1.25 / 0.10
//	sonnet  3 / 15 / 3.75 / 0.30
//	opus    5 / 25 / 6.25 / 0.50
//
// Models outside these families (older Opus 4/4.1 were 15/75, for example)
// get the Fallback, the dearest price of the table; add keys to price them.
func DefaultPrices() Prices {
	return Prices{
		"haiku":  {InputPerMTok: 1, OutputPerMTok: 5, CacheWritePerMTok: 1.25, CacheReadPerMTok: 0.1},
		"sonnet": {InputPerMTok: 3, OutputPerMTok: 15, CacheWritePerMTok: 3.75, CacheReadPerMTok: 0.3},
		"opus":   {InputPerMTok: 5, OutputPerMTok: 25, CacheWritePerMTok: 6.25, CacheReadPerMTok: 0.5},
	}
}

// Lookup returns the price of model and whether a key matched; without a
// match it returns Fallback. Matching ignores case.
func (ps Prices) Lookup(model string) (Price, bool) {
	model = strings.ToLower(model)
	best, found := "", false
	for k := range ps {
		lk := strings.ToLower(k)
		if !strings.Contains(model, lk) {
			continue
		}
		if !found || len(lk) > len(best) || (len(lk) == len(best) && k < best) {
			best, found = k, true
		}
	}
	if found {
		return ps[best], true
	}
	return ps.Fallback(), false
}

// Fallback is the price of an unknown model: the highest price of each kind
// in the table, so that a budget errs on the safe side. An empty table falls
// back on DefaultPrices.
func (ps Prices) Fallback() Price {
	if len(ps) == 0 {
		return DefaultPrices().Fallback()
	}
	var f Price
	for _, p := range ps {
		f.InputPerMTok = max(f.InputPerMTok, p.InputPerMTok)
		f.OutputPerMTok = max(f.OutputPerMTok, p.OutputPerMTok)
		f.CacheWritePerMTok = max(f.CacheWritePerMTok, p.CacheWritePerMTok)
		f.CacheReadPerMTok = max(f.CacheReadPerMTok, p.CacheReadPerMTok)
	}
	return f
}
