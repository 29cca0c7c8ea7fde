package remediator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"gopkg.in/yaml.v2"
)

// NeedsHumanRouteLabels are the labels the needs-human alert is routed by,
// the way `amtool config routes test` is asked about it.
var NeedsHumanRouteLabels = model.LabelSet{
	"alertname": AlertNeedsHuman, "claudeops": "true", "severity": "critical", "service": "x",
}

// ReceiverCheck says whether a receiver the needs-human alert reaches pages
// anybody.
type ReceiverCheck struct {
	Name string
	// Pages: the receiver has a notifier other than Claude Ops' own webhook,
	// and not only the placeholders of the shipped configuration.
	Pages bool
	// Own: its only notifier is Claude Ops' webhook.
	Own bool
	// Why it does not page, a clause: "which has no notifier configured".
	Why string
}

// RouteCheck is where Alertmanager's running configuration sends the
// needs-human alert.
type RouteCheck struct {
	Receivers []ReceiverCheck
}

// Paged reports whether one of the receivers pages somebody.
func (c RouteCheck) Paged() bool {
	return slices.ContainsFunc(c.Receivers, func(r ReceiverCheck) bool { return r.Pages })
}

// Warning is the log line when nobody is paged, "" when somebody is:
// "needs-human alerts route to receiver humans, which has no notifier
// configured: nobody will be paged".
func (c RouteCheck) Warning() string {
	if c.Paged() {
		return ""
	}
	// Claude Ops' own receiver is named only when it is the only one.
	others := slices.ContainsFunc(c.Receivers, func(r ReceiverCheck) bool { return !r.Own })
	var parts []string
	for _, r := range c.Receivers {
		if r.Own && others {
			continue
		}
		parts = append(parts, "receiver "+r.Name+", "+r.Why)
	}
	return "needs-human alerts route to " + strings.Join(parts, ", and ") + ": nobody will be paged"
}

// CheckNeedsHumanRoute finds the receivers Alertmanager's configuration
// (its YAML, as GET /api/v2/status gives it in config.original) picks for
// lset, as Alertmanager's dispatcher does (dispatch.Route.Match), and says
// which of them page somebody. Alertmanager's own config and dispatch
// packages would pull in every notifier's SDK (AWS, Kafka, OpenTelemetry
// exporters: 43 modules), so the route tree is walked here with
// Alertmanager's matcher parser and matchers.
//
// A receiver does not page when it has no *_configs, when its only
// notifier is Claude Ops' webhook (a URL whose path is /api/v1/webhook, or,
// the URL being hidden as <secret> since Alertmanager 0.26, a receiver
// named claude-ops), or when every address its notifiers show is under a
// domain reserved for examples (RFC 2606: example.com, .invalid, ...), the
// placeholders of the shipped configuration: a notifier with one such
// address left (the mail relay, say) delivers nothing.
func CheckNeedsHumanRoute(configYAML string, lset model.LabelSet) (RouteCheck, error) {
	var cfg amConfig
	if err := yaml.Unmarshal([]byte(configYAML), &cfg); err != nil {
		return RouteCheck{}, fmt.Errorf("alertmanager config: %w", err)
	}
	if cfg.Route == nil {
		return RouteCheck{}, fmt.Errorf("alertmanager config: no route")
	}
	names, err := cfg.Route.match(lset, "")
	if err != nil {
		return RouteCheck{}, err
	}
	var names1 []string // in order, each once
	for _, n := range names {
		if !slices.Contains(names1, n) {
			names1 = append(names1, n)
		}
	}
	var rc RouteCheck
	for _, n := range names1 {
		i := slices.IndexFunc(cfg.Receivers, func(r amReceiver) bool { return r.name() == n })
		if i < 0 {
			rc.Receivers = append(rc.Receivers, ReceiverCheck{Name: n, Why: "which is not defined"})
			continue
		}
		rc.Receivers = append(rc.Receivers, cfg.Receivers[i].check())
	}
	return rc, nil
}

