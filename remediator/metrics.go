package remediator

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/session"
)

// Escalation label values (claudeops_escalations_total{from,to}). from is the
// tier the incident was at, or about to run, when it escalated: "2" or "3".
// to is "3" or "human". Opening an incident and running Tier 2 is not an
// escalation; it shows as claudeops_sessions_total{tier="2",trigger="alert"}.
const (
	escTier2 = "2"
	escTier3 = "3"
	escHuman = "human"
)

type metrics struct {
	open        prometheus.Gauge
	escalations *prometheus.CounterVec
	needsHuman  *prometheus.GaugeVec
	queueDepth  prometheus.Gauge
	incidents   *prometheus.CounterVec
	apiRetries  *prometheus.CounterVec
	pushed      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "claudeops", Name: "incidents_open",
			Help: "Incidents not closed yet.",
		}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "claudeops", Name: "escalations_total",
			Help: "Incidents escalated, by the tier they left (2, 3) and where they went (3, human).",
		}, []string{"from", "to"}),
		needsHuman: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "claudeops", Name: "needs_human_attention",
			Help: "1 while a service has an incident Claude Ops could not fix.",
		}, []string{"service"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "claudeops", Name: "remediation_queue_depth",
			Help: "Alerts received and not yet processed by the remediator.",
		}),
		incidents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "claudeops", Name: "incidents_total",
			Help: "Incidents closed, by outcome (remediated, resolved, needs_human, dry_run).",
		}, []string{"outcome"}),
		apiRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "claudeops", Name: "remediation_api_retries_total",
			Help: "Sessions scheduled to run again at the same tier after a model API outage (5xx, 529, 429, timeout), by tier.",
		}, []string{"tier"}),
		pushed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "claudeops", Name: "needs_human_alert_pushed",
			Help: "1 while the service's needs-human alert is in Alertmanager as last pushed, 0 when its last push failed; absent when none is pushed.",
		}, []string{"service"}),
	}
	for _, p := range [][2]string{{escTier2, escTier3}, {escTier2, escHuman}, {escTier3, escHuman}} {
		m.escalations.WithLabelValues(p[0], p[1])
	}
	for _, o := range []session.Outcome{session.OutcomeRemediated, session.OutcomeResolved, session.OutcomeNeedsHuman, session.OutcomeDryRun} {
		m.incidents.WithLabelValues(string(o))
	}
	for _, t := range []session.Tier{session.Tier2, session.Tier3} {
		m.apiRetries.WithLabelValues(t.String())
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.open, m.escalations, m.needsHuman, m.queueDepth, m.incidents, m.apiRetries, m.pushed} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
