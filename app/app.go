package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/claude-ops/claude-ops/actions"
	"github.com/claude-ops/claude-ops/api"
	"github.com/claude-ops/claude-ops/collector"
	"github.com/claude-ops/claude-ops/heapfloor"
	"github.com/claude-ops/claude-ops/memory"
	"github.com/claude-ops/claude-ops/opsmcp"
	"github.com/claude-ops/claude-ops/probes"
	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/store"
	"github.com/claude-ops/claude-ops/webhook"
)

// Main runs Claude Ops until ctx is done; it returns the exit code.
func Main(ctx context.Context, o *Options) int {
	logger := promslog.New(&o.log)
	logger.Info("starting claude-ops", "version", version.Info(), "build_context", version.BuildContext())
	a, err := New(o, logger)
	if err == nil {
		err = a.Run(ctx)
	}
	if err != nil {
		logger.Error("claude-ops stopped", "err", err)
		return 1
	}
	logger.Info("claude-ops stopped")
	return 0
}

// App is Claude Ops wired together: New builds every part, Run runs them
// as one actor group until its context is done, then releases them.
type App struct {
	o      *Options
	logger *slog.Logger
	// closers release what New acquired, last first.
	closers []func()
	// actors run until their context is done.
	actors    []func(context.Context) error
	srv       *http.Server
	listeners []net.Listener
	repos     *repos.Source
	reg       *registry
}

// New builds every part of the daemon from validated options. Nothing runs
// until Run; on error what was acquired is released.
func New(o *Options, logger *slog.Logger) (*App, error) {
	a := &App{o: o, logger: logger}
	if err := a.build(); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *App) onClose(f func()) { a.closers = append(a.closers, f) }

func (a *App) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// secrets is what New reads before it builds: the key, the webhook token,
// the baseline MCP configuration.
type secrets struct {
	apiKey      string
	token       []byte
	baselineMCP json.RawMessage
}

func (a *App) readSecrets() (s secrets, err error) {
	o, logger := a.o, a.logger
	s.apiKey = os.Getenv("ANTHROPIC_API_KEY")
	if o.apiKeyFile != "" {
		if s.apiKey, err = readSecret(o.apiKeyFile); err != nil {
			return s, fmt.Errorf("read --claude.api-key-file: %w", err)
		}
	}
	if s.apiKey == "" {
		logger.Error(errNoAPIKey.Error() + "; the daemon serves metrics and the webhook, but no session runs until it is restarted with a key")
	}
	if o.tokenFile != "" {
		t, err := readSecret(o.tokenFile)
		if err != nil {
			return s, fmt.Errorf("read --webhook.token-file: %w", err)
		}
		s.token = []byte(t)
	} else if !o.noAuth {
		logger.Warn("no --webhook.token-file: the webhook answers 503 until one is given (or --webhook.no-auth)")
	}
	if o.mcpConfig != "" {
		b, err := os.ReadFile(o.mcpConfig)
		if err != nil {
			return s, fmt.Errorf("read --mcp.config-file: %w", err)
		}
		if !json.Valid(b) {
			return s, fmt.Errorf("--mcp.config-file %s is not valid JSON", o.mcpConfig)
		}
		s.baselineMCP = b
	}
	return s, nil
}

// prepareDirs makes the state, results and repos dirs absolute (so that the
// gate's and the CLI's path rules compare like with like whatever the
// working directory) and creates them.
func prepareDirs(o *Options) error {
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
	return nil
}

