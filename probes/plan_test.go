package probes

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

// testCatalog: web declares 127.0.0.1:8080, web.example.com (any port) and
// two checks; db declares db.internal:5432 and has no containers; worker is
// a container no manifest declares.
func testCatalog() *services.Catalog {
	check := func(name string, timeout time.Duration) repos.CheckDecl {
		return repos.CheckDecl{Name: name, Command: repos.Command{Argv: []string{"true"}, Timeout: model.Duration(timeout)}}
	}
	return services.Build([]services.Decl{
		{Repo: "shop", Service: repos.ServiceDecl{Name: "web", Hosts: []string{"127.0.0.1:8080", "web.example.com"},
			Checks: []repos.CheckDecl{check("backup", 5*time.Second), check("slow", time.Minute)}}},
		{Repo: "shop", Service: repos.ServiceDecl{Name: "db", Hosts: []string{"db.internal:5432"}}},
	}, []services.Container{
		{ID: strings.Repeat("a", 64), Name: "web"},
		{ID: strings.Repeat("b", 64), Name: "worker"},
	})
}

func httpProbe(url string) session.Probe {
	return session.Probe{Name: "http", Type: session.ProbeTypeHTTP, HTTP: &session.HTTPProbeSpec{URL: url}}
}

// TestValidate is every refusal, with its exact reason, as the plan and
// GET /api/v1/plan show it.
func TestValidate(t *testing.T) {
	cat := testCatalog()
	lim := Limits{}
	withProm := Limits{Prometheus: true}
	tcp := func(target string) session.Probe {
		return session.Probe{Name: "tcp", Type: session.ProbeTypeTCP, TCP: &session.TCPProbeSpec{Target: target}}
	}
	dns := func(name, typ string) session.Probe {
		return session.Probe{Name: "dns", Type: session.ProbeTypeDNS, DNS: &session.DNSProbeSpec{Name: name, Type: typ}}
	}
	container := func(svc string) session.Probe {
		return session.Probe{Name: "c", Type: session.ProbeTypeContainer, Container: &session.ServiceProbeSpec{Service: svc}}
	}
	declared := func(svc, check string) session.Probe {
		return session.Probe{Name: "d", Type: session.ProbeTypeDeclaredCheck, DeclaredCheck: &session.DeclaredCheckSpec{Service: svc, Check: check}}
	}
	prom := func(expr string) session.Probe {
		return session.Probe{Name: "p", Type: session.ProbeTypePrometheus, Prometheus: &session.PromQLProbeSpec{Expr: expr}}
	}
	with := func(p session.Probe, f func(*session.Probe)) session.Probe { f(&p); return p }

	tests := []struct {
		name  string
		probe session.Probe
		lim   Limits
		err   string // "" = accepted
	}{
		{"http ok", httpProbe("http://127.0.0.1:8080/healthz"), lim, ""},
		{"http any port of a portless host", httpProbe("https://web.example.com/"), lim, ""},
		{"http host outside the inventory", httpProbe("http://10.1.2.3/"), lim,
			"http: 10.1.2.3:80 is not a host of the inventory (no service declares it in .claude-ops/services.yaml)"},
		{"http port not declared", httpProbe("http://127.0.0.1:9090/"), lim,
			"http: 127.0.0.1:9090 is not a host of the inventory (no service declares it in .claude-ops/services.yaml)"},
		{"http default port of https", httpProbe("https://127.0.0.1/"), lim,
			"http: 127.0.0.1:443 is not a host of the inventory (no service declares it in .claude-ops/services.yaml)"},
		{"http credentials", httpProbe("http://admin:hunter2@127.0.0.1:8080/"), lim,
			"http: url has credentials: probe URLs must carry none"},
		{"http user only", httpProbe("http://admin@127.0.0.1:8080/"), lim,
			"http: url has credentials: probe URLs must carry none"},
		{"http scheme", httpProbe("ftp://127.0.0.1:8080/"), lim,
			`http: url "ftp://127.0.0.1:8080/": only http and https URLs may be probed`},
		{"http file", httpProbe("file:///etc/passwd"), lim,
			`http: url "file:///etc/passwd": only http and https URLs may be probed`},
		{"http no host", httpProbe("http:///x"), lim, `http: url "http:///x" has no host`},
		{"http not a URL", httpProbe("http://[::1"), lim, `http: url "http://[::1" is not a URL`},
		{"http method", with(httpProbe("http://127.0.0.1:8080/"), func(p *session.Probe) { p.HTTP.Method = "POST" }), lim,
			`http: method "POST": only GET and HEAD`},
		{"http status", with(httpProbe("http://127.0.0.1:8080/"), func(p *session.Probe) { p.HTTP.ValidStatusCodes = []int{200, 700} }), lim,
			"http: status code 700 is not an HTTP status (100..599)"},
		{"http regexp", with(httpProbe("http://127.0.0.1:8080/"), func(p *session.Probe) { p.HTTP.BodyRegexp = "ok(" }), lim,
			"http: body_regexp: error parsing regexp: missing closing ): `ok(`"},
		{"http regexp with HEAD", with(httpProbe("http://127.0.0.1:8080/"), func(p *session.Probe) {
			p.HTTP.Method, p.HTTP.BodyRegexp = "HEAD", "ok"
		}), lim, "http: body_regexp needs method GET (a HEAD answer has no body)"},
		{"timeout at the limit", with(httpProbe("http://127.0.0.1:8080/"), func(p *session.Probe) { p.TimeoutSeconds = 10 }), lim, ""},
		{"timeout over the limit", with(httpProbe("http://127.0.0.1:8080/"), func(p *session.Probe) { p.TimeoutSeconds = 30 }), lim,
			"timeout 30s is over the limit of 10s"},
		{"timeout over a lower limit", with(httpProbe("http://127.0.0.1:8080/"), func(p *session.Probe) { p.TimeoutSeconds = 3 }),
			Limits{MaxTimeout: 2 * time.Second}, "timeout 3s is over the limit of 2s"},
		{"timeout negative", with(httpProbe("http://127.0.0.1:8080/"), func(p *session.Probe) { p.TimeoutSeconds = -1 }), lim,
			"timeout -1s must not be negative"},
		{"settings missing", session.Probe{Name: "x", Type: session.ProbeTypeHTTP}, lim, `a http probe needs its "http" settings`},
		{"settings of another type", with(httpProbe("http://127.0.0.1:8080/"), func(p *session.Probe) { p.TCP = &session.TCPProbeSpec{Target: "x:1"} }), lim,
			`a http probe must not have "tcp" settings`},
		{"unknown type", session.Probe{Name: "x", Type: "icmp"}, lim, `unknown probe type "icmp"`},

		{"tcp ok", tcp("db.internal:5432"), lim, ""},
		{"tcp portless declaration allows any port", tcp("web.example.com:22"), lim, ""},
		{"tcp no port", tcp("db.internal"), lim, `tcp: target "db.internal": must be host:port`},
		{"tcp outside", tcp("db.internal:5433"), lim,
			"tcp: db.internal:5433 is not a host of the inventory (no service declares it in .claude-ops/services.yaml)"},
		{"tcp URL", tcp("tcp://db.internal:5432"), lim, `tcp: target "tcp://db.internal:5432": must be host or host:port, without a scheme`},
		{"tcp credentials", tcp("u:p@db.internal:5432"), lim, `tcp: target "u:p@db.internal:5432": must be host or host:port, without credentials`},

		{"dns ok", dns("web.example.com", "AAAA"), lim, ""},
		{"dns name of a host:port declaration", dns("db.internal", ""), lim, ""},
		{"dns outside", dns("evil.example.org", "A"), lim,
			"dns: evil.example.org is not a host of the inventory (no service declares it in .claude-ops/services.yaml)"},
		{"dns with a port", dns("web.example.com:53", "A"), lim, `dns: name "web.example.com:53": must be a host name`},
		{"dns an address", dns("127.0.0.1", "A"), lim, `dns: name "127.0.0.1": must be a host name`},
		{"dns type", dns("web.example.com", "ANY"), lim, `dns: type "ANY": must be one of A, AAAA, CNAME, MX, NS, SRV, TXT`},

		{"container ok", container("web"), lim, ""},
		{"container of an engine-only service", container("worker"), lim, ""},
		{"container by container name", container("/web"), lim, ""},
		{"container unknown service", container("payments"), lim, `container: service "payments" is not in the inventory`},

		{"declared ok", declared("web", "backup"), lim, ""},
		{"declared unknown service", declared("payments", "backup"), lim, `declared_check: service "payments" is not in the inventory`},
		{"declared unknown check", declared("web", "restore"), lim,
			`declared_check: service "web" declares no check "restore" (it declares backup, slow)`},
		{"declared none", declared("db", "backup"), lim, `declared_check: service "db" declares no checks`},
		{"declared timeout over the limit", declared("web", "slow"), lim,
			`declared_check: check "slow" of service "web" has a timeout of 1m0s, over the probe limit of 10s`},

		{"prometheus ok", prom(`up{job="web"} == 0`), withProm, ""},
		{"prometheus without a URL", prom(`up == 0`), lim, "prometheus: no --prometheus.url is set"},
		{"prometheus empty", prom(" "), withProm, "prometheus: expr is empty"},
		{"prometheus too long", prom(strings.Repeat("x", 2001)), withProm, "prometheus: expr is over 2000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.probe, cat, tt.lim)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.err != "" && err == nil:
				t.Errorf("accepted, want %q", tt.err)
			case tt.err != "" && err.Error() != tt.err:
				t.Errorf("error:\n got %q\nwant %q", err, tt.err)
			}
		})
	}
}

