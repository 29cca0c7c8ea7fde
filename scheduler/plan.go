package scheduler

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/probes"
)

// PlanSource is the probe plan that runs (probes.Keeper).
type PlanSource interface {
	Current() *probes.Plan
}

// The reasons a PlanPolicy runs Tier 1, the values of
// claudeops_tier1_plan_runs_total's reason label.
const (
	ReasonNoPlan       = "no_plan"
	ReasonReposChanged = "repos_changed"
	ReasonUnforeseen   = "unforeseen"
	ReasonDiscovery    = "discovery"
	ReasonNoProbes     = "no_probes"
)

// PlanPolicyConfig configures a PlanPolicy.
type PlanPolicyConfig struct {
	// Plans is the plan that runs.
	Plans PlanSource
	// Hash returns the repos' content hash now (probes.ReposHash).
	Hash func() (string, error)
	// Discovery is the longest a plan runs before Tier 1 looks again (24h).
	Discovery time.Duration
	// Retry is the check mode's interval, reused: how often Tier 1 runs
	// while there is no plan with probes, how long after a run that made
	// no plan the next may start, and the least time between the end of
	// a run and one for an unforeseen probe failure.
	Retry time.Duration
	// Recheck is how often the repos hash is compared (the probe interval).
	Recheck    time.Duration
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// PlanPolicy is the plan mode: Tier 1 runs only when judgement is needed.
//
//   - No plan (first start, or none stored): at once, then every Retry
//     until one is made.
//   - The repos' content hash differs from the plan's: at once, unless the
//     latest run made no plan (then Retry after it).
//   - A probe failed in a way the plan did not foresee (Unforeseen): at
//     once, but never sooner than Retry after the latest run ended. A
//     failing probe is not a reason: it is an alert.
//   - The plan has no probe to run (the model reported statuses only):
//     every Retry, as in the check mode.
//   - The plan is Discovery old.
type PlanPolicy struct {
	cfg     PlanPolicyConfig
	metrics *metrics

	mu         sync.Mutex
	unforeseen string
	of         *probes.Plan // the plan the unforeseen failure is of
}

// NewPlanPolicy returns a plan policy.
func NewPlanPolicy(cfg PlanPolicyConfig) *PlanPolicy {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = probes.DefaultInterval
	}
	return &PlanPolicy{cfg: cfg, metrics: newMetrics(cfg.Registerer)}
}

// Unforeseen records a probe failure the plan did not foresee; the caller
// wakes the scheduler (Scheduler.Wake). A later plan forgets it.
func (p *PlanPolicy) Unforeseen(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unforeseen = reason
	p.of = p.cfg.Plans.Current()
}

// Due implements Policy.
func (p *PlanPolicy) Due(now time.Time, last LastRun) (string, time.Duration) {
	plan := p.cfg.Plans.Current()
	retryAt := last.End.Add(p.cfg.Retry)
	retryDone := last.End.IsZero() || !now.Before(retryAt)
	// Whether a run may start now for a change: always, unless the latest
	// run did not make the current plan (it failed): then after Retry.
	mayRun := retryDone || (plan != nil && last.ID != "" && plan.SessionID == last.ID)
	wait := p.cfg.Recheck
	later := func(at time.Time) {
		if d := at.Sub(now); d < wait {
			wait = d
		}
	}

	p.mu.Lock()
	unforeseen := p.unforeseen
	if unforeseen != "" && p.of != plan {
		unforeseen, p.unforeseen = "", "" // a newer plan came meanwhile
	}
	if unforeseen != "" && retryDone {
		p.unforeseen = ""
	}
	p.mu.Unlock()
	if unforeseen != "" {
		if retryDone {
			return p.due(ReasonUnforeseen, "a probe failed in a way the plan did not foresee: "+unforeseen)
		}
		later(retryAt)
	}

	if plan == nil {
		if retryDone {
			return p.due(ReasonNoPlan, "there is no probe plan yet")
		}
		later(retryAt)
		return "", wait
	}
	if hash, err := p.cfg.Hash(); err != nil {
		p.cfg.Logger.Error("hash the repos", "err", err)
	} else if hash != plan.ReposHash {
		if mayRun {
			return p.due(ReasonReposChanged, fmt.Sprintf("the repos changed since plan %d was made", plan.Version))
		}
		later(retryAt)
	}
	if !plan.Active() {
		if retryDone {
			return p.due(ReasonNoProbes, fmt.Sprintf("plan %d has no probe to run", plan.Version))
		}
		later(retryAt)
		return "", wait
	}
	discoverAt := plan.MadeAt.Add(p.cfg.Discovery)
	if !now.Before(discoverAt) {
		if mayRun {
			return p.due(ReasonDiscovery, fmt.Sprintf("plan %d is %s old", plan.Version, p.cfg.Discovery))
		}
		later(retryAt)
	} else {
		later(discoverAt)
	}
	return "", wait
}

func (p *PlanPolicy) due(reason, why string) (string, time.Duration) {
	p.metrics.planRuns.WithLabelValues(reason).Inc()
	return why, 0
}
