package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

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
