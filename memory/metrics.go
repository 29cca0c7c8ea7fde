package memory

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the counted series of memories; each verdict's exists from
// the start. claudeops_memories is read from the store at each scrape
// (countCollector).
type metrics struct {
	recorded *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{recorded: f.NewCounterVec(prometheus.CounterOpts{
		Name: "claudeops_memories_recorded_total",
		Help: "Memories recorded by remediation sessions, by the verdict of their incident's verified outcome.",
	}, []string{"verdict"})}
	for _, v := range Verdicts {
		m.recorded.WithLabelValues(string(v))
	}
	return m
}

// maxSeries bounds claudeops_memories: the services with the most memories
// get a series each, the rest share service="_other".
const maxSeries = 50

// otherService is the service label of the memories beyond maxSeries.
const otherService = "_other"

// countCollector serves claudeops_memories from the store at each scrape.
type countCollector struct {
	st  Store
	log *slog.Logger
}

var memoriesDesc = prometheus.NewDesc("claudeops_memories",
	"Memories stored, by service (the "+fmt.Sprint(maxSeries)+" services with the most; the rest as service=\""+otherService+"\").",
	[]string{"service"}, nil)

func (c *countCollector) Describe(ch chan<- *prometheus.Desc) { ch <- memoriesDesc }

func (c *countCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	counts, err := c.st.CountMemories(ctx)
	if err != nil {
		c.log.Error("count memories", "err", err)
		ch <- prometheus.NewInvalidMetric(memoriesDesc, err)
		return
	}
	for svc, n := range boundSeries(counts, maxSeries) {
		ch <- prometheus.MustNewConstMetric(memoriesDesc, prometheus.GaugeValue, float64(n), svc)
	}
}

// boundSeries keeps the max services with the most memories (ties by name)
// and sums the others under otherService.
func boundSeries(counts map[string]int, max int) map[string]int {
	if len(counts) <= max {
		return counts
	}
	svcs := make([]string, 0, len(counts))
	for s := range counts {
		svcs = append(svcs, s)
	}
	sort.Slice(svcs, func(i, j int) bool {
		if counts[svcs[i]] != counts[svcs[j]] {
			return counts[svcs[i]] > counts[svcs[j]]
		}
		return svcs[i] < svcs[j]
	})
	out := make(map[string]int, max+1)
	for i, s := range svcs {
		if i < max {
			out[s] += counts[s]
		} else {
			out[otherService] += counts[s]
		}
	}
	return out
}
