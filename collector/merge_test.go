package collector

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// TestGatherMatchesRegistry: the Gatherer path serves exactly what the
// Collector path serves through a registry.
func TestGatherMatchesRegistry(t *testing.T) {
	sanitize := &session.Tier1Result{Services: []session.Service{
		{Name: "B svc", Checks: []session.Check{{Name: "z", Type: "HTTP", Status: "ok"}, {Name: "a", Type: "x", Status: "down"}}},
		{Name: "a-svc", Checks: []session.Check{{Name: "z", Type: "dns", Status: "ok"}, {Name: "Z", Type: "dns", Status: "down"}}},
	}}
	for name, st := range map[string]store.Tier1State{
		"empty":    {},
		"big":      bigState(30, 7),
		"sanitize": {LastRun: t5, LastSuccess: t0, Result: sanitize},
	} {
		c := NewTier1Collector(50)
		c.Update(st)
		var viaReg, viaGather bytes.Buffer
		if err := encode(&viaReg, newRegistry(t, c)); err != nil {
			t.Fatal(err)
		}
		if err := encode(&viaGather, c); err != nil {
			t.Fatal(err)
		}
		if viaReg.String() != viaGather.String() {
			t.Errorf("%s: registry and Gather differ:\n--- registry ---\n%s\n--- gather ---\n%s", name, viaReg.String(), viaGather.String())
		}
	}
}

func TestMerge(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewSessionMetrics(reg)
	m.Started(session.Tier3)
	c := NewTier1Collector(0)
	c.Update(store.Tier1State{LastRun: t0, LastSuccess: t0, Result: threeServices()})
	want := `
# HELP claudeops_services_discovered Services in the latest successful Tier 1 result.
# TYPE claudeops_services_discovered gauge
claudeops_services_discovered 3
# HELP claudeops_sessions_running Sessions running now.
# TYPE claudeops_sessions_running gauge
claudeops_sessions_running{tier="1"} 0
claudeops_sessions_running{tier="2"} 0
claudeops_sessions_running{tier="3"} 1
`
	if err := testutil.GatherAndCompare(Merge(reg, c), strings.NewReader(want),
		"claudeops_services_discovered", "claudeops_sessions_running"); err != nil {
		t.Error(err)
	}
	mfs, err := Merge(reg, c).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(mfs); i++ {
		if mfs[i-1].GetName() >= mfs[i].GetName() {
			t.Errorf("families not sorted: %s before %s", mfs[i-1].GetName(), mfs[i].GetName())
		}
	}

	// The same families twice: an error, and each family once.
	mfs, err = Merge(c, c).Gather()
	if err == nil || !strings.Contains(err.Error(), "claudeops_check_success gathered twice") {
		t.Errorf("duplicate families: err = %v", err)
	}
	once, err := Merge(c).Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != len(once) {
		t.Errorf("duplicate families: %d families, want %d", len(mfs), len(once))
	}
}
