package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/probes"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

func TestProbeFlags(t *testing.T) {
	o, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.probe.mode != modePlan || o.probe.interval != 30*time.Second || o.probe.discovery != 24*time.Hour || o.probe.concurrency != 8 {
		t.Errorf("probe defaults: %+v", o.probe)
	}
	o, err = parse(t, map[string]string{"CLAUDEOPS_TIER1_MODE": "check", "CLAUDEOPS_PROBE_INTERVAL": "10", "CLAUDEOPS_DISCOVERY_INTERVAL": "6h"})
	if err != nil || o.probe.mode != modeCheck || o.probe.interval != 10*time.Second || o.probe.discovery != 6*time.Hour {
		t.Errorf("probe flags from the environment: %+v, %v", o.probe, err)
	}
	for _, bad := range []string{"--tier1.mode=both", "--probe.interval=0", "--discovery.interval=never"} {
		if _, err := parse(t, nil, bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestTier1Findings: remediation sessions see the probes' latest results
// as the service's checks while a plan runs.
func TestTier1Findings(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	res := &session.Tier1Result{Summary: "planned", Services: []session.Service{{Name: "Web", Checks: []session.Check{},
		Probes: []session.Probe{{Name: "port", Type: session.ProbeTypeTCP, TCP: &session.TCPProbeSpec{Target: "127.0.0.1:1"}}}}}}
	if err := st.SaveTier1(ctx, store.Tier1State{SessionID: "s1", RunAt: at, Success: true, Result: res}); err != nil {
		t.Fatal(err)
	}
	w := &tier1Wiring{}
	if got, _ := w.Tier1Loader(st).LoadTier1(ctx); got.Result == nil || len(got.Result.Services[0].Checks) != 0 {
		t.Errorf("check mode: %+v", got.Result)
	}
	cat := services.Build([]services.Decl{{Repo: "r", Service: repos.ServiceDecl{Name: "web", Hosts: []string{"127.0.0.1:1"}}}}, nil)
	w.runner = probes.New(probes.Config{Now: func() time.Time { return at },
		Catalog: func(context.Context) (*services.Catalog, error) { return cat, nil }})
	w.runner.SetPlan(&probes.Plan{Probes: []probes.PlannedProbe{{Service: "web", Probe: res.Services[0].Probes[0]}}})
	w.runner.Round(ctx) // nothing listens on port 1: the probe fails
	got, err := w.Tier1Loader(st).LoadTier1(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checks := got.Result.Services[0].Checks
	if len(checks) != 1 || checks[0].Name != "port" || checks[0].Type != "service" || checks[0].Status != "down" ||
		checks[0].Detail == "" {
		t.Errorf("findings: %+v", checks)
	}
	if again, _ := st.LoadTier1(ctx); len(again.Result.Services[0].Checks) != 0 {
		t.Error("the stored result was modified")
	}
}
