package collector

import (
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // 1772366400
	t5 = t0.Add(5 * time.Minute)                      // 1772366700
)

func threeServices() *session.Tier1Result {
	return &session.Tier1Result{Summary: "mostly fine", Services: []session.Service{
		{Name: "web", Checks: []session.Check{
			{Name: "http", Type: "http", Status: "ok", LatencyMS: 120},
			{Name: "container", Type: "container", Status: "ok", LatencyMS: 5},
		}},
		{Name: "db", Checks: []session.Check{
			{Name: "tcp", Type: "database", Status: "degraded", LatencyMS: 2500},
		}},
		{Name: "dns", Checks: []session.Check{
			{Name: "resolve", Type: "dns", Status: "down", LatencyMS: 0},
			{Name: "ping", Type: "icmp", Status: "ok", LatencyMS: 42},
		}},
	}}
}

func newRegistry(t *testing.T, c prometheus.Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	return reg
}

const checkHeaders = `
# HELP claudeops_check_success Whether the check passed (status ok): its probe's latest run when a probe plan runs, else the latest successful Tier 1 run's report: 1 or 0.
# TYPE claudeops_check_success gauge
# HELP claudeops_check_duration_seconds How long the check's probe took in its latest run, else the latency the latest successful Tier 1 run reported.
# TYPE claudeops_check_duration_seconds gauge
`

// reportedFamilies are the families compared whole; the state set is
// checked on its own (TestTier1CollectorReportedStatus).
var reportedFamilies = []string{
	"claudeops_check_success", "claudeops_check_duration_seconds", "claudeops_services_discovered",
	"claudeops_tier1_last_run_timestamp_seconds", "claudeops_tier1_last_success_timestamp_seconds", "claudeops_check_series_dropped",
}

