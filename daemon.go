package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/claude-ops/claude-ops/actions"
	"github.com/claude-ops/claude-ops/api"
	"github.com/claude-ops/claude-ops/collector"
	"github.com/claude-ops/claude-ops/memory"
	"github.com/claude-ops/claude-ops/opsmcp"
	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/store"
	"github.com/claude-ops/claude-ops/webhook"
)

// daemon runs Claude Ops until a signal; it returns the exit code.
func daemon(o *options) int {
	logger := promslog.New(&o.log)
	logger.Info("starting claude-ops", "version", version.Info(), "build_context", version.BuildContext())
	if err := serve(o, logger); err != nil {
		logger.Error("claude-ops stopped", "err", err)
		return 1
	}
	logger.Info("claude-ops stopped")
	return 0
}

// readSecret reads a one-line secret file.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := string(bytes.TrimSpace(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

func serve(o *options, logger *slog.Logger) error {
	// Parsed now, not when the first request comes.
	if err := web.Validate(*o.web.WebConfigFile); err != nil {
		return fmt.Errorf("--web.config.file %s: %w", *o.web.WebConfigFile, err)
	}
	// Absolute, so that the gate's and the CLI's path rules compare like
	// with like whatever the working directory.
	for _, d := range []*string{&o.stateDir, &o.resultsDir, &o.reposDir} {
		abs, err := filepath.Abs(*d)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", *d, err)
		}
		if err := os.MkdirAll(abs, 0o750); err != nil {
			return fmt.Errorf("create %s: %w", abs, err)
		}
		*d = abs
	}
	// One daemon per state dir: locked before anything in it is touched
	// (sockets, the database, sessions left running).
	lock, err := store.Lock(o.stateDir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if err := checkWritable(o.resultsDir); err != nil {
		return fmt.Errorf("--results.dir %s is not writable: %w", o.resultsDir, err)
	}
	apiKey := os.Getenv("ANTHROPIC_API_KEY")
	if o.apiKeyFile != "" {
		k, err := readSecret(o.apiKeyFile)
		if err != nil {
			return fmt.Errorf("read --claude.api-key-file: %w", err)
		}
		apiKey = k
	}
	if apiKey == "" {
		logger.Error(errNoAPIKey.Error() + "; the daemon serves metrics and the webhook, but no session runs until it is restarted with a key")
	}
	var token []byte
	if o.tokenFile != "" {
		t, err := readSecret(o.tokenFile)
		if err != nil {
			return fmt.Errorf("read --webhook.token-file: %w", err)
		}
		token = []byte(t)
	} else if !o.noAuth {
		logger.Warn("no --webhook.token-file: the webhook answers 503 until one is given (or --webhook.no-auth)")
	}
	var baselineMCP json.RawMessage
	if o.mcpConfig != "" {
		b, err := os.ReadFile(o.mcpConfig)
		if err != nil {
			return fmt.Errorf("read --mcp.config-file: %w", err)
		}
		if !json.Valid(b) {
			return fmt.Errorf("--mcp.config-file %s is not valid JSON", o.mcpConfig)
		}
		baselineMCP = b
	}

	st, err := store.Open(filepath.Join(o.stateDir, "claude-ops.db"))
	if err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	defer st.Close()
	ctx := context.Background()
	if interrupted, err := st.MarkRunningInterrupted(ctx, time.Now()); err != nil {
		return fmt.Errorf("mark interrupted sessions: %w", err)
	} else if len(interrupted) > 0 {
		logger.Warn("sessions interrupted by the last shutdown", "count", len(interrupted))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("claudeops"),
	)
	intervalGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "claudeops_schedule_interval_seconds", Help: "Time between the end of a Tier 1 run and the start of the next.",
	})
	intervalGauge.Set(o.interval.Seconds())
	reg.MustRegister(intervalGauge)

	// The Tier 1 series are served beside the registry, not through it: the
	// registry re-checks each of up to 20,000 samples on every scrape.
	tier1 := collector.NewTier1Collector(0)
	if state, err := st.LoadTier1(ctx); err != nil {
		logger.Error("load last tier 1 result", "err", err)
	} else {
		tier1.Update(state)
	}
	sessionMetrics := collector.NewSessionMetrics(reg)
	inventory := newInventory(o.reposDir, baselineMCP, reg, logger)
	budget := newBudget(o.budgetUSD, st, reg, logger)

	secrets := runner.RedactSecretsFromEnv(os.Environ())
	if len(token) > 0 {
		secrets = append(secrets, string(token))
	}
	// Sessions never hold the key: they talk to the API proxy with a token
	// of their own. The key is still redacted wherever it might show.
	if apiKey != "" {
		secrets = append(secrets, apiKey)
	}
	sandbox, err := newSandbox(o)
	if err != nil {
		return err
	}
	sandboxState := checkSandbox(ctx, sandbox, reg, logger)
	rn := runner.New(runner.Config{
		Sandbox:    sandbox,
		ClaudePath: o.claudePath, ResultsDir: o.resultsDir,
		Secrets: secrets, Timeout: o.sessionTimeout, Grace: o.sessionGrace, Logger: logger.With("component", "runner"),
		ExtraEnv: passEnv(o.passEnv, os.LookupEnv, logger),
	})

	limits := actions.Limits{
		MaxRestarts: o.maxRestarts, RestartWindow: o.restartWindow,
		MaxRedeploys: o.maxRedeploys, RedeployWindow: o.redeployWindow,
		MaxServices: o.maxServicesPerHour, BlastWindow: time.Hour,
	}
	// The gate and the action chain report to the session manager and the
	// remediator, both built after them.
	var (
		mgr *sessions.Manager
		rem *remediator.Remediator
	)
	onAction := func(id string, a session.Action) { mgr.AddAction(id, a) }
	gt, err := newGate(o, st, reg, logger, onAction)
	if err != nil {
		return fmt.Errorf("action gate: %w", err)
	}
	eng := openEngine(ctx, o.engineHost, logger.With("component", "engine"))
	if eng != nil {
		defer eng.Close()
	}
	catalog := catalogOf(inventory, eng, logger.With("component", "services"))
	chainCfg := actions.Config{
		Limits: limits, Ledger: st, Catalog: catalog, Commands: runner.Commands{},
		Budget: budget.Exhausted, PrometheusURL: o.promURL, Registerer: reg,
		OnAction: onAction,
		OnRefusal: func(s actions.Session, v actions.Verdict) {
			// A change the limits refuse goes to a human; a wrong target or
			// tier is the model's mistake, for its next attempt.
			switch v.Stage {
			case session.StageCooldown, session.StageBlastRadius, session.StageBudget:
				if s.IncidentID != "" {
					rem.CooldownRefused(s.IncidentID, v.Reason)
				}
			}
		},
		Logger: logger.With("component", "actions"),
	}
	if eng != nil { // a nil *engine.Engine in the interface would not be nil
		chainCfg.Engine = eng
	}
	chain, err := actions.New(chainCfg)
	if err != nil {
		return err
	}
	meter := sessions.NewMeter(sessionMetrics, budget.Exhausted)
	budget.live = meter.Live
	proxy, err := newProxy(o, apiKey, reg, logger.With("component", "apiproxy"))
	if err != nil {
		return err
	}
	endpoint, err := newSessionEndpoint(o.sessionListen, sandbox, opsmcp.New(chain, catalog, o.promURL != ""), proxy, meter)
	if err != nil {
		return err
	}
	reg.MustRegister(newCooldownCollector(st, limits, logger))

	mgr = sessions.New(sessions.Config{
		Models:        map[session.Tier]string{session.Tier1: o.models[0], session.Tier2: o.models[1], session.Tier3: o.models[2]},
		ReposDir:      o.reposDir,
		DryRun:        o.dryRun,
		PrometheusURL: o.promURL,
		MCPConfig:     func() json.RawMessage { return inventory.Load().MCPConfig() },
		Budget:        budget.ForSession,
		Meter:         meter,
		Logger:        logger.With("component", "sessions"),
	}, &sessionRunner{runner: rn, noKey: apiKey == "", logger: logger.With("component", "sessions")}, st, sessionMetrics, gt, endpoint)

	// Tier 1: the probe plan (--tier1.mode=plan) or the hourly check (probewire.go).
	sched, plan := newTier1(o, mgr, st, tier1, inventory, eng, reg, intervalGauge, logger)

	// What sessions learn about services, redacted as transcripts are.
	mem, err := memory.New(memory.Config{Store: st, Secrets: secrets, Registerer: reg, Logger: logger.With("component", "memory")})
	if err != nil {
		return err
	}
	inbox := store.NewInbox(st)
	defer inbox.Close() // before the store's, deferred earlier
	// --alertmanager.url's client, and where its needs-human alert goes (deploywire.go).
	amc, stopAMCheck, err := newAlertmanager(o, logger)
	if err != nil {
		return err
	}
	defer stopAMCheck()
	rem, err = remediator.New(remediator.Config{
		Concurrency: o.concurrency, VerifyTimeout: o.verifyTimeout, MaxServicesPerHour: o.maxServicesPerHour,
		QueueSize: o.queueSize, DryRun: o.dryRun, AlertmanagerURL: o.amURL, Logger: logger.With("component", "remediator"),
	}, remediator.Deps{
		Sessions: mgr, Store: st, Registerer: reg, Inbox: inbox, Alertmanager: amc,
		Prompt: mem.Prompt, OnClose: mem.OnClose, // memories of past incidents (issue 15)
		Context: remediator.NewContextProvider(plan.Tier1Loader(st), func(service string) string { return repoRules(inventory.Load(), service) }),
	})
	if err != nil {
		return err
	}

	hook := webhook.NewHandler(webhook.Config{
		Token: token, NoAuth: o.noAuth, ServiceLabels: splitList(o.serviceLabel), MaxBodyBytes: o.webhookMaxBytes,
		Sink: rem, Registerer: reg,
		// In memory: duplicates come from an HA pair or repeat_interval within
		// seconds to hours, and one that slips through after a restart only
		// joins the open incident. A store lookup would fsync per alert.
		Deduper: webhook.NewMemoryDeduper(webhook.DefaultDedupMax, webhook.DefaultDedupTTL), Logger: logger.With("component", "webhook"),
	})

	mux := http.NewServeMux()
	mux.Handle(o.telemetryPath, promhttp.HandlerFor(collector.Merge(reg, tier1), promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError), MaxRequestsInFlight: 10,
		EnableOpenMetrics: true,
	}))
	var ready sync.Once
	readyCh := make(chan struct{})
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Claude Ops is Healthy.") })
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-readyCh:
		default:
			http.Error(w, "Claude Ops is not ready.", http.StatusServiceUnavailable)
			return
		}
		if apiKey == "" {
			http.Error(w, "Claude Ops is not ready: "+errNoAPIKey.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := sandboxState.err(r.Context()); err != nil {
			http.Error(w, "Claude Ops is not ready: no session can run: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Claude Ops is Ready.")
	})
	// Reload re-reads the repos now (each session re-reads them anyway); a
	// broken repo file is reported, never a failed reload.
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		inventory.Load()
		logger.Info("reloaded repos")
		fmt.Fprintln(w, "reloaded")
	})
	mux.Handle("POST /api/v1/webhook", hook)
	plan.Register(mux) // GET /api/v1/plan
	if err := (&api.API{
		Trigger: sched.Trigger, Store: st, Live: mgr, Token: token,
		ResultsDir: o.resultsDir, Logger: logger.With("component", "api"),
		Cooldowns: func(ctx context.Context) (any, error) { return cooldownView(ctx, st, limits) },
		Actions:   func(ctx context.Context) (any, error) { return actionView(ctx, st) },
		Incidents: rem.Incidents,
		Status:    func() any { return statusView(o, apiKey != "", len(token) > 0) },
		Limits: map[string]api.Limit{
			"restart": {Max: limits.MaxRestarts, Window: limits.RestartWindow}, "redeploy": {Max: limits.MaxRedeploys, Window: limits.RedeployWindow},
		},
		Config:      configRows(o, apiKey != "", len(token) > 0),
		MetricsPath: o.telemetryPath,
		Landing:     web.LandingConfig{Name: "Claude Ops", Description: "Claude Code agents that keep infrastructure healthy", Version: version.Info()},
	}).Register(mux); err != nil { // the landing page (GET /), the session pages and the Run-now form too
		return err
	}
	api.RegisterMemories(mux, st, logger.With("component", "api")) // GET /api/v1/memories, DELETE /api/v1/memories/{id}

	listeners, err := webListeners(o) // deploywire.go
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	// Incidents open at the last shutdown resume.
	if err := rem.Resume(ctx); err != nil {
		logger.Error("resume incidents", "err", err)
	}

	var g run.Group
	{
		term := make(chan os.Signal, 1)
		signal.Notify(term, os.Interrupt, syscall.SIGTERM)
		cancel := make(chan struct{})
		g.Add(func() error {
			select {
			case s := <-term:
				logger.Info("received signal, shutting down", "signal", s.String())
			case <-cancel:
			}
			return nil
		}, func(error) { close(cancel); signal.Stop(term) })
	}
	{
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		cancel := make(chan struct{})
		g.Add(func() error {
			for {
				select {
				case <-hup:
					inventory.Load()
					logger.Info("reloaded repos")
				case <-cancel:
					return nil
				}
			}
		}, func(error) { close(cancel); signal.Stop(hup) })
	}
	{
		g.Add(func() error {
			// exporter-toolkit logs "Listening on" for each address.
			ready.Do(func() { close(readyCh) })
			err := web.ServeMultiple(listeners, srv, &o.web, logger)
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		}, func(error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
	}
	addActor(&g, gt.Serve)
	addActor(&g, endpoint.Serve)
	addActor(&g, sched.Run)
	addActor(&g, plan.Run)
	addActor(&g, rem.Run)
	addActor(&g, (&api.Retention{Store: st, ResultsDir: o.resultsDir, Period: time.Duration(o.retention), Logger: logger.With("component", "retention")}).Run)
	return g.Run()
}

// addActor adds a context-driven worker to the group.
func addActor(g *run.Group, fn func(context.Context) error) {
	ctx, cancel := context.WithCancelCause(context.Background())
	g.Add(func() error { return fn(ctx) }, func(error) { cancel(session.Cancelled(session.OutcomeInterrupted)) })
}

// inventoryLoader re-reads the repos for every session and on reload, and keeps
// claudeops_repo_errors current.
type inventoryLoader struct {
	// mu keeps one Load's reset-and-set of the gauges whole: the scheduler,
	// the session manager, the remediator and reloads all call Load.
	mu        sync.Mutex
	dir       string
	baseline  json.RawMessage
	logger    *slog.Logger
	errors    *prometheus.GaugeVec
	conflicts *prometheus.GaugeVec
}

func newInventory(dir string, baseline json.RawMessage, reg prometheus.Registerer, logger *slog.Logger) *inventoryLoader {
	l := &inventoryLoader{
		dir: dir, baseline: baseline, logger: logger.With("component", "repos"),
		errors: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claudeops_repo_errors", Help: "Files of a repo that could not be used at the last read (1 per repo with errors).",
		}, []string{"repo"}),
		conflicts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claudeops_repo_mcp_conflicts", Help: "MCP servers a repo tries to redefine, ignored, at the last read.",
		}, []string{"repo"}),
	}
	reg.MustRegister(l.errors, l.conflicts)
	return l
}

