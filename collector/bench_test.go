package collector

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// bigState is a result of services × checks, one in ten checks failing.
func bigState(services, checks int) store.Tier1State {
	types := []string{"http", "dns", "container", "database", "service", "custom"}
	r := &session.Tier1Result{Services: make([]session.Service, services)}
	for i := range r.Services {
		s := &r.Services[i]
		s.Name = fmt.Sprintf("Service-%04d", i)
		for j := range checks {
			status := "ok"
			if (i+j)%10 == 0 {
				status = "down"
			}
			s.Checks = append(s.Checks, session.Check{Name: fmt.Sprintf("check_%d", j),
				Type: types[j%len(types)], Status: status, LatencyMS: float64(i + j)})
		}
	}
	return store.Tier1State{LastRun: t0, LastSuccess: t0, Result: r}
}

// BenchmarkScrape is one /metrics request for 1,000 services × 10 checks:
// Gather plus text encoding, as promhttp does. "registry": the collector
// registered in a registry; "merge": served by Merge(registry, collector).
func BenchmarkScrape(b *testing.B) {
	c := NewTier1Collector(0)
	c.Update(bigState(1000, 10))
	withCollector := prometheus.NewRegistry()
	withCollector.MustRegister(c)
	NewSessionMetrics(withCollector)
	others := prometheus.NewRegistry()
	NewSessionMetrics(others)
	for name, g := range map[string]prometheus.Gatherer{"registry": withCollector, "merge": Merge(others, c)} {
		b.Run(name, func(b *testing.B) {
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := encode(&buf, g); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "body_bytes")
		})
	}
}

// BenchmarkCollect is the collector's own share of a scrape.
func BenchmarkCollect(b *testing.B) {
	c := NewTier1Collector(0)
	c.Update(bigState(1000, 10))
	ch := make(chan prometheus.Metric, 30000)
	b.ReportAllocs()
	for b.Loop() {
		c.Collect(ch)
		for len(ch) > 0 {
			<-ch
		}
	}
}

// BenchmarkUpdate is the cost moved out of the scrape: sanitising and
// building the samples once per Tier 1 run.
func BenchmarkUpdate(b *testing.B) {
	c := NewTier1Collector(0)
	st := bigState(1000, 10)
	b.ReportAllocs()
	for b.Loop() {
		c.Update(st)
	}
}
