package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/common/model"

	"github.com/claude-ops/claude-ops/collector"
	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

// catalogOf declares one service "svc" with the given hosts and checks.
func catalogOf(hosts []string, checks ...repos.CheckDecl) *services.Catalog {
	return services.Build([]services.Decl{{Repo: "r", Service: repos.ServiceDecl{Name: "svc", Hosts: hosts, Checks: checks}}}, nil)
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	return strings.TrimPrefix(rawURL, "http://")
}

// planOf is a plan of the given probes of service svc, validated.
func planOf(t *testing.T, cat *services.Catalog, lim Limits, ps ...session.Probe) *Plan {
	t.Helper()
	p := Build(&session.Tier1Result{Services: []session.Service{{Name: "svc", Probes: ps}}}, cat, lim)
	for _, r := range p.Refusals() {
		t.Fatalf("probe %s refused: %s", r.Name, r.Refused)
	}
	return p
}

type unforeseenLog struct {
	mu      sync.Mutex
	reasons []string
}

func (u *unforeseenLog) add(r string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reasons = append(u.reasons, r)
}

func (u *unforeseenLog) all() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.reasons...)
}

func byCheck(rs []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range rs {
		m[r.Check] = r
	}
	return m
}

// TestRoundOutcomes: what each kind of answer makes of a probe, and which
// failures call for a new plan (only the unforeseen ones, once per plan).
func TestRoundOutcomes(t *testing.T) {
	okSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "status: all good")
	}))
	defer okSrv.Close()
	errSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer errSrv.Close()
	redirect := httptest.NewServer(http.RedirectHandler("http://10.1.2.3/", http.StatusFound))
	defer redirect.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpUp := l.Addr().String()
	defer l.Close()
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	tcpDown := l2.Addr().String()
	l2.Close()

	script := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho checking\necho \"backup is 30h old\"\nexit 2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cat := catalogOf([]string{hostOf(t, okSrv.URL), hostOf(t, errSrv.URL), hostOf(t, redirect.URL), tcpUp, tcpDown, "gone.invalid"},
		repos.CheckDecl{Name: "passes", Command: repos.Command{Argv: []string{"true"}, Timeout: model.Duration(5 * time.Second)}},
		repos.CheckDecl{Name: "fails", Command: repos.Command{Argv: []string{script}, Timeout: model.Duration(5 * time.Second)}},
		repos.CheckDecl{Name: "missing", Command: repos.Command{Argv: []string{"/nonexistent/check"}, Timeout: model.Duration(5 * time.Second)}},
		repos.CheckDecl{Name: "hangs", Command: repos.Command{Argv: []string{"sleep", "30"}, Timeout: model.Duration(time.Second)}},
	)
	h := func(name, url string, f func(*session.HTTPProbeSpec)) session.Probe {
		spec := &session.HTTPProbeSpec{URL: url}
		if f != nil {
			f(spec)
		}
		return session.Probe{Name: name, Type: session.ProbeTypeHTTP, HTTP: spec, TimeoutSeconds: 2}
	}
	dc := func(name string) session.Probe {
		return session.Probe{Name: "check-" + name, Type: session.ProbeTypeDeclaredCheck,
			DeclaredCheck: &session.DeclaredCheckSpec{Service: "svc", Check: name}}
	}
	probes := []session.Probe{
		h("ok", okSrv.URL+"/", nil),
		h("body-ok", okSrv.URL+"/", func(s *session.HTTPProbeSpec) { s.BodyRegexp = "all good" }),
		h("body-mismatch", okSrv.URL+"/", func(s *session.HTTPProbeSpec) { s.BodyRegexp = "^degraded" }),
		h("head", okSrv.URL+"/", func(s *session.HTTPProbeSpec) { s.Method = "HEAD" }),
		h("500", errSrv.URL+"/", nil),
		h("500-expected", errSrv.URL+"/", func(s *session.HTTPProbeSpec) { s.ValidStatusCodes = []int{500} }),
		h("redirect-not-followed", redirect.URL+"/", nil),
		h("gone", "http://gone.invalid/", nil),
		{Name: "tcp-up", Type: session.ProbeTypeTCP, TCP: &session.TCPProbeSpec{Target: tcpUp}},
		{Name: "tcp-down", Type: session.ProbeTypeTCP, TCP: &session.TCPProbeSpec{Target: tcpDown}},
		dc("passes"), dc("fails"), dc("missing"), dc("hangs"),
	}
	lim := Limits{}
	var (
		mu  sync.Mutex
		cur = cat
	)
	c := collector.NewTier1Collector(0)
	var unforeseen unforeseenLog
	r := New(Config{Limits: lim, Sink: c, Commands: runner.Commands{Env: []string{"PATH=/usr/bin:/bin"}}, OnUnforeseen: unforeseen.add,
		Catalog: func(context.Context) (*services.Catalog, error) { mu.Lock(); defer mu.Unlock(); return cur, nil }})
	r.SetPlan(planOf(t, cat, lim, probes...))

	goneNotFound := false
	if _, err := net.DefaultResolver.LookupHost(context.Background(), "gone.invalid"); err != nil {
		var de *net.DNSError
		goneNotFound = errors.As(err, &de) && de.IsNotFound
	}

	res := byCheck(r.Round(context.Background()))
	want := map[string]struct{ status, detail string }{
		"ok":                    {"ok", "HTTP 200"},
		"body-ok":               {"ok", "HTTP 200"},
		"body-mismatch":         {"failing", "Body did not match regular expression"},
		"head":                  {"ok", "HTTP 200"},
		"500":                   {"failing", "HTTP 500"},
		"500-expected":          {"ok", "HTTP 500"},
		"redirect-not-followed": {"failing", "HTTP 302"},
		"tcp-up":                {"ok", "connected"},
		"tcp-down":              {"failing", "connection refused"},
		"check-passes":          {"ok", "exit 0"},
		"check-fails":           {"failing", "exit 2: backup is 30h old"},
		"check-missing":         {"unknown", "/nonexistent/check"},
		"check-hangs":           {"failing", "timed out after 1s"},
	}
	if goneNotFound {
		want["gone"] = struct{ status, detail string }{"failing", "no such host"}
	}
	for check, w := range want {
		got, found := res[check]
		if !found {
			t.Errorf("%s: no result", check)
			continue
		}
		if got.Status != w.status || !strings.Contains(got.Detail, w.detail) {
			t.Errorf("%s: %s %q, want %s containing %q", check, got.Status, got.Detail, w.status, w.detail)
		}
		if got.Type == "" || got.Service != "svc" || got.At.IsZero() {
			t.Errorf("%s: result %+v", check, got)
		}
	}
	// Only the name that no longer resolves calls for a new plan, once.
	reasons := unforeseen.all()
	if goneNotFound {
		if len(reasons) != 1 || !strings.Contains(reasons[0], "probe gone of service svc: the name gone.invalid no longer resolves") {
			t.Errorf("unforeseen = %q", reasons)
		}
	} else if len(reasons) != 0 {
		t.Errorf("unforeseen = %q", reasons)
	}
	r.Round(context.Background())
	if got := unforeseen.all(); len(got) != len(reasons) {
		t.Errorf("the same unforeseen failure was reported again: %q", got)
	}

	// A target that leaves the inventory is not probed: unknown, and
	// unforeseen.
	mu.Lock()
	cur = catalogOf([]string{hostOf(t, errSrv.URL), hostOf(t, redirect.URL), tcpUp, tcpDown, "gone.invalid"})
	mu.Unlock()
	res = byCheck(r.Round(context.Background()))
	if got := res["ok"]; got.Status != "unknown" || !strings.Contains(got.Unforeseen, "its target left the inventory: http: "+hostOf(t, okSrv.URL)+" is not a host of the inventory") {
		t.Errorf("probe of a host no longer declared: %+v", got)
	}
	if got := unforeseen.all(); len(got) != len(reasons)+1 || !strings.Contains(got[len(got)-1], "probe ok of service svc") ||
		!strings.Contains(got[len(got)-1], "probe check-passes of service svc") {
		t.Errorf("unforeseen after the inventory changed: %q", got)
	}
}

