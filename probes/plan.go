// Package probes runs the probe plan Tier 1 writes (issue 16): instead of a
// model session that measures every service every hour, the model says once
// what to probe (typed probes per service), the daemon validates every probe
// against the inventory, keeps the plan with the content hash of the repos it
// was made from, and runs it natively every probe interval with
// blackbox_exporter's probers, the container engine, the declared check
// commands and Prometheus. The results are the check series Tier 1's reports
// were (claudeops_check_success, claudeops_check_duration_seconds, through a
// collector.Tier1Collector), so alerts react within one probe interval.
//
// The model runs again only when judgement is needed: the repos changed,
// a probe failed in a way the plan did not foresee (Runner's OnUnforeseen),
// or the discovery interval passed; scheduler.PlanPolicy decides.
package probes

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/collector"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

// Default limits.
const (
	DefaultMaxTimeout     = 10 * time.Second
	DefaultProbeTimeout   = 5 * time.Second
	DefaultMaxProbes      = 500
	maxBodyRegexp         = 1000
	maxPromQL             = 2000
	defaultDNSType        = "A"
	maxUnplannedPerPlan   = 1000
	maxReasonLen          = 500
	defaultHTTPBodyLimit  = 1 << 20
	maxDetailLen          = 300
	maxUnforeseenInPrompt = 20
)

// DNSTypes are the record types a dns probe may ask for.
var DNSTypes = []string{"A", "AAAA", "CNAME", "MX", "NS", "SRV", "TXT"}

// Limits bound what a plan may ask for.
type Limits struct {
	// MaxTimeout bounds a probe's timeout (and a declared check's); 0 means
	// DefaultMaxTimeout.
	MaxTimeout time.Duration
	// DefaultTimeout is a probe's timeout when the plan gives none; 0 means
	// DefaultProbeTimeout (at most MaxTimeout).
	DefaultTimeout time.Duration
	// MaxProbes bounds the probes of one plan; 0 means DefaultMaxProbes.
	MaxProbes int
	// Prometheus says whether --prometheus.url is set (prometheus probes
	// need it).
	Prometheus bool
}

func (l Limits) maxTimeout() time.Duration {
	if l.MaxTimeout > 0 {
		return l.MaxTimeout
	}
	return DefaultMaxTimeout
}

func (l Limits) defaultTimeout() time.Duration {
	d := l.DefaultTimeout
	if d <= 0 {
		d = DefaultProbeTimeout
	}
	return min(d, l.maxTimeout())
}

func (l Limits) maxProbes() int {
	if l.MaxProbes > 0 {
		return l.MaxProbes
	}
	return DefaultMaxProbes
}

// Plan is a probe plan: what one Tier 1 run decided to probe, validated.
type Plan struct {
	// Version is the store's number of the plan (0 until stored).
	Version int64 `json:"version"`
	// MadeAt is when the Tier 1 run that made it ended.
	MadeAt time.Time `json:"made_at"`
	// SessionID is that run's session.
	SessionID string `json:"session_id"`
	// ReposHash is the content hash of the repos the plan was made from
	// (ReposHash).
	ReposHash string `json:"repos_hash"`
	// Probes are every probe the model planned, accepted or refused, in
	// plan order.
	Probes []PlannedProbe `json:"probes"`
	// Unplanned are the checks the model could not turn into probes.
	Unplanned []UnplannedCheck `json:"unplanned"`
}

// PlannedProbe is one probe of a plan and the daemon's verdict on it.
type PlannedProbe struct {
	// Service is the service the probe belongs to, as the plan names it
	// (canonical: services.Canonical).
	Service string `json:"service"`
	session.Probe
	// Refused is why the probe is not run; "" when it is accepted.
	Refused string `json:"refused,omitempty"`
}

// Check is the label value of the probe's series.
func (p PlannedProbe) Check() string { return collector.SanitizeLabel(p.Name) }

// UnplannedCheck is a check of a service that no probe covers.
type UnplannedCheck struct {
	Service string `json:"service"`
	Check   string `json:"check"`
	Reason  string `json:"reason"`
}

// Active reports whether the plan has a probe to run. A plan without one
// (a model that reported statuses but wrote no probes) leaves the daemon
// in the check mode's rhythm: see scheduler.PlanPolicy.
func (p *Plan) Active() bool {
	if p == nil {
		return false
	}
	for _, pp := range p.Probes {
		if pp.Refused == "" {
			return true
		}
	}
	return false
}

// Accepted returns the probes that run.
func (p *Plan) Accepted() []PlannedProbe {
	if p == nil {
		return nil
	}
	var out []PlannedProbe
	for _, pp := range p.Probes {
		if pp.Refused == "" {
			out = append(out, pp)
		}
	}
	return out
}

// Refusals returns the refused probes.
func (p *Plan) Refusals() []PlannedProbe {
	if p == nil {
		return nil
	}
	var out []PlannedProbe
	for _, pp := range p.Probes {
		if pp.Refused != "" {
			out = append(out, pp)
		}
	}
	return out
}

