package probes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/units"
	bbconfig "github.com/prometheus/blackbox_exporter/config"
	"github.com/prometheus/blackbox_exporter/prober"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/collector"
	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

// Engine is what container probes ask the container engine.
type Engine interface {
	Inspect(ctx context.Context, idOrName string) (engine.Container, error)
}

// Commands runs declared check commands (runner.Commands).
type Commands interface {
	Run(ctx context.Context, argv []string, timeout time.Duration) (runner.CommandResult, error)
}

// outcome is what one run of a probe found.
type outcome struct {
	status string // collector.Status*
	detail string
	// unforeseen, when set, says why this result calls for a new plan.
	unforeseen string
}

func ok(detail string) outcome      { return outcome{status: collector.StatusOK, detail: detail} }
func failing(detail string) outcome { return outcome{status: collector.StatusFailing, detail: detail} }
func unknown(detail string) outcome { return outcome{status: collector.StatusUnknown, detail: detail} }

// execute runs one validated probe with its timeout.
func (r *Runner) execute(ctx context.Context, p PlannedProbe, cat *services.Catalog, timeout time.Duration) outcome {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch p.Type {
	case session.ProbeTypeHTTP:
		return r.blackbox(ctx, prober.ProbeHTTP, p.HTTP.URL, httpModule(p.HTTP, timeout))
	case session.ProbeTypeTCP:
		mod := bbconfig.Module{Prober: "tcp", Timeout: timeout, TCP: bbconfig.DefaultTCPProbe}
		return r.blackbox(ctx, prober.ProbeTCP, p.TCP.Target, mod)
	case session.ProbeTypeDNS:
		return r.dns(ctx, p.DNS, timeout)
	case session.ProbeTypeContainer:
		return r.container(ctx, p.Container.Service, cat)
	case session.ProbeTypeDeclaredCheck:
		return r.declared(ctx, p.DeclaredCheck, cat, timeout)
	case session.ProbeTypePrometheus:
		return r.prometheus(ctx, p.Prometheus.Expr)
	}
	return unknown(fmt.Sprintf("unknown probe type %q", p.Type))
}

// httpModule is blackbox_exporter's module for an http probe: redirects
// are not followed (a redirect is a status like any other, and never leads
// off the inventory), the body is read up to 1 MiB, proxies are not used.
func httpModule(h *session.HTTPProbeSpec, timeout time.Duration) bbconfig.Module {
	mod := bbconfig.Module{Prober: "http", Timeout: timeout, HTTP: bbconfig.DefaultHTTPProbe}
	mod.HTTP.Method = h.Method
	if mod.HTTP.Method == "" {
		mod.HTTP.Method = http.MethodGet
	}
	mod.HTTP.ValidStatusCodes = h.ValidStatusCodes
	mod.HTTP.HTTPClientConfig.FollowRedirects = false
	mod.HTTP.BodySizeLimit = units.Base2Bytes(defaultHTTPBodyLimit)
	if h.BodyRegexp != "" {
		if re, err := bbconfig.NewRegexp(h.BodyRegexp); err == nil {
			mod.HTTP.FailIfBodyNotMatchesRegexp = []bbconfig.Regexp{re}
		}
	}
	return mod
}

// blackbox runs one of blackbox_exporter's probers with a throwaway
// registry and tells a clean failure from an unforeseen one by what it
// logged: a target name that no longer resolves is unforeseen.
func (r *Runner) blackbox(ctx context.Context, fn prober.ProbeFn, target string, mod bbconfig.Module) outcome {
	reg := prometheus.NewRegistry()
	logs := &capture{}
	success := fn(ctx, target, mod, reg, slog.New(logs))
	status := gaugeValue(reg, "probe_http_status_code")
	if success {
		if status > 0 {
			return ok(fmt.Sprintf("HTTP %d", int(status)))
		}
		return ok("connected")
	}
	why := logs.last()
	if host, err := logs.notFound(); err != nil {
		return outcome{status: collector.StatusFailing, detail: why,
			unforeseen: fmt.Sprintf("the name %s no longer resolves (%v)", host, err)}
	}
	if status > 0 && !strings.Contains(why, "regexp") {
		why = fmt.Sprintf("HTTP %d: %s", int(status), why)
	}
	return failing(why)
}

