package probes

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/collector"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

// Defaults of the runner.
const (
	DefaultInterval    = 30 * time.Second
	DefaultConcurrency = 8
)

// Sink receives each round's results (a collector.Tier1Collector).
type Sink interface {
	UpdateProbes(collector.ProbeState)
}

// Config configures a Runner.
type Config struct {
	// Interval is the time between two rounds; 0 means DefaultInterval.
	Interval time.Duration
	// Concurrency bounds the probes running at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Limits are the validation limits; every probe is validated again
	// with them before each run.
	Limits Limits
	// Catalog returns the services now (the repos' declarations and the
	// engine's containers).
	Catalog func(ctx context.Context) (*services.Catalog, error)
	// Engine answers container probes; nil makes them unknown.
	Engine Engine
	// Commands runs declared checks; nil makes them unknown.
	Commands Commands
	// PrometheusURL is where prometheus probes query.
	PrometheusURL string
	// HTTPClient queries Prometheus (default: no redirects).
	HTTPClient *http.Client
	// DNSServer is the "host:port" dns probes ask; default the first
	// nameserver of /etc/resolv.conf.
	DNSServer string
	// Sink gets each round's results.
	Sink Sink
	// OnUnforeseen is told, once per plan and probe, of a result that calls
	// for a new plan (the reasons of one round joined).
	OnUnforeseen func(reason string)
	// Registerer, if set, gets the runner's metrics.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tick, if set, replaces the interval's ticker in Run (tests).
	Tick <-chan time.Time
}

// Result is the latest run of one probe.
type Result struct {
	Service string            `json:"service"`
	Check   string            `json:"check"`
	Type    session.ProbeType `json:"type"`
	Status  string            `json:"status"`
	Seconds float64           `json:"duration_seconds"`
	At      time.Time         `json:"at"`
	Detail  string            `json:"detail"`
	// Unforeseen says why the result calls for a new plan, if it does.
	Unforeseen string `json:"unforeseen,omitempty"`
}

// Runner runs the accepted probes of the current plan every interval. Run
// is an oklog/run actor; Round runs one round now.
type Runner struct {
	cfg Config
	m   *metrics

	roundMu sync.Mutex // one round at a time

	mu       sync.Mutex
	plan     *Plan
	results  []Result
	reported map[string]bool // unforeseen results already reported for plan
	changed  chan struct{}

	dnsOnce sync.Once
	dnsAddr string
}

// New returns a runner without a plan.
func New(cfg Config) *Runner {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Catalog == nil {
		cfg.Catalog = func(context.Context) (*services.Catalog, error) { return nil, nil }
	}
	r := &Runner{cfg: cfg, changed: make(chan struct{}, 1), reported: map[string]bool{}}
	r.m = newMetrics(cfg.Registerer, cfg.Interval)
	return r
}

// Interval is the time between two rounds.
func (r *Runner) Interval() time.Duration { return r.cfg.Interval }

// SetPlan replaces the plan; Run starts a round at once.
func (r *Runner) SetPlan(p *Plan) {
	r.mu.Lock()
	r.plan = p
	r.reported = map[string]bool{}
	r.mu.Unlock()
	r.m.plan(p)
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// Plan returns the current plan, nil if none. It is shared: do not modify it.
func (r *Runner) Plan() *Plan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plan
}

// Results returns the latest round's results.
func (r *Runner) Results() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.results)
}

// Run runs a round at once, then one every interval and one whenever the
// plan changes, until ctx is done.
func (r *Runner) Run(ctx context.Context) error {
	tick := r.cfg.Tick
	if tick == nil {
		t := time.NewTicker(r.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	select { // the first round runs the plan set before Run
	case <-r.changed:
	default:
	}
	r.Round(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		case <-r.changed:
		}
		r.Round(ctx)
	}
}

// Round runs every accepted probe of the plan once, at most Concurrency at
// a time, each within its timeout, and hands the results to the sink. A
// probe that no longer passes Validate (its target left the inventory) is
// not run: its status is unknown and it is reported as unforeseen. When the
// catalog comes with an error (the engine did not list its containers),
// container probes are unknown, not unforeseen. Without an active plan the
// sink is told so (the reported checks show).
func (r *Runner) Round(ctx context.Context) []Result {
	r.roundMu.Lock()
	defer r.roundMu.Unlock()
	plan := r.Plan()
	if !plan.Active() {
		r.mu.Lock()
		r.results = nil
		r.mu.Unlock()
		if r.cfg.Sink != nil {
			r.cfg.Sink.UpdateProbes(collector.ProbeState{Unplanned: plan.UnplannedByService()})
		}
		return nil
	}
	start := r.cfg.Now()
	// A catalog that comes with an error (the engine did not list its
	// containers) still has the repos' declarations, but it is not trusted
	// about containers: container probes are unknown this round.
	cat, catErr := r.cfg.Catalog(ctx)
	probes := plan.Accepted()
	results := make([]Result, len(probes))
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, p := range probes {
		res := &results[i]
		*res = Result{Service: p.Service, Check: p.Check(), Type: p.Type}
		if catErr != nil && p.Type == session.ProbeTypeContainer {
			res.At, res.Status, res.Detail = start, collector.StatusUnknown, fmt.Sprintf("service catalog: %v", catErr)
			continue
		}
		if err := Validate(p.Probe, cat, r.cfg.Limits); err != nil {
			res.At, res.Status, res.Detail = start, collector.StatusUnknown, err.Error()
			res.Unforeseen = "its target left the inventory: " + err.Error()
			continue
		}
		timeout := Timeout(p.Probe, cat, r.cfg.Limits)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			t0 := r.cfg.Now()
			o := r.execute(ctx, p, cat, timeout)
			res.At, res.Seconds = t0, r.cfg.Now().Sub(t0).Seconds()
			res.Status, res.Detail, res.Unforeseen = o.status, o.detail, o.unforeseen
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil // stopped: no result is trustworthy
	}

	checks := make([]collector.ProbeCheck, len(results))
	var unforeseen []string
	r.mu.Lock()
	if r.plan == plan {
		r.results = results
	}
	for i, res := range results {
		checks[i] = collector.ProbeCheck{Service: res.Service, Check: res.Check, Type: res.Type, Status: res.Status, Seconds: res.Seconds}
		if res.Unforeseen == "" {
			continue
		}
		key := res.Service + "\x00" + res.Check
		if r.plan == plan && !r.reported[key] {
			r.reported[key] = true
			unforeseen = append(unforeseen, fmt.Sprintf("probe %s of service %s: %s", res.Check, res.Service, res.Unforeseen))
		}
	}
	r.mu.Unlock()
	if r.cfg.Sink != nil {
		r.cfg.Sink.UpdateProbes(collector.ProbeState{Active: true, Checks: checks, Unplanned: plan.UnplannedByService()})
	}
	r.m.round(start, r.cfg.Now(), results, len(unforeseen))
	for _, u := range unforeseen {
		r.cfg.Logger.Warn("probe failed in a way the plan did not foresee", "reason", u, "plan", plan.Version)
	}
	if len(unforeseen) > 0 && r.cfg.OnUnforeseen != nil {
		r.cfg.OnUnforeseen(strings.Join(unforeseen, "; "))
	}
	return results
}
