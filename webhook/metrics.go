package webhook

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the handler's series; the families with known label values
// have each series from the start.
type metrics struct {
	requests  *prometheus.CounterVec
	received  *prometheus.CounterVec
	own       prometheus.Counter
	duplicate prometheus.Counter
	enqueued  prometheus.Counter
	truncated prometheus.Counter
	rejected  *prometheus.CounterVec
	duration  prometheus.Histogram

	// The series every request of a storm counts in, looked up once.
	byCode           map[int]prometheus.Counter // requests, by the codes below
	firing, resolved prometheus.Counter         // received
}

// codes are the status codes the handler answers with, whose series exist
// from the start.
var codes = []int{
	http.StatusAccepted, http.StatusBadRequest, http.StatusUnauthorized, http.StatusMethodNotAllowed,
	http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity,
	http.StatusServiceUnavailable,
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "claudeops_webhook_requests_total",
			Help: "Webhook requests, by HTTP status code of the answer.",
		}, []string{"code"}),
		received: f.NewCounterVec(prometheus.CounterOpts{
			Name: "claudeops_alerts_received_total",
			Help: "Alerts received in valid webhook payloads, duplicates included, by status.",
		}, []string{"status"}),
		own: f.NewCounter(prometheus.CounterOpts{
			Name: "claudeops_webhook_own_alerts_total",
			Help: `Alerts labelled claudeops="true" received, which are never remediated.`,
		}),
		duplicate: f.NewCounter(prometheus.CounterOpts{
			Name: "claudeops_webhook_duplicate_alerts_total",
			Help: "Alerts dropped because the same fingerprint, startsAt and status was seen before.",
		}),
		enqueued: f.NewCounter(prometheus.CounterOpts{
			Name: "claudeops_webhook_alerts_enqueued_total",
			Help: "Alerts handed to the remediation queue.",
		}),
		truncated: f.NewCounter(prometheus.CounterOpts{
			Name: "claudeops_webhook_truncated_alerts_total",
			Help: "Alerts Alertmanager left out of notifications because of the receiver's max_alerts.",
		}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "claudeops_webhook_alerts_rejected_total",
			Help: "Alerts left out of a notification because their content breaks a rule of Claude Ops (no or an invalid service label, ...), by reason.",
		}, []string{"reason"}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "claudeops_webhook_request_duration_seconds",
			Help:    "Time to answer a webhook request.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
	}
	m.byCode = make(map[int]prometheus.Counter, len(codes))
	for _, c := range codes {
		m.byCode[c] = m.requests.WithLabelValues(strconv.Itoa(c))
	}
	m.firing = m.received.WithLabelValues(StatusFiring)
	m.resolved = m.received.WithLabelValues(StatusResolved)
	for _, r := range RejectReasons {
		m.rejected.WithLabelValues(r)
	}
	return m
}

// request counts an answer with code.
func (m *metrics) request(code int) {
	if c, ok := m.byCode[code]; ok {
		c.Inc()
		return
	}
	m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
}

// receivedAlert counts a valid alert of status firing or resolved.
func (m *metrics) receivedAlert(status string) {
	if status == StatusResolved {
		m.resolved.Inc()
	} else {
		m.firing.Inc()
	}
}