// TestBuild: a refused probe stays in the plan with its reason, the rest is
// kept; names are unique per service; containers are needed at plan time;
// the plan survives a round trip through its stored form.
func TestBuild(t *testing.T) {
	cat := testCatalog()
	raw := `{"summary":"plan","services":[
	  {"name":"Web","checks":[],"probes":[
	    {"name":"http","type":"http","http":{"url":"http://127.0.0.1:8080/healthz","valid_status_codes":[200]}},
	    {"name":"HTTP","type":"http","http":{"url":"http://127.0.0.1:8080/other"}},
	    {"name":"intranet","type":"http","http":{"url":"http://10.1.2.3/"}},
	    {"name":"container","type":"container","container":{"service":"web"}},
	    {"name":"backup","type":"declared_check","declared_check":{"service":"web","check":"backup"}}
	  ],"unplanned":[{"check":"restore-drill","reason":"needs a human to read the restore log"}]},
	  {"name":"db","checks":[],"probes":[
	    {"name":"port","type":"tcp","tcp":{"target":"db.internal:5432"}},
	    {"name":"container","type":"container","container":{"service":"db"}}
	  ]}
	]}`
	res, err := session.ParseTier1(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	p := Build(res, cat, Limits{MaxProbes: 3})
	type verdict struct{ service, name, refused string }
	var got []verdict
	for _, pp := range p.Probes {
		got = append(got, verdict{pp.Service, pp.Name, pp.Refused})
	}
	want := []verdict{
		{"web", "http", ""},
		{"web", "HTTP", `name "http" is used by another probe of service "web"`},
		{"web", "intranet", "http: 10.1.2.3:80 is not a host of the inventory (no service declares it in .claude-ops/services.yaml)"},
		{"web", "container", ""},
		{"web", "backup", ""},
		{"db", "port", "the plan has more than 3 probes"},
		{"db", "container", `container: service "db" has no containers`},
	}
	if len(got) != len(want) {
		t.Fatalf("verdicts %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("probe %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if !p.Active() || len(p.Accepted()) != 3 || len(p.Refusals()) != 4 {
		t.Errorf("active %v, %d accepted, %d refused", p.Active(), len(p.Accepted()), len(p.Refusals()))
	}
	if u := p.UnplannedByService(); len(u) != 1 || u["web"] != 1 {
		t.Errorf("unplanned = %v", u)
	}

	p.Version, p.ReposHash, p.SessionID = 7, "sha256:x", "s1"
	p.MadeAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	doc, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(7, doc)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.Encode()
	if string(again) != string(doc) || back.Version != 7 {
		t.Errorf("round trip:\n%s\n%s", doc, again)
	}
	if b := Brief(p); !strings.Contains(b, "refused 4 probe(s) of the current plan (version 7)") ||
		!strings.Contains(b, "- service web, probe intranet (http): http: 10.1.2.3:80 is not a host") {
		t.Errorf("brief:\n%s", b)
	}

	// A result without probes is a plan that does not run.
	legacy := Build(&session.Tier1Result{Services: []session.Service{{Name: "web", Checks: []session.Check{{Name: "http", Status: "ok"}}}}}, cat, Limits{})
	if legacy.Active() || len(legacy.Probes) != 0 {
		t.Errorf("a result without probes: %+v", legacy)
	}
}

func TestTimeout(t *testing.T) {
	cat := testCatalog()
	p := httpProbe("http://127.0.0.1:8080/")
	if got := Timeout(p, cat, Limits{}); got != DefaultProbeTimeout {
		t.Errorf("default timeout %s", got)
	}
	if got := Timeout(p, cat, Limits{MaxTimeout: 2 * time.Second}); got != 2*time.Second {
		t.Errorf("default timeout under a 2s limit: %s", got)
	}
	p.TimeoutSeconds = 1.5
	if got := Timeout(p, cat, Limits{}); got != 1500*time.Millisecond {
		t.Errorf("timeout 1.5: %s", got)
	}
	d := session.Probe{Type: session.ProbeTypeDeclaredCheck, DeclaredCheck: &session.DeclaredCheckSpec{Service: "web", Check: "backup"}}
	if got := Timeout(d, cat, Limits{}); got != 5*time.Second {
		t.Errorf("declared check timeout %s, want its declared 5s", got)
	}
}
