package remediator

import (
	"context"
	"strings"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// Tier1Loader reads Tier 1's latest state (*store.Store).
type Tier1Loader interface {
	LoadTier1(ctx context.Context) (store.Tier1State, error)
}

// NewContextProvider returns a ContextProvider reading Tier 1's latest result
// from t1 and the repo rules from rules (either may be nil).
func NewContextProvider(t1 Tier1Loader, rules func(service string) string) ContextProvider {
	return provider{t1: t1, rules: rules}
}

type provider struct {
	t1    Tier1Loader
	rules func(string) string
}

func (p provider) Tier1(ctx context.Context, service string) *session.Service {
	if p.t1 == nil {
		return nil
	}
	st, err := p.t1.LoadTier1(ctx)
	if err != nil || st.Result == nil {
		return nil
	}
	return FindService(st.Result, service)
}

func (p provider) RepoRules(service string) string {
	if p.rules == nil {
		return ""
	}
	return p.rules(service)
}

// FindService returns the service of a Tier 1 result with that name (exact,
// then case-insensitive), or nil.
func FindService(res *session.Tier1Result, name string) *session.Service {
	if res == nil {
		return nil
	}
	for i := range res.Services {
		if res.Services[i].Name == name {
			s := res.Services[i]
			return &s
		}
	}
	for i := range res.Services {
		if strings.EqualFold(res.Services[i].Name, name) {
			s := res.Services[i]
			return &s
		}
	}
	return nil
}