// dns asks the resolver for the name: NOERROR with an answer of the type
// passes; NXDOMAIN is unforeseen (the name is gone); a resolver that does
// not answer is unknown.
func (r *Runner) dns(ctx context.Context, d *session.DNSProbeSpec, timeout time.Duration) outcome {
	typ := d.Type
	if typ == "" {
		typ = defaultDNSType
	}
	mod := bbconfig.Module{Prober: "dns", Timeout: timeout, DNS: bbconfig.DefaultDNSProbe}
	mod.DNS.QueryName, mod.DNS.QueryType = d.Name, typ
	mod.DNS.ValidateAnswer.FailIfNoneMatchesRegexp = []string{`\tIN\t` + typ + `\t`}
	reg := prometheus.NewRegistry()
	logs := &capture{}
	if prober.ProbeDNS(ctx, r.dnsServer(), mod, reg, slog.New(logs)) {
		return ok(fmt.Sprintf("%s %s: %d answers", d.Name, typ, int(gaugeValue(reg, "probe_dns_answer_rrs"))))
	}
	if rcode := logs.attr("Rcode is not one of the valid rcodes", "string_rcode"); rcode != "" {
		if rcode == "NXDOMAIN" {
			return outcome{status: collector.StatusFailing, detail: fmt.Sprintf("%s: NXDOMAIN", d.Name),
				unforeseen: fmt.Sprintf("the name %s no longer exists (NXDOMAIN)", d.Name)}
		}
		return failing(fmt.Sprintf("%s %s: rcode %s", d.Name, typ, rcode))
	}
	if gaugeValue(reg, "probe_dns_query_succeeded") == 0 {
		return unknown(fmt.Sprintf("resolver %s: %s", r.dnsServer(), logs.last()))
	}
	return failing(fmt.Sprintf("%s %s: %s", d.Name, typ, logs.last()))
}

// container: every container of the service runs and none is unhealthy.
// A service that no longer resolves is not run (the runner's validation
// reports it unforeseen); one without containers fails.
func (r *Runner) container(ctx context.Context, name string, cat *services.Catalog) outcome {
	if r.cfg.Engine == nil {
		return unknown("no container engine")
	}
	svc, found := cat.Resolve(name)
	if !found {
		return unknown(fmt.Sprintf("service %q is not in the inventory", name))
	}
	if len(svc.Containers) == 0 {
		return failing(fmt.Sprintf("service %s has no containers", svc.Name))
	}
	var good, bad []string
	for _, ct := range svc.Containers {
		id := ct.ID
		if id == "" {
			id = ct.Name
		}
		c, err := r.cfg.Engine.Inspect(ctx, id)
		switch {
		case errors.Is(err, engine.ErrNotFound):
			bad = append(bad, ct.Name+": gone")
		case err != nil:
			return unknown(fmt.Sprintf("engine: %v", err))
		case c.State != "running":
			bad = append(bad, fmt.Sprintf("%s: %s", c.Name, c.State))
		case c.Health == "unhealthy":
			bad = append(bad, c.Name+": unhealthy")
		default:
			good = append(good, c.Name)
		}
	}
	switch {
	case len(bad) == 0:
		return ok(fmt.Sprintf("%d running", len(good)))
	case len(good) == 0:
		return failing(strings.Join(bad, "; "))
	}
	return outcome{status: collector.StatusDegraded, detail: fmt.Sprintf("%d running; %s", len(good), strings.Join(bad, "; "))}
}

// declared runs a declared check: exit 0 passes, another exit or the
// timeout fails, a command that cannot start is unknown.
func (r *Runner) declared(ctx context.Context, d *session.DeclaredCheckSpec, cat *services.Catalog, timeout time.Duration) outcome {
	if r.cfg.Commands == nil {
		return unknown("no command runner")
	}
	c, err := declaredCheck(d, cat, r.cfg.Limits)
	if err != nil {
		return unknown(err.Error())
	}
	res, err := r.cfg.Commands.Run(ctx, c.Argv, timeout)
	switch {
	case errors.Is(err, runner.ErrTimeout):
		return failing(fmt.Sprintf("timed out after %s", timeout))
	case err != nil:
		return unknown(err.Error())
	case res.ExitCode != 0:
		return failing(fmt.Sprintf("exit %d: %s", res.ExitCode, lastLine(res.Output)))
	}
	return ok("exit 0")
}