// Load reads the repos now.
func (l *inventoryLoader) Load() *repos.Inventory {
	inv, err := repos.Load(l.dir, l.baseline)
	if err != nil {
		l.logger.Error("read repos", "dir", l.dir, "err", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errors.Reset()
	l.conflicts.Reset()
	for _, e := range inv.Errors {
		l.logger.Error("repo file skipped", "repo", e.Repo, "file", e.File, "err", e.Err)
		l.errors.WithLabelValues(e.Repo).Set(1)
	}
	for _, c := range inv.Conflicts {
		l.logger.Warn("repo may not replace an MCP server", "repo", c.Repo, "server", c.Server)
		l.conflicts.WithLabelValues(c.Repo).Inc()
	}
	return inv
}

// maxRules bounds the repo rules handed to a remediation session.
const maxRules = 32 << 10

// repoRules returns the rules of the repo named like the service, or of every
// repo when none is, bounded.
func repoRules(inv *repos.Inventory, service string) string {
	if _, ok := inv.Repo(service); ok {
		return inv.RepoRules(service)
	}
	var b strings.Builder
	for _, r := range inv.Repos {
		b.WriteString(inv.RepoRules(r.Name))
		if b.Len() > maxRules {
			return b.String()[:maxRules]
		}
	}
	return b.String()
}

// checkWritable creates and removes a file in dir.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".claude-ops-write-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	err = f.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}
