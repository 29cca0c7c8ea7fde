package collector

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// TestPromtoolCheckMetrics lints a full scrape with `promtool check metrics`.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found")
		}
		t.Skip("promtool not found")
	}
	reg := prometheus.NewPedanticRegistry()
	c := NewTier1Collector(0)
	reg.MustRegister(c)
	m := NewSessionMetrics(reg)
	c.Update(store.Tier1State{LastRun: t0, LastSuccess: t0, Result: threeServices()})
	m.Started(session.Tier1)
	m.Finished(session.Record{ID: "a", Tier: session.Tier1, Model: "claude-haiku-4-5", Trigger: session.TriggerSchedule,
		Outcome: session.OutcomeHealthy, Duration: 42 * time.Second, CostUSD: 0.02,
		Tokens: map[string]session.Tokens{"claude-haiku-4-5": {Input: 1, Output: 2, CacheRead: 3, CacheCreation: 4}}})

	// Through the registry, and through Merge with the collector unregistered.
	sessionsOnly := prometheus.NewPedanticRegistry()
	NewSessionMetrics(sessionsOnly).Started(session.Tier2)
	for name, g := range map[string]prometheus.Gatherer{"registry": reg, "merge": Merge(sessionsOnly, c)} {
		var buf bytes.Buffer
		if err := encode(&buf, g); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("%s: promtool check metrics: %v\n%s\n--- input ---\n%s", name, err, out, buf.String())
		}
	}
}

// encode writes what promhttp would serve in the text format.
func encode(buf *bytes.Buffer, g prometheus.Gatherer) error {
	mfs, err := g.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}
