package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// dropSink is a Sink that counts the alerts it is given and drops them.
type dropSink struct{ n atomic.Int64 }

func (s *dropSink) Enqueue(_ context.Context, alerts []Alert) error {
	s.n.Add(int64(len(alerts)))
	return nil
}

// stormBodies returns n payloads of perReq alerts each, every alert with its
// own fingerprint, shaped like the samples.
func stormBodies(n, perReq int) []string {
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = payload(func(p, _, _ map[string]any) {
			alerts := make([]any, perReq)
			for j := range alerts {
				a := baseAlert()
				a["fingerprint"] = fmt.Sprintf("%016x", i*perReq+j)
				l := a["labels"].(map[string]any)
				l["service"] = fmt.Sprintf("svc-%d", j)
				l["instance"] = fmt.Sprintf("host-%d:9100", i)
				a["annotations"].(map[string]any)["runbook_url"] = "https://runbooks.example.org/ServiceDown"
				alerts[j] = a
			}
			p["alerts"] = alerts
		})
	}
	return bodies
}

// BenchmarkWebhook sends requests in parallel through the handler, with the
// in-memory deduper (smaller than the set of alerts, so every alert is new
// again when its body comes round) and a sink that drops what it is given.
// It reports the 99th percentile latency of a request and alerts per second.
//
//	go test -run='^$' -bench=BenchmarkWebhook -benchmem ./webhook/
func BenchmarkWebhook(b *testing.B) {
	for _, perReq := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("alerts=%d", perReq), func(b *testing.B) {
			bodies := stormBodies(10000/perReq, perReq) // a storm of 10,000 alerts
			sink := &dropSink{}
			h := NewHandler(Config{
				Token: []byte(testToken), Sink: sink, Deduper: NewMemoryDeduper(2000, time.Hour),
				Registerer: prometheus.NewRegistry(),
			})
			var (
				mu        sync.Mutex
				latencies []time.Duration
				failed    int
			)
			b.ReportAllocs()
			b.SetBytes(int64(len(bodies[0])))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var lat []time.Duration
				bad := 0
				for i := 0; pb.Next(); i++ {
					r := httptest.NewRequest(http.MethodPost, "/api/v1/webhook", strings.NewReader(bodies[i%len(bodies)]))
					r.Header.Set("Content-Type", "application/json")
					r.Header.Set("Authorization", "Bearer "+testToken)
					w := httptest.NewRecorder()
					start := time.Now()
					h.ServeHTTP(w, r)
					lat = append(lat, time.Since(start))
					if w.Code != http.StatusAccepted {
						bad++
					}
				}
				mu.Lock()
				latencies = append(latencies, lat...)
				failed += bad
				mu.Unlock()
			})
			b.StopTimer()
			if failed > 0 || sink.n.Load() == 0 {
				b.Errorf("%d requests not accepted, %d alerts queued", failed, sink.n.Load())
			}
			slices.Sort(latencies)
			if n := len(latencies); n > 0 {
				b.ReportMetric(float64(latencies[n*99/100].Nanoseconds()), "p99-ns/req")
				b.ReportMetric(float64(perReq*n)/b.Elapsed().Seconds(), "alerts/s")
			}
		})
	}
}

// BenchmarkDecode measures the decoder alone on the v0.34 sample.
func BenchmarkDecode(b *testing.B) {
	body := []byte(readTestdata(b, "am-0.34.json"))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, _, err := Decode(body, nil); err != nil {
			b.Fatal(err)
		}
	}
}
