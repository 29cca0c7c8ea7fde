package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/internal/stormload"
)

// stormStub answers like the CLI after a second, with a result of the
// session's schema (Tier 1's has "services"): the storm measures the daemon,
// not the model.
const stormStub = `#!/bin/sh
sleep 1
echo '{"type":"system","subtype":"init","session_id":"stub","model":"claude-stub"}'
case "$*" in
*'"services"'*) out='{"summary":"stub","services":[]}' ;;
*) out='{"summary":"stub","outcome":"not_fixed","actions":[],"findings":"stub"}' ;;
esac
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"total_cost_usd":0.001,"usage":{"input_tokens":10,"output_tokens":5},"structured_output":'"$out"'}'
`

// BenchmarkStorm sends 10,000 firing alerts over 500 services to the webhook,
// 10 alerts per request; sessions run a stub CLI (it measures the daemon, not
// the model). clients=20 keeps 20 requests in flight; clients=1 sends the
// same requests one at a time, which shows a request's own latency without
// queueing. It runs the package's -race build, or $CLAUDEOPS_E2E_BINARY (see
// TestMain). ns/op is the whole iteration, set-up included: read the
// reported metrics.
func BenchmarkStorm(b *testing.B) {
	stub := filepath.Join(b.TempDir(), "claude")
	writeFile(b, stub, stormStub)
	if err := os.Chmod(stub, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, clients := range []int{20, 1} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { storm(b, stub, clients) })
	}
}

func storm(b *testing.B, stub string, clients int) {
	const alerts, services, perRequest = 10000, 500, 10
	const concurrency, perHour = 2, 5 // the daemon's defaults
	for b.Loop() {
		api := fakeapi.Start(b, healthyTier1)
		d := newDirs(b)
		dm := startDaemon(b, api, d, "--schedule.interval=1h", "--webhook.no-auth", "--claude.path="+stub,
			"--remediation.verify-timeout=1s", "--log.level=warn")
		waitFor(b, 30*time.Second, "the start-up tier 1 run", func() bool {
			ss := dm.sessions(b)
			return len(ss) == 1 && ss[0].Outcome != "running"
		})
		_, before := stormload.Memory(dm.cmd.Process.Pid)

		var mu sync.Mutex
		var lat []time.Duration
		codes := map[int]int{}
		first := time.Now()
		work := make(chan int)
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for req := range work {
					var as []string
					for i := range perRequest {
						n := req*perRequest + i
						as = append(as, fmt.Sprintf(`{"status":"firing","labels":{"alertname":"Storm%d","service":"svc-%d"},"annotations":{},"startsAt":"2026-11-23T10:00:00Z","fingerprint":"%016x"}`, n, n%services, n+1))
					}
					body := `{"version":"4","status":"firing","receiver":"claude-ops","groupKey":"{}:{}","alerts":[` + strings.Join(as, ",") + `],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am"}`
					t0 := time.Now()
					code, _ := httpPost(b, dm.URL+"/api/v1/webhook", "application/json", body, nil)
					mu.Lock()
					lat = append(lat, time.Since(t0))
					codes[code]++
					mu.Unlock()
				}
			})
		}
		for r := range alerts / perRequest {
			work <- r
		}
		close(work)
		wg.Wait()
		elapsed := time.Since(first)

		slices.Sort(lat)
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		b.ReportMetric(float64(len(lat)-codes[202]), "non-202")
		if codes[202] != len(lat) {
			b.Errorf("answers by code: %v, want every request 202", codes)
		}

		// Exactly one incident per service.
		var open int
		waitFor(b, 60*time.Second, "an incident per service", func() bool {
			open, _ = strconv.Atoi(sampleValue(dm.scrape(b), "claudeops_incidents_open"))
			return open == services
		})
		perService := map[string]int{}
		for _, inc := range dm.incidents(b) {
			perService[inc.Service]++
		}
		for i := range services {
			if n := perService[fmt.Sprintf("svc-%d", i)]; n != 1 {
				b.Errorf("svc-%d has %d incidents, want 1", i, n)
			}
		}
		b.ReportMetric(float64(open), "incidents")

		// Session start and end times: the latency from the first webhook to
		// the first session, and the most sessions that overlapped. The
		// remediation is over when no session has run or started for 5 s
		// (a stub session lasts 1 s; escalation waits the 1 s verify timeout).
		type span struct {
			start, end time.Time
			incident   string
		}
		var spans []span
		stableSince, seen := time.Now(), -1
		waitFor(b, 120*time.Second, "remediation sessions to end", func() bool {
			spans = spans[:0]
			running := false
			for _, s := range dm.sessions(b) {
				if s.Tier < 2 {
					continue
				}
				if s.Outcome == "running" {
					running = true
					continue
				}
				var full struct {
					Session struct {
						Start      time.Time `json:"start"`
						End        time.Time `json:"end"`
						IncidentID string    `json:"incident_id"`
					} `json:"session"`
				}
				getJSON(b, dm.URL+"/api/v1/sessions/"+s.ID, &full)
				spans = append(spans, span{full.Session.Start, full.Session.End, full.Session.IncidentID})
			}
			if running || len(spans) != seen {
				stableSince, seen = time.Now(), len(spans)
				if running {
					seen = -1
				}
				return false
			}
			return len(spans) > 0 && time.Since(stableSince) > 5*time.Second
		})
		serviceOf := map[string]string{}
		for _, inc := range dm.incidents(b) {
			serviceOf[inc.ID] = inc.Service
		}
		remediated := map[string]bool{}
		for _, s := range spans {
			remediated[serviceOf[s.incident]] = true
		}
		b.ReportMetric(float64(len(remediated)), "services-remediated")
		if len(remediated) > perHour {
			b.Errorf("sessions for %d services, limit %d per hour", len(remediated), perHour)
		}
		earliest, overlap := spans[0].start, 0
		for _, s := range spans {
			if s.start.Before(earliest) {
				earliest = s.start
			}
			n := 0
			for _, o := range spans {
				if !o.start.After(s.start) && o.end.After(s.start) {
					n++
				}
			}
			overlap = max(overlap, n)
		}
		b.ReportMetric(float64(earliest.Sub(first).Microseconds())/1000, "webhook-to-session-ms")
		b.ReportMetric(float64(len(spans)), "sessions")
		b.ReportMetric(float64(overlap), "max-concurrent-sessions")
		if overlap > concurrency {
			b.Errorf("%d sessions ran at once, limit %d", overlap, concurrency)
		}
		_, peak := stormload.Memory(dm.cmd.Process.Pid)
		b.ReportMetric(float64(before)/(1<<20), "pre-storm-peak-RSS-MB")
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
		dm.stop(b, 20*time.Second)
	}
}