// amConfig is the part of Alertmanager's configuration routing needs.
type amConfig struct {
	Route     *amRoute     `yaml:"route"`
	Receivers []amReceiver `yaml:"receivers"`
}

type amRoute struct {
	Receiver string            `yaml:"receiver"`
	Match    map[string]string `yaml:"match"`
	MatchRE  map[string]string `yaml:"match_re"`
	Matchers []string          `yaml:"matchers"`
	Continue bool              `yaml:"continue"`
	Routes   []*amRoute        `yaml:"routes"`
}

// parseMatchers is Alertmanager's default since 0.27: the UTF-8 matcher
// syntax, falling back to the classic one.
var parseMatchers = compat.FallbackMatchersParser(promslog.NewNopLogger())

func (r *amRoute) matchers() (labels.Matchers, error) {
	var ms labels.Matchers
	for n, v := range r.Match {
		m, err := labels.NewMatcher(labels.MatchEqual, n, v)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	for n, v := range r.MatchRE {
		m, err := labels.NewMatcher(labels.MatchRegexp, n, v)
		if err != nil {
			return nil, fmt.Errorf("alertmanager config: match_re %s: %w", n, err)
		}
		ms = append(ms, m)
	}
	for _, s := range r.Matchers {
		m, err := parseMatchers(s, "config")
		if err != nil {
			return nil, fmt.Errorf("alertmanager config: matcher %q: %w", s, err)
		}
		ms = append(ms, m...)
	}
	sort.Sort(ms)
	return ms, nil
}

// match returns the receivers of the routes lset ends at: the routes that
// match and none of whose children do, depth first, going on to the next
// sibling only after a route with continue: true. A route without a
// receiver has its parent's.
func (r *amRoute) match(lset model.LabelSet, parent string) ([]string, error) {
	ms, err := r.matchers()
	if err != nil {
		return nil, err
	}
	if !ms.Matches(lset) {
		return nil, nil
	}
	recv := r.Receiver
	if recv == "" {
		recv = parent
	}
	var all []string
	for _, c := range r.Routes {
		if c == nil {
			continue
		}
		got, err := c.match(lset, recv)
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
		if got != nil && !c.Continue {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, recv)
	}
	return all, nil
}

// amReceiver is a receiver: its name and its notifiers, by kind
// (webhook_configs, email_configs, ...).
type amReceiver map[string]any

func (r amReceiver) name() string { s, _ := r["name"].(string); return s }

// ownWebhookPath is the daemon's webhook.
const ownWebhookPath = "/api/v1/webhook"

func (r amReceiver) check() ReceiverCheck {
	rc := ReceiverCheck{Name: r.name()}
	var own, placeholders int
	var examples []string
	notifiers := 0
	for kind, v := range r {
		if !strings.HasSuffix(kind, "_configs") {
			continue
		}
		list, _ := v.([]any)
		for _, n := range list {
			notifiers++
			fields := stringFields(n)
			if kind == "webhook_configs" && r.isOwnWebhook(fields) {
				own++
				continue
			}
			if ex := exampleAddresses(fields); len(ex) > 0 {
				placeholders++
				examples = append(examples, ex...)
			}
		}
	}
	switch {
	case notifiers == 0:
		rc.Why = "which has no notifier configured"
	case own == notifiers:
		rc.Own, rc.Why = true, "which only notifies Claude Ops itself"
	case own+placeholders == notifiers:
		slices.Sort(examples)
		rc.Why = "whose notifiers still hold the shipped placeholders (" + strings.Join(slices.Compact(examples), ", ") + ")"
	default:
		rc.Pages = true
	}
	return rc
}

// isOwnWebhook: a webhook to the daemon's webhook path; when Alertmanager
// hides the URL, the receiver's name says it.
func (r amReceiver) isOwnWebhook(fields map[string]string) bool {
	raw, ok := fields["url"]
	if !ok || raw == "<secret>" || raw == "" {
		return r.name() == "claude-ops"
	}
	u, err := url.Parse(raw)
	return err == nil && strings.TrimSuffix(u.Path, "/") == ownWebhookPath
}

// stringFields are a notifier's top-level string settings.
func stringFields(n any) map[string]string {
	out := map[string]string{}
	m, _ := n.(map[any]any)
	for k, v := range m {
		ks, _ := k.(string)
		vs, ok := v.(string)
		if ks != "" && ok {
			out[ks] = vs
		}
	}
	return out
}

// addressFields are the settings that say where a notifier sends.
var addressFields = []string{"to", "from", "url", "api_url", "webhook_url", "smarthost"}

// addresses returns the hosts and mail domains of a notifier's address
// settings that Alertmanager shows (not <secret>).
func addresses(fields map[string]string) map[string]string {
	out := map[string]string{}
	for _, f := range addressFields {
		v := strings.TrimSpace(fields[f])
		if v == "" || v == "<secret>" {
			continue
		}
		if h := hostOf(f, v); h != "" {
			out[f+"="+v] = h
		}
	}
	return out
}

// exampleAddresses are the address settings under a reserved example
// domain, sorted.
func exampleAddresses(fields map[string]string) []string {
	var out []string
	for setting, h := range addresses(fields) {
		if isExampleHost(h) {
			out = append(out, setting[strings.Index(setting, "=")+1:])
		}
	}
	slices.Sort(out)
	return out
}

func hostOf(field, v string) string {
	switch field {
	case "to", "from":
		// One or more addresses; the first tells.
		first, _, _ := strings.Cut(v, ",")
		if a, err := mail.ParseAddress(strings.TrimSpace(first)); err == nil {
			_, d, _ := strings.Cut(a.Address, "@")
			return strings.ToLower(d)
		}
		if _, d, ok := strings.Cut(first, "@"); ok {
			return strings.ToLower(strings.TrimSpace(d))
		}
		return ""
	case "smarthost":
		h, _, err := net.SplitHostPort(v)
		if err != nil {
			return ""
		}
		return strings.ToLower(h)
	}
	u, err := url.Parse(v)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// isExampleHost: RFC 2606's names for documentation and invalid names.
func isExampleHost(h string) bool {
	h = strings.TrimSuffix(h, ".")
	for _, d := range []string{"example.com", "example.net", "example.org"} {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return h == "example" || h == "invalid" || strings.HasSuffix(h, ".example") || strings.HasSuffix(h, ".invalid")
}

// AlertmanagerConfigSource reads Alertmanager's running configuration
// (*AlertmanagerClient).
type AlertmanagerConfigSource interface {
	Config(ctx context.Context) (string, error)
}

var _ AlertmanagerConfigSource = (*AlertmanagerClient)(nil)

// WarnUnroutedNeedsHuman reads Alertmanager's configuration, retrying every
// retry until it answers or ctx ends (a deadline is warned about, a
// cancellation is not), and warns when the needs-human alert
// reaches no receiver that pages anybody. It logs at info where it goes
// when somebody is paged.
func WarnUnroutedNeedsHuman(ctx context.Context, am AlertmanagerConfigSource, retry time.Duration, logger *slog.Logger) {
	var cfg string
	for {
		c, err := am.Config(ctx)
		if err == nil {
			cfg = c
			break
		}
		logger.Debug("cannot read alertmanager's config yet to check where needs-human alerts go", "err", err)
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return // shutting down
			}
			logger.Warn("could not read alertmanager's config: where needs-human alerts go is unchecked", "err", err)
			return
		case <-time.After(retry):
		}
	}
	rc, err := CheckNeedsHumanRoute(cfg, NeedsHumanRouteLabels)
	if err != nil {
		logger.Warn("could not check where needs-human alerts go", "err", err)
		return
	}
	names := make([]string, len(rc.Receivers))
	for i, r := range rc.Receivers {
		names[i] = r.Name
	}
	if w := rc.Warning(); w != "" {
		logger.Warn(w, "alert", AlertNeedsHuman, "receivers", strings.Join(names, ","))
		return
	}
	logger.Info("needs-human alerts route to a receiver that pages", "alert", AlertNeedsHuman, "receivers", strings.Join(names, ","))
}