// TestRoundDNS runs dns probes against a DNS server of the test's own.
func TestRoundDNS(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		records = map[string]string{"web.example.com.": "192.0.2.10"}
	)
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		mu.Lock()
		ip, found := records[q.Question[0].Name]
		mu.Unlock()
		switch {
		case !found:
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A " + ip)
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	defer srv.Shutdown()

	cat := catalogOf([]string{"web.example.com", "api.example.com"})
	lim := Limits{}
	var unforeseen unforeseenLog
	r := New(Config{Limits: lim, DNSServer: pc.LocalAddr().String(), OnUnforeseen: unforeseen.add,
		Catalog: func(context.Context) (*services.Catalog, error) { return cat, nil }})
	d := func(name, host, typ string) session.Probe {
		return session.Probe{Name: name, Type: session.ProbeTypeDNS, DNS: &session.DNSProbeSpec{Name: host, Type: typ}, TimeoutSeconds: 2}
	}
	r.SetPlan(planOf(t, cat, lim, d("a", "web.example.com", ""), d("aaaa", "web.example.com", "AAAA"), d("gone", "api.example.com", "A")))
	res := byCheck(r.Round(context.Background()))
	if got := res["a"]; got.Status != "ok" || got.Detail != "web.example.com A: 1 answers" {
		t.Errorf("A record: %+v", got)
	}
	if got := res["aaaa"]; got.Status != "failing" || got.Unforeseen != "" {
		t.Errorf("no AAAA answer: %+v", got)
	}
	if got := res["gone"]; got.Status != "failing" || got.Unforeseen != "the name api.example.com no longer exists (NXDOMAIN)" {
		t.Errorf("NXDOMAIN: %+v", got)
	}
	if got := unforeseen.all(); len(got) != 1 {
		t.Errorf("unforeseen = %q", got)
	}

	// A resolver that does not answer: unknown, not a new plan.
	srv.Shutdown()
	r.SetPlan(planOf(t, cat, lim, d("a", "web.example.com", "")))
	res = byCheck(r.Round(context.Background()))
	if got := res["a"]; got.Status != "unknown" || got.Unforeseen != "" {
		t.Errorf("resolver down: %+v", got)
	}
}