// UnplannedByService counts the unplanned checks of each service.
func (p *Plan) UnplannedByService() map[string]int {
	if p == nil {
		return nil
	}
	m := map[string]int{}
	for _, u := range p.Unplanned {
		m[u.Service]++
	}
	return m
}

// Encode is the plan as stored (without its version, which the store keeps).
func (p *Plan) Encode() (json.RawMessage, error) {
	q := *p
	q.Version = 0
	return json.Marshal(q)
}

// Decode reads a stored plan.
func Decode(version int64, doc json.RawMessage) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil, fmt.Errorf("decode probe plan %d: %w", version, err)
	}
	p.Version = version
	return &p, nil
}

// Build makes a plan of a Tier 1 result: every probe is validated against
// the catalog (Validate, plus: a container probe's service must have
// containers now, probe names are unique within a service, at most
// MaxProbes probes); a refused probe stays in the plan with its reason, the
// rest is kept. MadeAt, SessionID and ReposHash are the caller's.
func Build(res *session.Tier1Result, cat *services.Catalog, lim Limits) *Plan {
	p := &Plan{Probes: []PlannedProbe{}, Unplanned: []UnplannedCheck{}}
	if res == nil {
		return p
	}
	accepted := 0
	for _, svc := range res.Services {
		name := services.Canonical(svc.Name)
		seen := map[string]bool{}
		for _, probe := range svc.Probes {
			pp := PlannedProbe{Service: name, Probe: probe}
			check := pp.Check()
			switch err := Validate(probe, cat, lim); {
			case err != nil:
				pp.Refused = err.Error()
			case seen[check]:
				pp.Refused = fmt.Sprintf("name %q is used by another probe of service %q", check, name)
			case hasContainers(probe, cat) != "":
				pp.Refused = hasContainers(probe, cat)
			case accepted >= lim.maxProbes():
				pp.Refused = fmt.Sprintf("the plan has more than %d probes", lim.maxProbes())
			}
			seen[check] = true
			if pp.Refused == "" {
				accepted++
			}
			p.Probes = append(p.Probes, pp)
		}
		for _, u := range svc.Unplanned {
			if len(p.Unplanned) >= maxUnplannedPerPlan {
				break
			}
			p.Unplanned = append(p.Unplanned, UnplannedCheck{Service: name, Check: u.Check, Reason: truncate(u.Reason, maxReasonLen)})
		}
	}
	return p
}

// hasContainers: a container probe is planned only for a service that has
// containers when the plan is made; one whose containers go away later
// fails (it does not become unforeseen).
func hasContainers(p session.Probe, cat *services.Catalog) string {
	if p.Type != session.ProbeTypeContainer || p.Container == nil {
		return ""
	}
	svc, ok := cat.Resolve(p.Container.Service)
	if ok && len(svc.Containers) == 0 {
		return fmt.Sprintf("container: service %q has no containers", svc.Name)
	}
	return ""
}

// Validate checks one probe against the catalog and the limits: the
// settings of its type (and only those) are there, the timeout is bounded,
// http/tcp/dns targets are hosts some service of the inventory declares (a
// URL's host with the scheme's default port), URLs are http or https
// without credentials, container and declared_check probes name services
// (and checks) the catalog has, and prometheus probes need --prometheus.url.
// The runner validates every probe again before each run: a probe that no
// longer passes is not run and calls for a new plan.
func Validate(p session.Probe, cat *services.Catalog, lim Limits) error {
	if err := settings(p); err != nil {
		return err
	}
	if p.TimeoutSeconds < 0 {
		return fmt.Errorf("timeout %gs must not be negative", p.TimeoutSeconds)
	}
	if t := seconds(p.TimeoutSeconds); t > lim.maxTimeout() {
		return fmt.Errorf("timeout %s is over the limit of %s", t, lim.maxTimeout())
	}
	switch p.Type {
	case session.ProbeTypeHTTP:
		return validateHTTP(p.HTTP, cat)
	case session.ProbeTypeTCP:
		host, port, err := repos.SplitHost(p.TCP.Target)
		switch {
		case err != nil:
			return fmt.Errorf("tcp: target %q: %w", p.TCP.Target, err)
		case port == "":
			return fmt.Errorf("tcp: target %q: must be host:port", p.TCP.Target)
		}
		if _, ok := cat.HostAllowed(net.JoinHostPort(host, port)); !ok {
			return fmt.Errorf("tcp: %s is not a host of the inventory (no service declares it in %s)", net.JoinHostPort(host, port), repos.ServicesFile)
		}
	case session.ProbeTypeDNS:
		host, port, err := repos.SplitHost(p.DNS.Name)
		switch {
		case err != nil:
			return fmt.Errorf("dns: name %q: %w", p.DNS.Name, err)
		case port != "" || net.ParseIP(host) != nil:
			return fmt.Errorf("dns: name %q: must be a host name", p.DNS.Name)
		case p.DNS.Type != "" && !slices.Contains(DNSTypes, p.DNS.Type):
			return fmt.Errorf("dns: type %q: must be one of %s", p.DNS.Type, strings.Join(DNSTypes, ", "))
		case !declaresHostName(cat, host):
			return fmt.Errorf("dns: %s is not a host of the inventory (no service declares it in %s)", host, repos.ServicesFile)
		}
	case session.ProbeTypeContainer:
		if _, ok := cat.Resolve(p.Container.Service); !ok {
			return fmt.Errorf("container: service %q is not in the inventory", p.Container.Service)
		}
	case session.ProbeTypeDeclaredCheck:
		_, err := declaredCheck(p.DeclaredCheck, cat, lim)
		return err
	case session.ProbeTypePrometheus:
		switch {
		case !lim.Prometheus:
			return fmt.Errorf("prometheus: no --prometheus.url is set")
		case strings.TrimSpace(p.Prometheus.Expr) == "":
			return fmt.Errorf("prometheus: expr is empty")
		case len(p.Prometheus.Expr) > maxPromQL:
			return fmt.Errorf("prometheus: expr is over %d bytes", maxPromQL)
		}
	}
	return nil
}

