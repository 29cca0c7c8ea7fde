package actions

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

// maxServiceLabels bounds the service label of remediation_actions_total.
const maxServiceLabels = 200

type metrics struct {
	calls       *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	remediation *prometheus.CounterVec
	duration    *prometheus.HistogramVec

	mu       sync.Mutex
	services map[string]bool
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		calls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "claudeops_actions_total",
			Help: "Typed action calls by action, result (done, proposed, refused, failed, unverified) and the session's tier.",
		}, []string{"action", "result", "tier"}),
		refusals: f.NewCounterVec(prometheus.CounterOpts{
			Name: "claudeops_action_refusals_total",
			Help: "Typed action calls refused, by the chain stage that refused them.",
		}, []string{"stage"}),
		remediation: f.NewCounterVec(prometheus.CounterOpts{
			Name: "claudeops_remediation_actions_total",
			Help: "Changes decided by the action chain, by canonical service, action and decision (allowed, dry_run, refused_<stage>).",
		}, []string{"service", "action", "result"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claudeops_action_duration_seconds",
			Help:    "Time from a typed action call reaching the daemon to its answer, decision, execution and verification included.",
			Buckets: []float64{.005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"action"}),
		services: map[string]bool{},
	}
	for _, k := range session.ActionKinds {
		m.duration.WithLabelValues(string(k))
		for _, r := range session.ActionResults {
			for _, t := range []session.Tier{session.Tier1, session.Tier2, session.Tier3} {
				m.calls.WithLabelValues(string(k), string(r), t.String())
			}
		}
	}
	for _, s := range session.Stages[:6] { // the stages that refuse
		m.refusals.WithLabelValues(string(s))
	}
	return m
}

func (m *metrics) observe(s Session, call Call, v Verdict, res Result, took time.Duration) {
	m.calls.WithLabelValues(string(call.Kind), string(res.Result), strconv.Itoa(int(s.Tier))).Inc()
	m.duration.WithLabelValues(string(call.Kind)).Observe(took.Seconds())
	if res.Result == session.ResultRefused {
		m.refusals.WithLabelValues(string(res.Stage)).Inc()
	}
	if call.Kind.Changes() {
		m.remediation.WithLabelValues(m.serviceLabel(res.Service), string(call.Kind), v.Result()).Inc()
	}
}

// serviceLabel is the canonical name, or "other" past maxServiceLabels
// distinct services, or "unknown" for a target that did not resolve.
func (m *metrics) serviceLabel(svc string) string {
	svc = services.Canonical(svc)
	if svc == "" {
		return "unknown"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.services[svc] {
		if len(m.services) >= maxServiceLabels {
			return "other"
		}
		m.services[svc] = true
	}
	return svc
}
