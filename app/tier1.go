package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/collector"
	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/probes"
	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/scheduler"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/store"
)

// The Tier 1 modes of --tier1.mode.
const (
	modePlan  = "plan"
	modeCheck = "check"
)

// probeOptions are the flags of the probe plan (issue 16).
type probeOptions struct {
	mode        string
	interval    time.Duration
	discovery   time.Duration
	concurrency int
	dnsServer   string
}

func addProbeFlags(app *kingpin.Application, o *probeOptions) {
	app.Flag("tier1.mode", "plan: Tier 1 writes a probe plan that the daemon runs every --probe.interval, and runs again only "+
		"when judgement is needed (start without a plan, repos changed, an unforeseen probe error, --discovery.interval); "+
		"check: a full agent check every --schedule.interval.").
		Envar("CLAUDEOPS_TIER1_MODE").Default(modePlan).EnumVar(&o.mode, modePlan, modeCheck)
	app.Flag("probe.interval", "Time between two rounds of the probe plan (plan mode; duration, or seconds).").
		Envar("CLAUDEOPS_PROBE_INTERVAL").Default("30s").SetValue(intervalValue{&o.interval})
	app.Flag("discovery.interval", "Longest time a probe plan runs before Tier 1 looks at the repos again (plan mode).").
		Envar("CLAUDEOPS_DISCOVERY_INTERVAL").Default("24h").SetValue(intervalValue{&o.discovery})
	app.Flag("probe.concurrency", "Probes of the plan running at once.").Default("8").IntVar(&o.concurrency)
	app.Flag("probe.dns-server", "DNS server (host:port) that dns probes ask (default: the first nameserver of /etc/resolv.conf).").
		StringVar(&o.dnsServer)
}

// tier1Wiring is Tier 1's scheduler and, in the plan mode, the probe plan:
// its keeper, its runner and the policy that decides when the model runs.
type tier1Wiring struct {
	o      *Options
	sched  *scheduler.Scheduler
	runner *probes.Runner // nil in the check mode
	keeper *probes.Keeper
}

// newTier1 builds Tier 1. In the plan mode the latest stored plan runs at
// once; claudeops_schedule_interval_seconds (ClaudeOpsTier1Stale) is the
// discovery interval while a plan with probes runs, else --schedule.interval.
func newTier1(o *Options, mgr *sessions.Manager, st *store.Store, tier1 *collector.Tier1Collector, inv *repos.Source,
	eng *engine.Engine, reg prometheus.Registerer, intervalGauge prometheus.Gauge, logger *slog.Logger) (*scheduler.Scheduler, *tier1Wiring) {
	job := &scheduler.Tier1Job{Inventory: func() *repos.Inventory { return inv.Fresh(context.Background()) }, Store: st, Collector: tier1, Logger: logger.With("component", "tier1")}
	sched := scheduler.New(o.interval, mgr, job, logger.With("component", "scheduler"))
	w := &tier1Wiring{o: o, sched: sched}
	if o.probe.mode == modeCheck {
		return sched, w
	}

	hash := func() (string, error) { return probes.ReposHash(o.reposDir) }
	plog := logger.With("component", "probes")
	catalog := catalogOf(inv, eng, plog)
	lim := probes.Limits{MaxTimeout: min(probes.DefaultMaxTimeout, o.probe.interval), Prometheus: o.promURL != ""}
	var policy *scheduler.PlanPolicy
	cfg := probes.Config{
		Interval: o.probe.interval, Concurrency: o.probe.concurrency, Limits: lim, Catalog: catalog,
		Commands: runner.Commands{}, PrometheusURL: o.promURL, DNSServer: o.probe.dnsServer,
		Sink: tier1, Registerer: reg, Logger: plog,
		// A failing probe is an alert; only a failure the plan did not
		// foresee (a name gone, a target out of the inventory) re-plans.
		OnUnforeseen: func(reason string) {
			policy.Unforeseen(reason)
			sched.Wake()
		},
	}
	if eng != nil { // a nil *engine.Engine in the interface would not be nil
		cfg.Engine = eng
	}
	w.runner = probes.New(cfg)
	w.keeper = &probes.Keeper{Store: st, Runner: w.runner, Catalog: catalog, Limits: lim, Logger: plog,
		OnPlan: func(p *probes.Plan) {
			if p.Active() {
				intervalGauge.Set(o.probe.discovery.Seconds())
			} else {
				intervalGauge.Set(o.interval.Seconds())
			}
		}}
	if p, err := w.keeper.Load(context.Background()); err != nil {
		plog.Error("load the stored probe plan", "err", err)
	} else if p != nil {
		plog.Info("stored probe plan", "version", p.Version, "made_at", p.MadeAt, "probes", len(p.Accepted()), "repos_hash", p.ReposHash)
	}
	policy = scheduler.NewPlanPolicy(scheduler.PlanPolicyConfig{
		Plans: w.keeper, Hash: hash, Discovery: o.probe.discovery, Retry: o.interval, Recheck: o.probe.interval,
		Registerer: reg, Logger: logger.With("component", "scheduler"),
	})
	sched.SetPolicy(policy)
	job.Plans, job.Hash, job.ProbeInterval = w.keeper, hash, o.probe.interval
	return sched, w
}

