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
)

// stubClaude answers like the CLI after a second, with a Tier 2 result: the
// storm benchmark measures the daemon, not the model.
const stubClaude = `#!/bin/sh
sleep 1
echo '{"type":"system","subtype":"init","session_id":"stub","model":"claude-sonnet-stub"}'
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"total_cost_usd":0.001,"usage":{"input_tokens":10,"output_tokens":5},"structured_output":{"summary":"stub","outcome":"not_fixed","actions":[],"findings":"stub"}}'
`

// rss reads a process's resident set (current and peak) in bytes.
func rss(pid int) (cur, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			cur = n << 10
		case "VmHWM:":
			peak = n << 10
		}
	}
	return cur, peak
}

// BenchmarkIdleRSS reports the daemon's resident memory after start-up and a
// Tier 1 run, idle.
func BenchmarkIdleRSS(b *testing.B) {
	api := fakeapi.Start(b, healthyTier1)
	d := newDirs(b)
	dm := startDaemon(b, api, d, "--schedule.interval=1h", "--webhook.no-auth")
	waitFor(b, 60*time.Second, "the start-up run", func() bool {
		ss := dm.sessions(b)
		return len(ss) == 1 && ss[0].Outcome != "running"
	})
	time.Sleep(2 * time.Second)
	for b.Loop() {
		time.Sleep(10 * time.Millisecond)
	}
	cur, _ := rss(dm.cmd.Process.Pid)
	b.ReportMetric(float64(cur)/(1<<20), "idle-RSS-MB")
}

// BenchmarkWebhookStorm sends 10,000 firing alerts over 500 services to the
// webhook from 20 clients, 10 alerts per request. Sessions run a stub CLI:
// this measures the daemon, not the model.
func BenchmarkWebhookStorm(b *testing.B) {
	const alerts, services, perRequest, clients = 10000, 500, 10, 20
	stub := filepath.Join(b.TempDir(), "claude")
	writeFile(b, stub, stubClaude)
	if err := os.Chmod(stub, 0o755); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		api := fakeapi.Start(b, healthyTier1)
		d := newDirs(b)
		dm := startDaemon(b, api, d, "--schedule.interval=1h", "--webhook.no-auth", "--claude.path="+stub,
			"--remediation.verify-timeout=1s", "--log.level=warn")
		b.StartTimer()

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
		b.StopTimer()

		slices.Sort(lat)
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		if codes[202] != len(lat) {
			b.Errorf("answers by code: %v, want every request 202", codes)
		}
		var open int
		waitFor(b, 60*time.Second, "an incident per service", func() bool {
			open, _ = strconv.Atoi(sampleValue(dm.scrape(b), "claudeops_incidents_open"))
			return open == services
		})
		b.ReportMetric(float64(open), "incidents")

		// Session start and end times: the latency from the first webhook to
		// the first session, and the most sessions that overlapped.
		type span struct{ start, end time.Time }
		var spans []span
		waitFor(b, 60*time.Second, "remediation sessions to end", func() bool {
			spans = spans[:0]
			for _, s := range dm.sessions(b) {
				if s.Tier < 2 {
					continue
				}
				if s.Outcome == "running" {
					return false
				}
				var full struct {
					Session struct {
						Start time.Time `json:"start"`
						End   time.Time `json:"end"`
					} `json:"session"`
				}
				getJSON(b, dm.URL+"/api/v1/sessions/"+s.ID, &full)
				spans = append(spans, span{full.Session.Start, full.Session.End})
			}
			return len(spans) > 0
		})
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
		if overlap > 2 {
			b.Errorf("%d sessions ran at once, limit 2", overlap)
		}
		_, peak := rss(dm.cmd.Process.Pid)
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
		dm.stop(b, 20*time.Second)
	}
}
