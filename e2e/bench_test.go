package e2e

import (
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/internal/stormload"
)

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
	cur, _ := stormload.Memory(dm.cmd.Process.Pid)
	b.ReportMetric(float64(cur)/(1<<20), "idle-RSS-MB")
}