func (a *App) build() error {
	o, logger := a.o, a.logger
	// Parsed now, not when the first request comes.
	if err := web.Validate(*o.web.WebConfigFile); err != nil {
		return fmt.Errorf("--web.config.file %s: %w", *o.web.WebConfigFile, err)
	}
	if err := prepareDirs(o); err != nil {
		return err
	}
	// One daemon per state dir: locked before anything in it is touched
	// (sockets, the database, sessions left running).
	lock, err := store.Lock(o.stateDir)
	if err != nil {
		return err
	}
	a.onClose(func() { _ = lock.Unlock() })
	if err := checkWritable(o.resultsDir); err != nil {
		return fmt.Errorf("--results.dir %s is not writable: %w", o.resultsDir, err)
	}
	sec, err := a.readSecrets()
	if err != nil {
		return err
	}

	st, err := store.Open(filepath.Join(o.stateDir, "claude-ops.db"))
	if err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	a.onClose(func() { _ = st.Close() })
	ctx := context.Background()
	if interrupted, err := st.MarkRunningInterrupted(ctx, time.Now()); err != nil {
		return fmt.Errorf("mark interrupted sessions: %w", err)
	} else if len(interrupted) > 0 {
		logger.Warn("sessions interrupted by the last shutdown", "count", len(interrupted))
	}

	reg := newRegistry()
	a.reg = reg
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
	a.repos = repos.NewSource(repos.SourceConfig{
		Dir: o.reposDir, Baseline: sec.baselineMCP, Registerer: reg, Logger: logger.With("component", "repos"),
		Hash: func() (string, error) { return probes.ReposHash(o.reposDir) },
	})
	a.actors = append(a.actors, a.repos.Run, a.reloadOnHUP)
	budget := sessions.NewBudget(o.budgetUSD, st, reg, logger)

	redact := runner.RedactSecretsFromEnv(os.Environ())
	if len(sec.token) > 0 {
		redact = append(redact, string(sec.token))
	}
	// Sessions never hold the key: they talk to the API proxy with a token
	// of their own. The key is still redacted wherever it might show.
	if sec.apiKey != "" {
		redact = append(redact, sec.apiKey)
	}
	sandbox, err := newSandbox(o)
	if err != nil {
		return err
	}
	sandboxState := checkSandbox(ctx, sandbox, reg, logger)
	rn := runner.New(runner.Config{
		Sandbox:    sandbox,
		ClaudePath: o.claudePath, ResultsDir: o.resultsDir,
		Secrets: redact, Timeout: o.sessionTimeout, Grace: o.sessionGrace, Logger: logger.With("component", "runner"),
		ExtraEnv: passEnv(o.passEnv, os.LookupEnv, logger),
	})

	limits := actions.Limits{
		MaxRestarts: o.maxRestarts, RestartWindow: o.restartWindow,
		MaxRedeploys: o.maxRedeploys, RedeployWindow: o.redeployWindow,
		MaxServices: o.maxServicesPerHour, BlastWindow: time.Hour,
	}
	// The gate and the action chain report to each session through its
	// binding (session.Binding: Report, Refused).
	gt, err := newGate(o, st, reg, logger)
	if err != nil {
		return fmt.Errorf("action gate: %w", err)
	}
	eng := openEngine(ctx, o.engineHost, logger.With("component", "engine"))
	if eng != nil {
		a.onClose(func() { _ = eng.Close() })
	}
	catalog := chainCatalog(catalogOf(a.repos, eng, logger.With("component", "services")))
	names := &serviceNames{catalog: catalog, refresh: serviceNamesRefresh}
	chainCfg := actions.Config{
		Limits: limits, Ledger: st, Catalog: catalog, Commands: runner.Commands{},
		Budget: budget.Exhausted, PrometheusURL: o.promURL, Registerer: reg,
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
	budget.SetLive(meter.Live)
	proxy, err := newProxy(o, sec.apiKey, reg, logger.With("component", "apiproxy"))
	if err != nil {
		return err
	}
	endpoint, err := newSessionEndpoint(o.sessionListen, sandbox, opsmcp.New(chain, catalog, o.promURL != ""), proxy, meter)
	if err != nil {
		return err
	}
	reg.MustRegister(actions.NewCooldownCollector(st, limits, logger))

	mgr := sessions.New(sessions.Config{
		Models:        map[session.Tier]string{session.Tier1: o.models[0], session.Tier2: o.models[1], session.Tier3: o.models[2]},
		ReposDir:      o.reposDir,
		DryRun:        o.dryRun,
		PrometheusURL: o.promURL,
		MCPConfig:     func() json.RawMessage { return a.repos.Fresh(context.Background()).MCPConfig() },
		Budget:        budget.ForSession,
		Meter:         meter,
		Logger:        logger.With("component", "sessions"),
	}, &sessionRunner{runner: rn, noKey: sec.apiKey == "", logger: logger.With("component", "sessions")}, st, sessionMetrics, gt, endpoint)

	// Tier 1: the probe plan (--tier1.mode=plan) or the hourly check (tier1.go).
	sched, plan := newTier1(o, mgr, st, tier1, a.repos, eng, reg, intervalGauge, logger)

	// What sessions learn about services, redacted as transcripts are.
	mem, err := memory.New(memory.Config{Store: st, Secrets: redact, Registerer: reg, Logger: logger.With("component", "memory")})
	if err != nil {
		return err
	}
	// The webhook's inbox: acknowledged batches, until a save applies them.
	inbox, err := openInbox(ctx, st, filepath.Join(o.stateDir, "inbox"), o.inboxFsync, logger.With("component", "inbox"))
	if err != nil {
		return fmt.Errorf("open inbox: %w", err)
	}
	a.onClose(func() { _ = inbox.Close() })
	// --alertmanager.url's client, and where its needs-human alert goes (deploy.go).
	amc, stopAMCheck, err := newAlertmanager(o, logger)
	if err != nil {
		return err
	}
	a.onClose(stopAMCheck)
	rem, err := remediator.New(remediator.Config{
		Concurrency: o.concurrency, VerifyTimeout: o.verifyTimeout, MaxServicesPerHour: o.maxServicesPerHour,
		QueueSize: o.queueSize, DryRun: o.dryRun, AlertmanagerURL: o.amURL, Logger: logger.With("component", "remediator"),
		SaveEvery: remediator.DefaultSaveEvery, // a storm's alerts saved in bulk; the inbox holds them meanwhile
	}, remediator.Deps{
		Sessions: mgr, Store: st, Registerer: reg, Inbox: inbox, Alertmanager: amc,
		Canonical: names.Canonical,                  // an alert on web-1 joins web's incident
		Prompt:    mem.Prompt, OnClose: mem.OnClose, // memories of past incidents (issue 15)
		Context: remediator.NewContextProvider(plan.Tier1Loader(st), func(service string) string {
			return a.repos.Fresh(context.Background()).RulesFor(service)
		}),
	})
	if err != nil {
		return err
	}

	hook := webhook.NewHandler(webhook.Config{
		Token: sec.token, NoAuth: o.noAuth, ServiceLabels: splitList(o.serviceLabel), MaxBodyBytes: o.webhookMaxBytes,
		Sink: rem, Registerer: reg,
		// In memory: duplicates come from an HA pair or repeat_interval within
		// seconds to hours, and one that slips through after a restart only
		// joins the open incident. A store lookup would fsync per alert.
		Deduper: webhook.NewMemoryDeduper(webhook.DefaultDedupMax, webhook.DefaultDedupTTL), Logger: logger.With("component", "webhook"),
	})

	mux := a.webMux(reg.Registry, tier1, sandboxState, sec.apiKey != "")
	mux.Handle("POST /api/v1/webhook", hook)
	plan.Register(mux) // GET /api/v1/plan
	if err := (&api.API{
		Trigger: sched.Trigger, Store: st, Live: mgr, Token: sec.token,
		ResultsDir: o.resultsDir, Logger: logger.With("component", "api"),
		Cooldowns: func(ctx context.Context) (any, error) { return actions.CooldownView(ctx, st, limits) },
		Actions:   func(ctx context.Context) (any, error) { return actions.LedgerView(ctx, st) },
		Incidents: rem.Incidents,
		Status:    func() any { return statusView(o, sec.apiKey != "", len(sec.token) > 0) },
		Limits: map[string]api.Limit{
			"restart": {Max: limits.MaxRestarts, Window: limits.RestartWindow}, "redeploy": {Max: limits.MaxRedeploys, Window: limits.RedeployWindow},
		},
		Config:      configRows(o, sec.apiKey != "", len(sec.token) > 0),
		MetricsPath: o.telemetryPath,
		Landing:     web.LandingConfig{Name: "Claude Ops", Description: "Claude Code agents that keep infrastructure healthy", Version: version.Info()},
	}).Register(mux); err != nil { // the landing page (GET /), the session pages and the Run-now form too
		return err
	}
	api.RegisterMemories(mux, st, logger.With("component", "api")) // GET /api/v1/memories, DELETE /api/v1/memories/{id}

	if a.listeners, err = webListeners(o); err != nil { // deploy.go
		return err
	}
	a.onClose(func() {
		for _, l := range a.listeners {
			_ = l.Close()
		}
	})
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	// Incidents open at the last shutdown resume.
	if err := rem.Resume(ctx); err != nil {
		logger.Error("resume incidents", "err", err)
	}
	// Run stops actors in this order: those that start sessions first, the
	// sockets sessions reach last, so that a session still setting up when
	// the socket goes has already been told to stop (it is interrupted, not
	// in error).
	a.actors = append(a.actors, sched.Run, plan.Run, rem.Run,
		(&api.Retention{Store: st, ResultsDir: o.resultsDir, Period: time.Duration(o.retention), Logger: logger.With("component", "retention")}).Run,
		names.Run, gt.Serve, endpoint.Serve)
	return nil
}

// heapFloor is the least heap goal of the Go GC (heapfloor): an idle daemon
// keeps a few MiB alive, and the first second of an alert storm otherwise
// ran a GC cycle every few MiB (BENCHMARKS.md §17); the storm's peak RSS is
// the same with it.
const heapFloor = 32 << 20

// Run serves and runs every actor until ctx is done or one of them fails,
// then stops them all and releases what New acquired.
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	if os.Getenv("GOGC") == "" { // the operator's GOGC is left alone
		defer heapfloor.Keep(heapFloor, 100)()
	}
	var g run.Group
	g.Add(func() error {
		<-ctx.Done()
		a.logger.Info("shutting down")
		return nil
	}, func(error) {})
	g.Add(func() error {
		// exporter-toolkit logs "Listening on" for each address.
		err := web.ServeMultiple(a.listeners, a.srv, &a.o.web, a.logger)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}, func(error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.srv.Shutdown(ctx)
	})
	for _, fn := range a.actors { // run.Group interrupts them one after the other, in this order
		actx, cancel := context.WithCancelCause(context.Background())
		g.Add(func() error { return fn(actx) }, func(error) { cancel(session.Cancelled(session.OutcomeInterrupted)) })
	}
	return g.Run()
}

// reloadOnHUP re-reads the repos on SIGHUP, through the repos' one reload
// path (POST /-/reload is the other way in).
func (a *App) reloadOnHUP(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			a.repos.Reload(ctx)
			a.logger.Info("reloaded repos")
		case <-ctx.Done():
			return nil
		}
	}
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