// TestRoundPrometheus: an empty answer or zeros pass; a non-zero value
// fails; an expression Prometheus rejects calls for a new plan.
func TestRoundPrometheus(t *testing.T) {
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("query") {
		case "empty":
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
		case "zeros":
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1,"0"]}]}}`)
		case "errors":
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1,"0"]},{"metric":{"job":"b"},"value":[1,"3"]}]}}`)
		case "scalar":
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"scalar","result":[1,"0"]}}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"parse error at char 3"}`)
		}
	}))
	defer prom.Close()
	cat := catalogOf(nil)
	lim := Limits{Prometheus: true}
	var unforeseen unforeseenLog
	r := New(Config{Limits: lim, PrometheusURL: prom.URL + "/", OnUnforeseen: unforeseen.add,
		Catalog: func(context.Context) (*services.Catalog, error) { return cat, nil }})
	p := func(expr string) session.Probe {
		return session.Probe{Name: expr, Type: session.ProbeTypePrometheus, Prometheus: &session.PromQLProbeSpec{Expr: expr}}
	}
	r.SetPlan(planOf(t, cat, lim, p("empty"), p("zeros"), p("errors"), p("scalar"), p("bad((")))
	res := byCheck(r.Round(context.Background()))
	for check, want := range map[string]string{"empty": "ok", "zeros": "ok", "scalar": "ok", "errors": "failing", "bad__": "unknown"} {
		if got := res[check]; got.Status != want {
			t.Errorf("%s: %+v, want %s", check, got, want)
		}
	}
	if got := res["errors"].Detail; got != "2 results, e.g. map[job:b] = 3" {
		t.Errorf("detail %q", got)
	}
	if got := unforeseen.all(); len(got) != 1 || !strings.Contains(got[0], "Prometheus rejects the expression: parse error at char 3") {
		t.Errorf("unforeseen = %q", got)
	}
}

// fakeEngine answers Inspect from a map; absent is ErrNotFound.
type fakeEngine struct {
	mu         sync.Mutex
	containers map[string]engine.Container
	err        error
}

func (f *fakeEngine) Inspect(_ context.Context, id string) (engine.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return engine.Container{}, f.err
	}
	c, found := f.containers[id]
	if !found {
		return engine.Container{}, fmt.Errorf("container %s: %w", id, engine.ErrNotFound)
	}
	return c, nil
}

func TestRoundContainer(t *testing.T) {
	cat := services.Build([]services.Decl{{Repo: "r", Service: repos.ServiceDecl{Name: "svc", Containers: []string{"svc-1", "svc-2"}}}},
		[]services.Container{{ID: "id1", Name: "svc-1"}, {ID: "id2", Name: "svc-2"}})
	eng := &fakeEngine{containers: map[string]engine.Container{
		"id1": {ID: "id1", Name: "svc-1", State: "running", Health: "healthy"},
		"id2": {ID: "id2", Name: "svc-2", State: "running", Health: "starting"},
	}}
	lim := Limits{}
	r := New(Config{Limits: lim, Engine: eng, Catalog: func(context.Context) (*services.Catalog, error) { return cat, nil }})
	r.SetPlan(planOf(t, cat, lim, session.Probe{Name: "container", Type: session.ProbeTypeContainer, Container: &session.ServiceProbeSpec{Service: "svc"}}))
	for _, step := range []struct {
		change func()
		status string
		detail string
	}{
		{func() {}, "ok", "2 running"},
		{func() { eng.containers["id2"] = engine.Container{Name: "svc-2", State: "running", Health: "unhealthy"} }, "degraded", "1 running; svc-2: unhealthy"},
		{func() { eng.containers["id1"] = engine.Container{Name: "svc-1", State: "exited"} }, "failing", "svc-1: exited; svc-2: unhealthy"},
		{func() { delete(eng.containers, "id1"); delete(eng.containers, "id2") }, "failing", "svc-1: gone; svc-2: gone"},
		{func() { eng.err = errors.New("engine down") }, "unknown", "engine: engine down"},
	} {
		eng.mu.Lock()
		step.change()
		eng.mu.Unlock()
		got := r.Round(context.Background())[0]
		if got.Status != step.status || got.Detail != step.detail || got.Unforeseen != "" {
			t.Errorf("%+v, want %s %q", got, step.status, step.detail)
		}
	}

	// The engine does not list its containers: the catalog comes with the
	// error, container probes are unknown, and no new plan is asked for.
	var unforeseen unforeseenLog
	r = New(Config{Limits: lim, Engine: eng, OnUnforeseen: unforeseen.add, Catalog: func(context.Context) (*services.Catalog, error) {
		return services.Build([]services.Decl{{Repo: "r", Service: repos.ServiceDecl{Name: "svc"}}}, nil), errors.New("engine down")
	}})
	r.SetPlan(planOf(t, cat, lim, session.Probe{Name: "container", Type: session.ProbeTypeContainer, Container: &session.ServiceProbeSpec{Service: "svc"}}))
	if got := r.Round(context.Background())[0]; got.Status != "unknown" || got.Detail != "service catalog: engine down" || got.Unforeseen != "" {
		t.Errorf("container probe without the engine's list: %+v", got)
	}
	if got := unforeseen.all(); len(got) != 0 {
		t.Errorf("unforeseen = %q", got)
	}
}

// TestRunTicks: Run runs a round at once, at every tick and when the plan
// changes; the sink sees each.
func TestRunTicks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	cat := catalogOf([]string{hostOf(t, srv.URL)})
	rounds := make(chan collector.ProbeState, 10)
	tick := make(chan time.Time)
	r := New(Config{Catalog: func(context.Context) (*services.Catalog, error) { return cat, nil }, Tick: tick,
		Sink: sinkFunc(func(ps collector.ProbeState) { rounds <- ps })})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	next := func(what string) collector.ProbeState {
		t.Helper()
		select {
		case ps := <-rounds:
			return ps
		case <-time.After(10 * time.Second):
			t.Fatalf("no round %s", what)
			return collector.ProbeState{}
		}
	}
	if ps := next("at start"); ps.Active {
		t.Errorf("a round without a plan is active: %+v", ps)
	}
	r.SetPlan(planOf(t, cat, Limits{}, httpProbe(srv.URL+"/")))
	if ps := next("for the new plan"); !ps.Active || len(ps.Checks) != 1 || ps.Checks[0].Status != "ok" {
		t.Errorf("round of the new plan: %+v", ps)
	}
	tick <- time.Now()
	if ps := next("at the tick"); !ps.Active {
		t.Errorf("round at the tick: %+v", ps)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type sinkFunc func(collector.ProbeState)

func (f sinkFunc) UpdateProbes(ps collector.ProbeState) { f(ps) }

func TestReposHash(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hash := func() string {
		t.Helper()
		h, err := ReposHash(dir)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	empty := hash()
	if h, _ := ReposHash(filepath.Join(dir, "missing")); h != empty {
		t.Errorf("a missing repos dir hashes %s, an empty one %s", h, empty)
	}
	write("infra/CLAUDE-OPS.md", "# infra\n")
	write("infra/.claude-ops/services.yaml", "services: []\n")
	h1 := hash()
	if h1 == empty || !strings.HasPrefix(h1, "sha256:") {
		t.Fatalf("hash %s", h1)
	}
	if hash() != h1 {
		t.Error("the hash is not stable")
	}
	// Files outside CLAUDE-OPS.md and .claude-ops/, and hidden folders, do not count.
	write("infra/docker-compose.yaml", "services: {}\n")
	write(".git/HEAD", "ref\n")
	write("infra/.claude-ops-old/x.md", "x\n")
	if hash() != h1 {
		t.Error("a file outside the manifests changed the hash")
	}
	for _, change := range []struct{ rel, text string }{
		{"infra/CLAUDE-OPS.md", "# infra, edited\n"},
		{"infra/.claude-ops/checks/backup.md", "# backup\n"},
		{"infra/.claude-ops/services.yaml", "services: [{name: web}]\n"},
		{"other/CLAUDE-OPS.md", "# other\n"},
	} {
		before := hash()
		write(change.rel, change.text)
		if hash() == before {
			t.Errorf("writing %s did not change the hash", change.rel)
		}
	}
	// Moving content between files is a change.
	a, b := t.TempDir(), t.TempDir()
	for d, files := range map[string][2]string{a: {"ab", ""}, b: {"a", "b"}} {
		os.MkdirAll(filepath.Join(d, "r", ".claude-ops"), 0o755)
		os.WriteFile(filepath.Join(d, "r", ".claude-ops", "1"), []byte(files[0]), 0o644)
		os.WriteFile(filepath.Join(d, "r", ".claude-ops", "2"), []byte(files[1]), 0o644)
	}
	ha, _ := ReposHash(a)
	hb, _ := ReposHash(b)
	if ha == hb {
		t.Error("moving bytes between files kept the hash")
	}
}
