package apiproxy

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Refusal reasons, the values of claudeops_proxy_refusals_total{reason}.
const (
	ReasonAuth    = "auth"    // no, unknown or revoked session token
	ReasonBudget  = "budget"  // the session's Meter.Allow said no
	ReasonRunaway = "runaway" // more than MaxRequestsPerSession requests
)

// metrics are the proxy's own metrics. Tokens and cost by tier and model are
// the Meter's business (the caller's), not counted here.
type metrics struct {
	requests    *prometheus.CounterVec
	duration    prometheus.Histogram
	firstByte   prometheus.Histogram
	refusals    *prometheus.CounterVec
	meterErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "claudeops_proxy_requests_total",
			Help: "Requests the Messages API proxy answered, by HTTP status code sent to the CLI.",
		}, []string{"code"}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "claudeops_proxy_request_duration_seconds",
			Help:    "Duration of requests sent upstream, from receipt to the end of the answer's body.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		firstByte: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "claudeops_proxy_first_byte_seconds",
			Help:    "Time from receipt of a request to the first byte of the upstream answer's body.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		refusals: f.NewCounterVec(prometheus.CounterOpts{
			Name: "claudeops_proxy_refusals_total",
			Help: "Requests refused without going upstream, by reason (auth, budget, runaway).",
		}, []string{"reason"}),
		meterErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "claudeops_proxy_metering_errors_total",
			Help: "Answers whose usage could not be read in full (the answer itself was passed on).",
		}),
	}
	for _, r := range []string{ReasonAuth, ReasonBudget, ReasonRunaway} {
		m.refusals.WithLabelValues(r)
	}
	// The codes every session sees (200) and those the proxy answers
	// itself: the first of each is visible to increase().
	for _, code := range []int{http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusPaymentRequired,
		http.StatusRequestEntityTooLarge, http.StatusBadGateway} {
		m.requests.WithLabelValues(strconv.Itoa(code))
	}
	return m
}
