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

const probeHeaders = `
# HELP claudeops_check_status State set of each check: 1 for its status (ok, degraded, failing, unknown), 0 for the others. Only failing pages.
# TYPE claudeops_check_status gauge
# HELP claudeops_checks_unplanned Checks of a service the probe plan does not cover: the model could not turn them into probes.
# TYPE claudeops_checks_unplanned gauge
`

// TestTier1CollectorProbes: while a plan runs, the probes' results are the
// check series (with their state set) and the reported checks are not;
// when it stops, the reported checks are back.
func TestTier1CollectorProbes(t *testing.T) {
	c := NewTier1Collector(0)
	reg := newRegistry(t, c)
	c.Update(store.Tier1State{LastRun: t0, LastSuccess: t0, Result: threeServices()})
	c.UpdateProbes(ProbeState{Active: true, Checks: []ProbeCheck{
		{Service: "web", Check: "http", Type: session.ProbeTypeHTTP, Status: StatusOK, Seconds: 0.012},
		{Service: "db", Check: "port", Type: session.ProbeTypeTCP, Status: StatusFailing, Seconds: 0.001},
		{Service: "web", Check: "container", Type: session.ProbeTypeContainer, Status: StatusDegraded, Seconds: 0.02},
		{Service: "Web", Check: "backup", Type: session.ProbeTypeDeclaredCheck, Status: "weird", Seconds: 1},
		{Service: "web", Check: "http", Type: session.ProbeTypeHTTP, Status: StatusFailing}, // a duplicate: the first stays
	}, Unplanned: map[string]int{"web": 2, "db": 0, "Backup": 1}})
	want := checkHeaders + probeHeaders + `
claudeops_check_success{check="backup",service="web",type="declared_check"} 0
claudeops_check_success{check="container",service="web",type="container"} 0
claudeops_check_success{check="http",service="web",type="http"} 1
claudeops_check_success{check="port",service="db",type="tcp"} 0
claudeops_check_duration_seconds{check="backup",service="web",type="declared_check"} 1
claudeops_check_duration_seconds{check="container",service="web",type="container"} 0.02
claudeops_check_duration_seconds{check="http",service="web",type="http"} 0.012
claudeops_check_duration_seconds{check="port",service="db",type="tcp"} 0.001
claudeops_check_status{check="backup",service="web",status="degraded",type="declared_check"} 0
claudeops_check_status{check="backup",service="web",status="failing",type="declared_check"} 0
claudeops_check_status{check="backup",service="web",status="ok",type="declared_check"} 0
claudeops_check_status{check="backup",service="web",status="unknown",type="declared_check"} 1
claudeops_check_status{check="container",service="web",status="degraded",type="container"} 1
claudeops_check_status{check="container",service="web",status="failing",type="container"} 0
claudeops_check_status{check="container",service="web",status="ok",type="container"} 0
claudeops_check_status{check="container",service="web",status="unknown",type="container"} 0
claudeops_check_status{check="http",service="web",status="degraded",type="http"} 0
claudeops_check_status{check="http",service="web",status="failing",type="http"} 0
claudeops_check_status{check="http",service="web",status="ok",type="http"} 1
claudeops_check_status{check="http",service="web",status="unknown",type="http"} 0
claudeops_check_status{check="port",service="db",status="degraded",type="tcp"} 0
claudeops_check_status{check="port",service="db",status="failing",type="tcp"} 1
claudeops_check_status{check="port",service="db",status="ok",type="tcp"} 0
claudeops_check_status{check="port",service="db",status="unknown",type="tcp"} 0
claudeops_checks_unplanned{service="backup"} 1
claudeops_checks_unplanned{service="web"} 2
` + scalarHeaders + `
claudeops_services_discovered 3
claudeops_tier1_last_run_timestamp_seconds 1772366400
claudeops_tier1_last_success_timestamp_seconds 1772366400
claudeops_check_series_dropped 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// The Gatherer path serves the same, sorted as a registry sorts.
	if err := testutil.GatherAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	var viaReg, viaGather bytes.Buffer
	if err := encode(&viaReg, reg); err != nil {
		t.Fatal(err)
	}
	if err := encode(&viaGather, c); err != nil {
		t.Fatal(err)
	}
	if viaReg.String() != viaGather.String() {
		t.Errorf("registry and Gather differ:\n%s\n----\n%s", viaReg.String(), viaGather.String())
	}

	// The plan stops (no probes): the reported checks are back, the state
	// set goes.
	c.UpdateProbes(ProbeState{})
	if n := testutil.CollectAndCount(c, "claudeops_check_success"); n != 5 {
		t.Errorf("%d success series after the plan stopped, want the 5 reported", n)
	}
	if n := testutil.CollectAndCount(c, "claudeops_check_status"); n != 4*5 {
		t.Errorf("%d state-set series without a plan, want 4 for each of the 5 reported checks", n)
	}
	if n := testutil.CollectAndCount(c, "claudeops_checks_unplanned"); n != 0 {
		t.Errorf("%d unplanned series without a plan", n)
	}
}

// TestTier1CollectorProbesCap: probes count against the cap like checks.
func TestTier1CollectorProbesCap(t *testing.T) {
	c := NewTier1Collector(2)
	c.UpdateProbes(ProbeState{Active: true, Checks: []ProbeCheck{
		{Service: "a", Check: "1", Type: session.ProbeTypeHTTP, Status: StatusOK},
		{Service: "a", Check: "2", Type: session.ProbeTypeHTTP, Status: StatusOK},
		{Service: "a", Check: "3", Type: session.ProbeTypeHTTP, Status: StatusOK},
	}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if n := testutil.CollectAndCount(c, "claudeops_check_status"); n != 8 {
		t.Errorf("%d state-set series, want 2 probes × 4", n)
	}
	if v := testutil.ToFloat64(gaugeOf(t, c, "claudeops_check_series_dropped")); v != 1 {
		t.Errorf("dropped = %v, want 1", v)
	}
}
