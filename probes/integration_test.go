package probes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/collector"
	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/probes"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/runner/podmantest"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// httpTarget is an HTTP server on a fixed address that can be stopped and
// started again on the same port.
type httpTarget struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func startHTTP(t *testing.T, addr string) *httpTarget {
	t.Helper()
	h := &httpTarget{addr: addr}
	h.start(t)
	t.Cleanup(h.stop)
	return h
}

func (h *httpTarget) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, `{"status":"ok"}`)
	}), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(l) }()
	h.mu.Lock()
	h.srv = srv
	h.mu.Unlock()
}

func (h *httpTarget) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		_ = h.srv.Close()
		h.srv = nil
	}
}

// tcpTarget is a TCP listener (a database's port) that accepts and closes.
type tcpTarget struct {
	addr string
	mu   sync.Mutex
	l    net.Listener
}

func startTCP(t *testing.T) *tcpTarget {
	t.Helper()
	tt := &tcpTarget{addr: "127.0.0.1:0"}
	tt.start(t)
	t.Cleanup(tt.stop)
	return tt
}

func (tt *tcpTarget) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", tt.addr)
	if err != nil {
		t.Fatal(err)
	}
	tt.addr = l.Addr().String()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tt.mu.Lock()
	tt.l = l
	tt.mu.Unlock()
}

func (tt *tcpTarget) stop() {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.l != nil {
		_ = tt.l.Close()
		tt.l = nil
	}
}

// scriptedPlan is what the scripted model returns for the shop repo (the
// e2e test has the real CLI return the same): web over HTTP, db's port,
// cache's container, a probe at a host no manifest declares, and a prose
// check it could not turn into a probe.
func scriptedPlan(webAddr, dbAddr string) string {
	return fmt.Sprintf(`{"summary":"3 services planned","services":[
	  {"name":"web","checks":[],"probes":[
	    {"name":"http","type":"http","timeout_seconds":2,"http":{"url":"http://%s/healthz","valid_status_codes":[200],"body_regexp":"\"status\":\"ok\""}},
	    {"name":"intranet","type":"http","http":{"url":"http://192.0.2.1/"}}
	  ]},
	  {"name":"db","checks":[],"probes":[{"name":"port","type":"tcp","timeout_seconds":2,"tcp":{"target":"%s"}}],
	   "unplanned":[{"check":"backup","reason":"the backup check reads a log a human must judge"}]},
	  {"name":"cache","checks":[],"probes":[{"name":"container","type":"container","container":{"service":"cache"}}]}
	]}`, webAddr, dbAddr)
}