// TestTier1CollectorReportedStatus: without a plan, each check Tier 1
// reported has the state set too: ok, degraded, down as failing, anything
// else unknown. Only failing pages (ClaudeOpsCheckFailing).
func TestTier1CollectorReportedStatus(t *testing.T) {
	c := NewTier1Collector(0)
	reg := newRegistry(t, c)
	r := threeServices()
	r.Services[2].Checks[1].Status = "rebooting" // not a status: unknown
	c.Update(store.Tier1State{LastRun: t0, LastSuccess: t0, Result: r})
	want := map[string]string{"http": "ok", "container": "ok", "tcp": "degraded", "resolve": "failing", "ping": "unknown"}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		if mf.GetName() != "claudeops_check_status" {
			continue
		}
		for _, m := range mf.GetMetric() {
			ls := map[string]string{}
			for _, lp := range m.GetLabel() {
				ls[lp.GetName()] = lp.GetValue()
			}
			if m.GetGauge().GetValue() == 1 {
				if got[ls["check"]] != "" {
					t.Errorf("check %s has two statuses: %s and %s", ls["check"], got[ls["check"]], ls["status"])
				}
				got[ls["check"]] = ls["status"]
			}
		}
		if n := len(mf.GetMetric()); n != 4*len(want) {
			t.Errorf("%d state-set series, want 4 per check", n)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
}

const scalarHeaders = `
# HELP claudeops_services_discovered Services in the latest successful Tier 1 result.
# TYPE claudeops_services_discovered gauge
# HELP claudeops_tier1_last_run_timestamp_seconds Unix time of the latest Tier 1 run, successful or not; 0 if none.
# TYPE claudeops_tier1_last_run_timestamp_seconds gauge
# HELP claudeops_tier1_last_success_timestamp_seconds Unix time of the latest successful Tier 1 run; 0 if none.
# TYPE claudeops_tier1_last_success_timestamp_seconds gauge
# HELP claudeops_check_series_dropped Checks of the latest Tier 1 result not exported because the result exceeded the collector's cap.
# TYPE claudeops_check_series_dropped gauge
`

func TestTier1CollectorNeverRan(t *testing.T) {
	reg := newRegistry(t, NewTier1Collector(0))
	want := scalarHeaders + `
claudeops_services_discovered 0
claudeops_tier1_last_run_timestamp_seconds 0
claudeops_tier1_last_success_timestamp_seconds 0
claudeops_check_series_dropped 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestTier1CollectorUpdate(t *testing.T) {
	c := NewTier1Collector(0)
	reg := newRegistry(t, c)
	c.Update(store.Tier1State{LastRun: t0, LastSuccess: t0, Result: threeServices()})
	want := checkHeaders + `
claudeops_check_success{check="http",service="web",type="http"} 1
claudeops_check_success{check="container",service="web",type="container"} 1
claudeops_check_success{check="tcp",service="db",type="database"} 0
claudeops_check_success{check="resolve",service="dns",type="dns"} 0
claudeops_check_success{check="ping",service="dns",type="custom"} 1
claudeops_check_duration_seconds{check="http",service="web",type="http"} 0.12
claudeops_check_duration_seconds{check="container",service="web",type="container"} 0.005
claudeops_check_duration_seconds{check="tcp",service="db",type="database"} 2.5
claudeops_check_duration_seconds{check="resolve",service="dns",type="dns"} 0
claudeops_check_duration_seconds{check="ping",service="dns",type="custom"} 0.042
` + scalarHeaders + `
claudeops_services_discovered 3
claudeops_tier1_last_run_timestamp_seconds 1772366400
claudeops_tier1_last_success_timestamp_seconds 1772366400
claudeops_check_series_dropped 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), reportedFamilies...); err != nil {
		t.Error(err)
	}

	// A newer result without dns: its series are gone. The failed run after
	// it moves only the last-run time (LoadTier1 keeps the good result).
	r := threeServices()
	r.Services = r.Services[:2]
	r.Services[1].Checks[0].Status = "ok"
	c.Update(store.Tier1State{LastRun: t5, LastSuccess: t0.Add(time.Minute), Result: r})
	want = checkHeaders + `
claudeops_check_success{check="http",service="web",type="http"} 1
claudeops_check_success{check="container",service="web",type="container"} 1
claudeops_check_success{check="tcp",service="db",type="database"} 1
claudeops_check_duration_seconds{check="http",service="web",type="http"} 0.12
claudeops_check_duration_seconds{check="container",service="web",type="container"} 0.005
claudeops_check_duration_seconds{check="tcp",service="db",type="database"} 2.5
` + scalarHeaders + `
claudeops_services_discovered 2
claudeops_tier1_last_run_timestamp_seconds 1772366700
claudeops_tier1_last_success_timestamp_seconds 1772366460
claudeops_check_series_dropped 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), reportedFamilies...); err != nil {
		t.Error(err)
	}
}

// TestTier1CollectorSaveShape: a state shaped like a SaveTier1 argument works too.
func TestTier1CollectorSaveShape(t *testing.T) {
	c := NewTier1Collector(0)
	reg := newRegistry(t, c)
	c.Update(store.Tier1State{RunAt: t5, Success: true, Result: &session.Tier1Result{}})
	want := scalarHeaders + `
claudeops_services_discovered 0
claudeops_tier1_last_run_timestamp_seconds 1772366700
claudeops_tier1_last_success_timestamp_seconds 1772366700
claudeops_check_series_dropped 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), reportedFamilies...); err != nil {
		t.Error(err)
	}
}