// Run runs the probe plan until ctx is done (nothing in the check mode).
func (w *tier1Wiring) Run(ctx context.Context) error {
	if w.runner == nil {
		<-ctx.Done()
		return nil
	}
	return w.runner.Run(ctx)
}

// Register adds GET /api/v1/plan: the plan that runs, its refusals with
// their reasons, its unplanned checks and each probe's latest result.
func (w *tier1Wiring) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/plan", func(rw http.ResponseWriter, _ *http.Request) {
		var v struct {
			probes.View
			Config map[string]any `json:"config"`
		}
		if w.keeper != nil {
			v.View = w.keeper.View()
		} else {
			v.View = probes.View{Mode: modeCheck, Results: []probes.Result{}, Now: time.Now().UTC(),
				Note: "--tier1.mode=check: Tier 1 checks every service every --schedule.interval; there is no probe plan"}
		}
		v.Config = map[string]any{
			"tier1.mode": w.o.probe.mode, "probe.interval": w.o.probe.interval.String(),
			"discovery.interval": w.o.probe.discovery.String(), "schedule.interval": w.o.interval.String(),
			"probe.concurrency": w.o.probe.concurrency,
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(rw).Encode(v)
	})
}

// catalogOf is the service catalog, built each time it is asked for: the
// repos' declarations as they are now (re-read only when they changed) and
// the engine's containers now. When the engine cannot list them the
// catalog comes with the error (logged when it changes): the probes then
// neither revalidate nor trust container probes; the action chain acts on
// the declared services (chainCatalog).
func catalogOf(inv *repos.Source, eng *engine.Engine, logger *slog.Logger) func(context.Context) (*services.Catalog, error) {
	var (
		mu      sync.Mutex
		lastErr string
	)
	return func(ctx context.Context) (*services.Catalog, error) {
		decls := services.FromInventory(inv.Fresh(ctx))
		if eng == nil {
			return services.Build(decls, nil), nil
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		list, err := eng.Containers(lctx)
		cancel()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		mu.Lock()
		if msg != lastErr {
			if msg != "" {
				logger.Error("list containers", "err", err)
			} else {
				logger.Info("container engine answers again")
			}
			lastErr = msg
		}
		mu.Unlock()
		cs := make([]services.Container, 0, len(list))
		for _, c := range list {
			cs = append(cs, services.Container{ID: c.ID, Name: c.Name, ComposeService: c.ComposeService, ComposeProject: c.ComposeProject})
		}
		cat := services.Build(decls, cs)
		for _, c := range cat.Conflicts {
			logger.Debug("service name conflict", "conflict", c.String())
		}
		return cat, err
	}
}

// chainCatalog is the catalog the action chain resolves targets in: without
// the engine's list, the declared services.
func chainCatalog(catalog func(context.Context) (*services.Catalog, error)) func(context.Context) (*services.Catalog, error) {
	return func(ctx context.Context) (*services.Catalog, error) {
		cat, _ := catalog(ctx)
		return cat, nil
	}
}

// Tier1Loader is what remediation sessions are told of Tier 1's latest
// findings: in the plan mode, with a plan running, each service's checks are
// its probes' latest results (the plan's runs leave the reported checks
// empty); otherwise the stored result as it is.
func (w *tier1Wiring) Tier1Loader(st *store.Store) remediator.Tier1Loader {
	return tier1Findings{st: st, w: w}
}

type tier1Findings struct {
	st *store.Store
	w  *tier1Wiring
}

func (f tier1Findings) LoadTier1(ctx context.Context) (store.Tier1State, error) {
	state, err := f.st.LoadTier1(ctx)
	if err != nil || state.Result == nil || f.w.runner == nil || !f.w.runner.Plan().Active() {
		return state, err
	}
	results := f.w.runner.Results()
	res := *state.Result
	res.Services = slices.Clone(res.Services)
	for i := range res.Services {
		svc := &res.Services[i]
		svc.Checks = nil
		for _, r := range results {
			if r.Service == services.Canonical(svc.Name) {
				svc.Checks = append(svc.Checks, probeFinding(r))
			}
		}
	}
	state.Result = &res
	return state, nil
}

// probeFinding is a probe's latest result in the words of a Tier 1 check.
func probeFinding(r probes.Result) session.Check {
	typ := "custom"
	switch r.Type {
	case session.ProbeTypeHTTP, session.ProbeTypeDNS, session.ProbeTypeContainer:
		typ = string(r.Type)
	case session.ProbeTypeTCP:
		typ = "service"
	}
	status := r.Status
	if status == collector.StatusFailing {
		status = "down"
	}
	return session.Check{Name: r.Check, Type: typ, Status: status, LatencyMS: r.Seconds * 1000,
		Detail: fmt.Sprintf("%s probe at %s: %s", r.Type, r.At.UTC().Format(time.RFC3339), r.Detail)}
}
