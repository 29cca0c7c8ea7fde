package probes

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the runner's series.
type metrics struct {
	rounds, unforeseen                             prometheus.Counter
	lastRound, roundSeconds, planVersion, planTime prometheus.Gauge
	planned                                        *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, interval time.Duration) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		rounds: f.NewCounter(prometheus.CounterOpts{Name: "claudeops_probe_rounds_total",
			Help: "Rounds of the probe plan run."}),
		unforeseen: f.NewCounter(prometheus.CounterOpts{Name: "claudeops_probe_unforeseen_total",
			Help: "Probe results that called for a new plan (a target gone from DNS or from the inventory)."}),
		lastRound: f.NewGauge(prometheus.GaugeOpts{Name: "claudeops_probe_last_round_timestamp_seconds",
			Help: "Unix time the latest round of the probe plan started; 0 if none."}),
		roundSeconds: f.NewGauge(prometheus.GaugeOpts{Name: "claudeops_probe_round_duration_seconds",
			Help: "How long the latest round of the probe plan took."}),
		planVersion: f.NewGauge(prometheus.GaugeOpts{Name: "claudeops_probe_plan_version",
			Help: "Version of the probe plan that runs; 0 if none."}),
		planTime: f.NewGauge(prometheus.GaugeOpts{Name: "claudeops_probe_plan_timestamp_seconds",
			Help: "Unix time Tier 1 made the probe plan that runs; 0 if none."}),
		planned: f.NewGaugeVec(prometheus.GaugeOpts{Name: "claudeops_probe_plan_probes",
			Help: "Probes of the current plan, accepted (run) or refused by validation."}, []string{"state"}),
	}
	for _, state := range []string{"accepted", "refused"} {
		m.planned.WithLabelValues(state)
	}
	f.NewGauge(prometheus.GaugeOpts{Name: "claudeops_probe_interval_seconds",
		Help: "Time between two rounds of the probe plan."}).Set(interval.Seconds())
	return m
}

func (m *metrics) plan(p *Plan) {
	var version, made float64
	if p != nil {
		version = float64(p.Version)
		if !p.MadeAt.IsZero() {
			made = float64(p.MadeAt.UnixNano()) / 1e9
		}
	}
	m.planVersion.Set(version)
	m.planTime.Set(made)
	m.planned.WithLabelValues("accepted").Set(float64(len(p.Accepted())))
	m.planned.WithLabelValues("refused").Set(float64(len(p.Refusals())))
}

func (m *metrics) round(start, end time.Time, _ []Result, unforeseen int) {
	m.rounds.Inc()
	m.unforeseen.Add(float64(unforeseen))
	m.lastRound.Set(float64(start.UnixNano()) / 1e9)
	m.roundSeconds.Set(end.Sub(start).Seconds())
}
