package scheduler

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the plan mode's series; each reason's exists from the start.
type metrics struct {
	planRuns *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{planRuns: f.NewCounterVec(prometheus.CounterOpts{
		Name: "claudeops_tier1_plan_runs_total",
		Help: "Tier 1 runs the plan mode started, by reason (no_plan, repos_changed, unforeseen, discovery, no_probes); runs asked for by hand are not counted.",
	}, []string{"reason"})}
	for _, r := range []string{ReasonNoPlan, ReasonReposChanged, ReasonUnforeseen, ReasonDiscovery, ReasonNoProbes} {
		m.planRuns.WithLabelValues(r)
	}
	return m
}