func TestTier1CollectorSanitizes(t *testing.T) {
	c := NewTier1Collector(0)
	reg := newRegistry(t, c)
	long := strings.Repeat("A", 70)
	c.Update(store.Tier1State{LastRun: t0, LastSuccess: t0, Result: &session.Tier1Result{Services: []session.Service{
		{Name: "Web Frontend/Prod", Checks: []session.Check{
			{Name: "API", Type: "HTTP", Status: "OK", LatencyMS: 10},
			{Name: "api", Type: "http", Status: "down", LatencyMS: 99}, // duplicate after sanitising: dropped
			{Name: "", Type: "", Status: "ok", LatencyMS: -3},          // empty name, no type, bad latency
			{Name: "café \"quoted\"\n", Type: "container", Status: "unknown", LatencyMS: 1},
		}},
		{Name: "web_frontend_prod", Checks: []session.Check{ // same service after sanitising
			{Name: "api", Type: "dns", Status: "ok", LatencyMS: 2}, // other type: kept
		}},
		{Name: long, Checks: []session.Check{{Name: long, Type: "database", Status: "ok", LatencyMS: 1}}},
	}}})
	l64 := strings.Repeat("a", 64)
	want := checkHeaders + `
claudeops_check_success{check="api",service="web_frontend_prod",type="http"} 1
claudeops_check_success{check="unknown",service="web_frontend_prod",type="custom"} 1
claudeops_check_success{check="caf___quoted__",service="web_frontend_prod",type="container"} 0
claudeops_check_success{check="api",service="web_frontend_prod",type="dns"} 1
claudeops_check_success{check="` + l64 + `",service="` + l64 + `",type="database"} 1
claudeops_check_duration_seconds{check="api",service="web_frontend_prod",type="http"} 0.01
claudeops_check_duration_seconds{check="unknown",service="web_frontend_prod",type="custom"} 0
claudeops_check_duration_seconds{check="caf___quoted__",service="web_frontend_prod",type="container"} 0.001
claudeops_check_duration_seconds{check="api",service="web_frontend_prod",type="dns"} 0.002
claudeops_check_duration_seconds{check="` + l64 + `",service="` + l64 + `",type="database"} 0.001
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"claudeops_check_success", "claudeops_check_duration_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.ToFloat64(gaugeOf(t, reg, "claudeops_services_discovered")); n != 2 {
		t.Errorf("services_discovered = %v, want 2", n)
	}
}

// gaugeOf gathers one scalar metric as a collector for testutil.ToFloat64.
func gaugeOf(t *testing.T, g prometheus.Gatherer, name string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: "copy"},
				func() float64 { return mf.Metric[0].GetGauge().GetValue() })
		}
	}
	t.Fatalf("%s not gathered", name)
	return nil
}

func TestTier1CollectorCut(t *testing.T) {
	c := NewTier1Collector(3)
	reg := newRegistry(t, c)
	var checks []session.Check
	for _, name := range []string{"a", "b", "a", "c", "d", "e", "b"} { // a, b: duplicates
		checks = append(checks, session.Check{Name: name, Type: "http", Status: "ok", LatencyMS: 1000})
	}
	c.Update(store.Tier1State{LastRun: t0, LastSuccess: t0, Result: &session.Tier1Result{
		Services: []session.Service{{Name: "svc", Checks: checks}}}})
	want := `
# HELP claudeops_check_success Whether the check passed (status ok): its probe's latest run when a probe plan runs, else the latest successful Tier 1 run's report: 1 or 0.
# TYPE claudeops_check_success gauge
claudeops_check_success{check="a",service="svc",type="http"} 1
claudeops_check_success{check="b",service="svc",type="http"} 1
claudeops_check_success{check="c",service="svc",type="http"} 1
# HELP claudeops_check_series_dropped Checks of the latest Tier 1 result not exported because the result exceeded the collector's cap.
# TYPE claudeops_check_series_dropped gauge
claudeops_check_series_dropped 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"claudeops_check_success", "claudeops_check_series_dropped"); err != nil {
		t.Error(err)
	}
}

func TestSanitizeLabel(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "unknown",
		"web":                   "web",
		"Web-1.prod_x":          "web-1.prod_x",
		"a b/c:d":               "a_b_c_d",
		"ÉTÉ":                   "_t_",
		strings.Repeat("x", 65): strings.Repeat("x", 64),
		"claude-sonnet-4-5":     "claude-sonnet-4-5",
	} {
		if got := SanitizeLabel(in); got != want {
			t.Errorf("SanitizeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCollectAllocatesNothing: a scrape hands out prebuilt samples.
func TestCollectAllocatesNothing(t *testing.T) {
	c := NewTier1Collector(0)
	c.Update(bigState(1000, 10))
	ch := make(chan prometheus.Metric, 70000) // 10,000 checks × (success, duration, 4 statuses)
	allocs := testing.AllocsPerRun(5, func() {
		c.Collect(ch)
		for len(ch) > 0 {
			<-ch
		}
	})
	if allocs > 10 {
		t.Errorf("Collect allocated %v times for 10,000 checks", allocs)
	}
}

// TestTier1CollectorConcurrent runs two scrapers (registry and Gatherer
// paths, encoding to protobuf, which writes size caches in the shared
// samples) while Update swaps the state; run with -race.
func TestTier1CollectorConcurrent(t *testing.T) {
	c := NewTier1Collector(0)
	reg := newRegistry(t, c)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, g := range []prometheus.Gatherer{reg, c} {
					mfs, err := g.Gather()
					if err != nil {
						t.Error(err)
						return
					}
					for _, mf := range mfs {
						if _, err := proto.Marshal(mf); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}
		})
	}
	for i := range 50 {
		c.Update(bigState(5+i%3, 4))
	}
	close(stop)
	wg.Wait()
}