// prometheus queries --prometheus.url: an empty answer or only zeros
// passes. An expression Prometheus rejects is unforeseen.
func (r *Runner) prometheus(ctx context.Context, expr string) outcome {
	if r.cfg.PrometheusURL == "" {
		return unknown("no --prometheus.url")
	}
	u := strings.TrimRight(r.cfg.PrometheusURL, "/") + "/api/v1/query?query=" + url.QueryEscape(expr)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return unknown(err.Error())
	}
	resp, err := r.http().Do(req)
	if err != nil {
		return unknown(fmt.Sprintf("query Prometheus: %v", err))
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&body); err != nil {
		return unknown(fmt.Sprintf("Prometheus answered %s: %v", resp.Status, err))
	}
	if body.Status != "success" {
		o := unknown(fmt.Sprintf("Prometheus: %s: %s", body.ErrorType, body.Error))
		if body.ErrorType == "bad_data" {
			o.unforeseen = fmt.Sprintf("Prometheus rejects the expression: %s", body.Error)
		}
		return o
	}
	values, labels, err := promValues(body.Data.ResultType, body.Data.Result)
	if err != nil {
		return unknown(err.Error())
	}
	for i, v := range values {
		if f, err := strconv.ParseFloat(v, 64); err != nil || f != 0 {
			return failing(fmt.Sprintf("%d results, e.g. %s = %s", len(values), labels[i], v))
		}
	}
	return ok(fmt.Sprintf("%d results, all zero", len(values)))
}

// promValues flattens an instant query's answer into its values.
func promValues(typ string, raw json.RawMessage) (values, labels []string, err error) {
	switch typ {
	case "vector":
		var v []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, err
		}
		for _, s := range v {
			str, _ := s.Value[1].(string)
			values, labels = append(values, str), append(labels, fmt.Sprint(s.Metric))
		}
	case "scalar":
		var s [2]any
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, nil, err
		}
		str, _ := s[1].(string)
		values, labels = []string{str}, []string{"scalar"}
	default:
		return nil, nil, fmt.Errorf("Prometheus answered a %s; the expression must give an instant vector or a scalar", typ)
	}
	return values, labels, nil
}

func (r *Runner) http() *http.Client {
	if r.cfg.HTTPClient != nil {
		return r.cfg.HTTPClient
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// dnsServer is the resolver dns probes ask: Config.DNSServer, else the
// first nameserver of /etc/resolv.conf, else 127.0.0.1:53.
func (r *Runner) dnsServer() string {
	r.dnsOnce.Do(func() {
		r.dnsAddr = r.cfg.DNSServer
		if r.dnsAddr == "" {
			r.dnsAddr = systemResolver("/etc/resolv.conf")
		}
	})
	return r.dnsAddr
}

func systemResolver(path string) string {
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "nameserver" && net.ParseIP(fields[1]) != nil {
				return net.JoinHostPort(fields[1], "53")
			}
		}
	}
	return "127.0.0.1:53"
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return truncate(s, maxDetailLen)
}

// gaugeValue reads one unlabelled gauge of a registry; 0 when absent.
func gaugeValue(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

// capture is an slog handler that keeps what a prober logged at error
// level (its reasons for failing).
type capture struct {
	mu      sync.Mutex
	records []slog.Record
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler           { return c }
func (c *capture) WithGroup(string) slog.Handler                { return c }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.records) < 20 {
		c.records = append(c.records, r.Clone())
	}
	return nil
}

// last is the last error logged, with its err attribute, one line.
func (c *capture) last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.records) == 0 {
		return "failed"
	}
	r := c.records[len(c.records)-1]
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			msg += ": " + a.Value.String()
		}
		return true
	})
	return truncate(strings.ReplaceAll(msg, "\n", " "), maxDetailLen)
}

// notFound returns the DNS error of a target name that does not resolve
// (a *net.DNSError with IsNotFound), if the prober logged one.
func (c *capture) notFound() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.records {
		var found *net.DNSError
		r.Attrs(func(a slog.Attr) bool {
			if err, isErr := a.Value.Any().(error); isErr {
				var de *net.DNSError
				if errors.As(err, &de) && de.IsNotFound {
					found = de
					return false
				}
			}
			return true
		})
		if found != nil {
			return found.Name, found
		}
	}
	return "", nil
}

// attr is the value of attribute key of the last record with message msg.
func (c *capture) attr(msg, key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := ""
	for _, r := range c.records {
		if r.Message != msg {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v = a.Value.String()
			}
			return true
		})
	}
	return v
}