// settings checks the type and that exactly its settings are given.
func settings(p session.Probe) error {
	given := map[session.ProbeType]bool{
		session.ProbeTypeHTTP:          p.HTTP != nil,
		session.ProbeTypeTCP:           p.TCP != nil,
		session.ProbeTypeDNS:           p.DNS != nil,
		session.ProbeTypeContainer:     p.Container != nil,
		session.ProbeTypeDeclaredCheck: p.DeclaredCheck != nil,
		session.ProbeTypePrometheus:    p.Prometheus != nil,
	}
	if !slices.Contains(session.ProbeTypes, p.Type) {
		return fmt.Errorf("unknown probe type %q", p.Type)
	}
	if !given[p.Type] {
		return fmt.Errorf("a %s probe needs its %q settings", p.Type, p.Type)
	}
	for _, t := range session.ProbeTypes {
		if t != p.Type && given[t] {
			return fmt.Errorf("a %s probe must not have %q settings", p.Type, t)
		}
	}
	return nil
}

func validateHTTP(h *session.HTTPProbeSpec, cat *services.Catalog) error {
	if _, err := cat.URL(h.URL); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	switch h.Method {
	case "", "GET", "HEAD":
	default:
		return fmt.Errorf("http: method %q: only GET and HEAD", h.Method)
	}
	for _, c := range h.ValidStatusCodes {
		if c < 100 || c > 599 {
			return fmt.Errorf("http: status code %d is not an HTTP status (100..599)", c)
		}
	}
	if h.BodyRegexp != "" {
		if h.Method == "HEAD" {
			return fmt.Errorf("http: body_regexp needs method GET (a HEAD answer has no body)")
		}
		if len(h.BodyRegexp) > maxBodyRegexp {
			return fmt.Errorf("http: body_regexp is over %d bytes", maxBodyRegexp)
		}
		if _, err := regexp.Compile(h.BodyRegexp); err != nil {
			return fmt.Errorf("http: body_regexp: %w", err)
		}
	}
	return nil
}

// declaresHostName reports whether a service declares host, with or
// without a port.
func declaresHostName(cat *services.Catalog, host string) bool {
	for _, s := range cat.Services() {
		for _, h := range s.Hosts {
			name, _, err := repos.SplitHost(h)
			if err == nil && name == host {
				return true
			}
		}
	}
	return false
}

// declaredCheck finds the check a declared_check probe names.
func declaredCheck(d *session.DeclaredCheckSpec, cat *services.Catalog, lim Limits) (*repos.CheckDecl, error) {
	svc, ok := cat.Resolve(d.Service)
	if !ok {
		return nil, fmt.Errorf("declared_check: service %q is not in the inventory", d.Service)
	}
	var names []string
	for i, c := range svc.Checks {
		if c.Name == d.Check {
			if t := time.Duration(c.Timeout); t > lim.maxTimeout() {
				return nil, fmt.Errorf("declared_check: check %q of service %q has a timeout of %s, over the probe limit of %s",
					c.Name, svc.Name, t, lim.maxTimeout())
			}
			return &svc.Checks[i], nil
		}
		names = append(names, c.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("declared_check: service %q declares no checks", svc.Name)
	}
	return nil, fmt.Errorf("declared_check: service %q declares no check %q (it declares %s)", svc.Name, d.Check, strings.Join(names, ", "))
}

// Timeout is the probe's timeout under the limits: its own, else the
// default; a declared check's is its declared timeout.
func Timeout(p session.Probe, cat *services.Catalog, lim Limits) time.Duration {
	if p.Type == session.ProbeTypeDeclaredCheck && p.DeclaredCheck != nil {
		if c, err := declaredCheck(p.DeclaredCheck, cat, lim); err == nil {
			return time.Duration(c.Timeout)
		}
	}
	if p.TimeoutSeconds > 0 {
		return min(seconds(p.TimeoutSeconds), lim.maxTimeout())
	}
	return lim.defaultTimeout()
}

func seconds(s float64) time.Duration {
	if s > 1e6 {
		return time.Duration(1e6) * time.Second
	}
	return time.Duration(s * float64(time.Second))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