// successes gathers claudeops_check_success by "service/check".
func successes(t *testing.T, c *collector.Tier1Collector) map[string]float64 {
	t.Helper()
	mfs, err := c.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "claudeops_check_success" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out[l["service"]+"/"+l["check"]+"/"+l["type"]] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestProbePlanAgainstRealTargets is issue 16's proof with real targets: a
// real HTTP server, a real TCP listener and a podman container. The
// scripted model's plan is validated (the probe at a host outside the
// inventory refused with its reason, the rest kept), stored, and run by the
// runner at every tick the test sends (the interval, driven by the test);
// each target stopped turns its series to failing at the next round, and
// started again turns it back. A restarted daemon runs the stored plan.
func TestProbePlanAgainstRealTargets(t *testing.T) {
	pm := podmantest.Start(t)
	eng, err := engine.New(pm.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	pm.Run(t, "cache", nil)
	web := startHTTP(t, "127.0.0.1:0")
	db := startTCP(t)

	reposDir := t.TempDir()
	manifest := fmt.Sprintf("services:\n  - name: web\n    hosts: [%q]\n  - name: db\n    hosts: [%q]\n  - name: cache\n", web.addr, db.addr)
	writeFile(t, filepath.Join(reposDir, "shop", ".claude-ops", "services.yaml"), manifest)
	writeFile(t, filepath.Join(reposDir, "shop", "CLAUDE-OPS.md"), "# shop\nweb, its database and a cache.\n")
	catalog := func(ctx context.Context) (*services.Catalog, error) {
		inv, _ := repos.Load(reposDir, nil)
		list, err := eng.Containers(ctx)
		var cs []services.Container
		for _, c := range list {
			cs = append(cs, services.Container{ID: c.ID, Name: c.Name})
		}
		return services.Build(services.FromInventory(inv), cs), err
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "claude-ops.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	tier1 := collector.NewTier1Collector(0)
	rounds := make(chan []collector.ProbeCheck, 1)
	sink := sinkFunc(func(ps collector.ProbeState) {
		tier1.UpdateProbes(ps)
		if ps.Active {
			rounds <- ps.Checks
		}
	})
	tick := make(chan time.Time)
	var unforeseen []string
	var mu sync.Mutex
	lim := probes.Limits{}
	r := probes.New(probes.Config{Interval: time.Second, Limits: lim, Catalog: catalog, Engine: eng, Sink: sink, Tick: tick,
		OnUnforeseen: func(s string) { mu.Lock(); unforeseen = append(unforeseen, s); mu.Unlock() }})
	keeper := &probes.Keeper{Store: st, Runner: r, Catalog: catalog, Limits: lim}

	res, err := session.ParseTier1(json.RawMessage(scriptedPlan(web.addr, db.addr)))
	if err != nil {
		t.Fatal(err)
	}
	hash, err := probes.ReposHash(reposDir)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := keeper.Adopt(context.Background(), "s-plan", time.Now(), hash, res)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Version != 1 || len(plan.Accepted()) != 3 || len(plan.Refusals()) != 1 {
		t.Fatalf("plan %d: %d accepted, refusals %+v", plan.Version, len(plan.Accepted()), plan.Refusals())
	}
	if got, want := plan.Refusals()[0].Refused,
		"http: 192.0.2.1:80 is not a host of the inventory (no service declares it in .claude-ops/services.yaml)"; got != want {
		t.Errorf("refusal reason %q, want %q", got, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	round := func(what string) {
		t.Helper()
		select {
		case <-rounds:
		case <-time.After(30 * time.Second):
			t.Fatalf("no round %s", what)
		}
	}
	interval := func(what string) { // one interval passes: one tick, one round
		t.Helper()
		select {
		case tick <- time.Now():
		case <-time.After(30 * time.Second):
			t.Fatalf("the runner took no tick %s", what)
		}
		round(what)
	}
	expect := func(what string, want map[string]float64) {
		t.Helper()
		got := successes(t, tier1)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: claudeops_check_success %s = %v, want %v (all: %v)", what, k, got[k], v, got)
			}
		}
		if len(got) != 3 {
			t.Errorf("%s: %d check series, want 3: %v", what, len(got), got)
		}
	}
	allUp := map[string]float64{"web/http/http": 1, "db/port/tcp": 1, "cache/container/container": 1}
	round("at start")
	expect("at start", allUp)
	interval("an interval later")
	expect("an interval later", allUp)

	for _, target := range []struct {
		series      string
		stop, start func()
	}{
		{"web/http/http", web.stop, func() { web.start(t) }},
		{"db/port/tcp", db.stop, func() { db.start(t) }},
		{"cache/container/container", func() { pm.Podman(t, "stop", "-t", "0", "cache") }, func() { pm.Podman(t, "start", "cache") }},
	} {
		target.stop()
		interval(target.series + " stopped")
		down := map[string]float64{}
		for k, v := range allUp {
			down[k] = v
		}
		down[target.series] = 0
		expect(target.series+" stopped, one interval later", down)
		target.start()
		interval(target.series + " started")
		expect(target.series+" started again, one interval later", allUp)
	}
	mu.Lock()
	if len(unforeseen) != 0 {
		t.Errorf("stopped targets are clean failures, not unforeseen: %q", unforeseen)
	}
	mu.Unlock()
	if v := unplanned(t, tier1, "db"); v != 1 {
		t.Errorf("claudeops_checks_unplanned{service=\"db\"} = %v, want 1", v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A restart: the stored plan comes back as it was and runs.
	tier2 := collector.NewTier1Collector(0)
	r2 := probes.New(probes.Config{Limits: lim, Catalog: catalog, Engine: eng, Sink: tier2})
	k2 := &probes.Keeper{Store: st, Runner: r2, Catalog: catalog, Limits: lim}
	back, err := k2.Load(context.Background())
	if err != nil || back == nil || back.Version != 1 || back.ReposHash != hash || len(back.Refusals()) != 1 {
		t.Fatalf("stored plan after a restart: %+v, %v", back, err)
	}
	r2.Round(context.Background())
	if got := successes(t, tier2); len(got) != 3 || got["cache/container/container"] != 1 {
		t.Errorf("the stored plan's first round: %v", got)
	}
}

type sinkFunc func(collector.ProbeState)

func (f sinkFunc) UpdateProbes(ps collector.ProbeState) { f(ps) }

func unplanned(t *testing.T, c *collector.Tier1Collector, service string) float64 {
	t.Helper()
	mfs, _ := c.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "claudeops_checks_unplanned" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == service {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no claudeops_checks_unplanned{service=%q}", service)
	return 0
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
