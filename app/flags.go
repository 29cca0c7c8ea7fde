// Package app wires Claude Ops together: the flags, every component, the
// actor group that runs them and the one reload path.
package app

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
)

// Options gathers every flag of SPEC.md §5, as parsed.
type Options struct {
	web           web.FlagConfig
	listen        []string
	telemetryPath string

	claudePath   string
	baseURL      string
	apiKeyFile   string
	models       [3]string
	interval     time.Duration
	dryRun       bool
	reposDir     string
	stateDir     string
	resultsDir   string
	mcpConfig    string
	amURL        string
	amHTTPConfig string // --alertmanager.http-config-file
	promURL      string
	tokenFile    string
	noAuth       bool
	serviceLabel string

	maxRestarts, maxRedeploys       int
	restartWindow, redeployWindow   time.Duration
	concurrency, maxServicesPerHour int
	queueSize                       int
	verifyTimeout                   time.Duration
	sessionTimeout, sessionGrace    time.Duration
	budgetUSD                       float64
	webhookMaxBytes                 int64
	inboxFsync                      bool
	engineHost                      string
	sessionListen                   string
	maxRequests                     int
	probe                           probeOptions // tier1.go
	sandboxDisable                  bool
	sandboxSecrets                  []string
	sandboxDomains                  []string
	passEnv                         []string
	retention                       model.Duration
	// flags is kingpin's model of the flags as parsed: the effective
	// configuration (the config view, /api/v1/status).
	flags *kingpin.ApplicationModel

	log promslog.Config
}

// interval is a duration flag that also takes a bare number of seconds.
type intervalValue struct{ d *time.Duration }

func (v intervalValue) Set(s string) error {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n <= 0 {
			return fmt.Errorf("interval must be positive, got %q", s)
		}
		*v.d = time.Duration(n * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid interval %q: a duration (90s, 1h) or a number of seconds", s)
	}
	if d <= 0 {
		return fmt.Errorf("interval must be positive, got %q", s)
	}
	*v.d = d
	return nil
}

func (v intervalValue) String() string { return v.d.String() }

func addFlags(app *kingpin.Application, o *Options) {
	// exporter-toolkit's web flags: --web.listen-address (with our env
	// var), --web.config.file, --web.systemd-socket. o.listen is the parsed
	// list, for the checks and the status page.
	o.web = *kingpinflag.AddFlags(app, ":9847")
	app.GetFlag("web.listen-address").Envar("CLAUDEOPS_LISTEN_ADDRESS")
	app.PreAction(func(*kingpin.ParseContext) error {
		o.listen = *o.web.WebListenAddresses
		o.web.WebListenAddresses = &o.listen
		return nil
	})
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&o.telemetryPath)

	app.Flag("claude.path", "Path of the Claude Code CLI.").Envar("CLAUDEOPS_CLAUDE_PATH").Default("claude").StringVar(&o.claudePath)
	app.Flag("claude.base-url", "Anthropic API base URL given to the CLI (LiteLLM and other proxies).").Envar("ANTHROPIC_BASE_URL").StringVar(&o.baseURL)
	app.Flag("claude.api-key-file", "File holding the Anthropic API key (default: the ANTHROPIC_API_KEY environment variable).").Envar("CLAUDEOPS_API_KEY_FILE").StringVar(&o.apiKeyFile)
	for i, def := range []string{"haiku", "sonnet", "opus"} {
		app.Flag(fmt.Sprintf("tier%d.model", i+1), fmt.Sprintf("Model of Tier %d sessions.", i+1)).
			Envar(fmt.Sprintf("CLAUDEOPS_TIER%d_MODEL", i+1)).Default(def).StringVar(&o.models[i])
	}
	app.Flag("schedule.interval", "Time between the end of a Tier 1 run and the start of the next (duration, or seconds).").
		Envar("CLAUDEOPS_INTERVAL").Default("1h").SetValue(intervalValue{&o.interval})
	app.Flag("dry-run", "Tier 2 and 3 get Tier 1's powers; changes are recorded as proposed actions.").Envar("CLAUDEOPS_DRY_RUN").BoolVar(&o.dryRun)
	app.Flag("repos.dir", "Folder of mounted infrastructure repos.").Envar("CLAUDEOPS_REPOS_DIR").Default("data/repos").StringVar(&o.reposDir)
	app.Flag("state.dir", "Folder of the state database.").Envar("CLAUDEOPS_STATE_DIR").Default("data/state").StringVar(&o.stateDir)
	app.Flag("results.dir", "Folder of session transcripts.").Envar("CLAUDEOPS_RESULTS_DIR").Default("data/results").StringVar(&o.resultsDir)
	app.Flag("mcp.config-file", "Baseline MCP configuration merged with each repo's .claude-ops/mcp.json.").Envar("CLAUDEOPS_MCP_CONFIG_FILE").StringVar(&o.mcpConfig)
	app.Flag("alertmanager.url", "Alertmanager to push notifications to and verify resolution with (API v2).").Envar("CLAUDEOPS_ALERTMANAGER_URL").StringVar(&o.amURL)
	app.Flag("alertmanager.http-config-file", "HTTP client configuration of --alertmanager.url (YAML of prometheus/common's HTTPClientConfig: basic_auth, authorization, oauth2, tls_config, proxy_url).").
		Envar("CLAUDEOPS_ALERTMANAGER_HTTP_CONFIG_FILE").StringVar(&o.amHTTPConfig)
	app.Flag("prometheus.url", "Prometheus the agents may query (read-only PromQL).").Envar("CLAUDEOPS_PROMETHEUS_URL").StringVar(&o.promURL)
	app.Flag("webhook.token-file", "File holding the bearer token Alertmanager sends to the webhook.").Envar("CLAUDEOPS_WEBHOOK_TOKEN_FILE").StringVar(&o.tokenFile)
	app.Flag("webhook.no-auth", "Accept webhook requests without a token.").BoolVar(&o.noAuth)
	app.Flag("webhook.service-labels", "Comma-separated labels; the first one present names an alert's service.").Default("service,container,job").StringVar(&o.serviceLabel)
	app.Flag("webhook.max-body-bytes", "Largest webhook request body accepted.").Default("1048576").Int64Var(&o.webhookMaxBytes)
	app.Flag("webhook.inbox-fsync", "Fsync the webhook's inbox before answering: acknowledged alerts then survive a power loss, not only a crash of the daemon. Slower under a storm (BENCHMARKS.md §15).").
		Envar("CLAUDEOPS_WEBHOOK_INBOX_FSYNC").BoolVar(&o.inboxFsync)
	app.Flag("cooldown.max-restarts", "Restarts allowed per service within the restart window.").Default("2").IntVar(&o.maxRestarts)
	app.Flag("cooldown.restart-window", "Sliding window of the restart limit.").Default("4h").DurationVar(&o.restartWindow)
	app.Flag("cooldown.max-redeploys", "Redeploys allowed per service within the redeploy window.").Default("1").IntVar(&o.maxRedeploys)
	app.Flag("cooldown.redeploy-window", "Sliding window of the redeploy limit.").Default("24h").DurationVar(&o.redeployWindow)
	app.Flag("remediation.concurrency", "Remediation sessions running at once.").Default("2").IntVar(&o.concurrency)
	app.Flag("remediation.queue-size", "Alerts waiting to be handled before the webhook answers 503.").Default("10000").IntVar(&o.queueSize)
	app.Flag("remediation.verify-timeout", "How long a fix has to make its alerts resolve.").Default("10m").DurationVar(&o.verifyTimeout)
	app.Flag("remediation.max-services-per-hour", "Distinct services remediated per hour before incidents go to a human.").Default("5").IntVar(&o.maxServicesPerHour)
	app.Flag("session.timeout", "Wall-clock limit of one session.").Default("15m").DurationVar(&o.sessionTimeout)
	app.Flag("session.grace", "Time between SIGTERM and SIGKILL when a session is stopped.").Default("10s").DurationVar(&o.sessionGrace)
	app.Flag("engine.host", "Docker Engine API the typed actions act through (any Docker-compatible engine, Podman included); default: $DOCKER_HOST, else the default socket.").
		Envar("DOCKER_HOST").StringVar(&o.engineHost)
	app.Flag("session.listen-address", "Loopback address of the typed tools (MCP server ops) that sessions reach.").
		Default("127.0.0.1:0").StringVar(&o.sessionListen)
	app.Flag("session.max-requests", "Model requests one session may make before the API proxy refuses more (runaway guard; 0 = none).").
		Default("200").IntVar(&o.maxRequests)
	app.Flag("sandbox.disable", "Run sessions WITHOUT the sandbox: their tools see the daemon's files, sockets and network. Unsafe; every session logs a warning.").
		Envar("CLAUDEOPS_SANDBOX_DISABLE").BoolVar(&o.sandboxDisable)
	app.Flag("sandbox.secret-path", "More paths or name patterns hidden from sessions (repeatable), besides the defaults, the state dir and the token and key files.").
		StringsVar(&o.sandboxSecrets)
	app.Flag("sandbox.allowed-domain", "A domain sessions' Bash may reach over HTTP(S) (repeatable; default none: probes go through the typed http_probe).").
		StringsVar(&o.sandboxDomains)
	app.Flag("session.pass-env", "A variable of the daemon's environment copied into each session's, when set (repeatable; names that look like secrets are refused).").
		Default(defaultPassEnv...).StringsVar(&o.passEnv)
	app.Flag("budget.daily-usd", "Daily spend limit over all sessions, UTC day (0 = none).").Envar("CLAUDEOPS_DAILY_BUDGET_USD").Default("0").Float64Var(&o.budgetUSD)
	app.Flag("retention.period", "How long session rows and their transcripts are kept (0 = for ever).").
		Envar("CLAUDEOPS_RETENTION_PERIOD").Default("30d").SetValue(&o.retention)
	addProbeFlags(app, &o.probe)
	promslogflag.AddFlags(app, &o.log)
}

// RegisterFlags adds every flag of SPEC.md §5 to a and returns where they
// are parsed to. Call Validate after a.Parse.
func RegisterFlags(a *kingpin.Application) *Options {
	o := &Options{}
	addFlags(a, o)
	return o
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// defaultPassEnv are the variables --session.pass-env copies by default:
// proxies, the Kubernetes config and the SSH agent.
var defaultPassEnv = []string{"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "KUBECONFIG", "SSH_AUTH_SOCK"}

var (
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// secretEnvName matches the names --session.pass-env refuses.
	secretEnvName = regexp.MustCompile(`(?i)KEY|TOKEN|SECRET|PASSW|CRED`)
)

// checkPassEnv refuses names that are not variable names, that look like
// secrets, or that the daemon sets itself for each session.
func checkPassEnv(names []string) error {
	for _, n := range names {
		switch {
		case !envName.MatchString(n):
			return fmt.Errorf("--session.pass-env %q is not an environment variable name", n)
		case secretEnvName.MatchString(n):
			return fmt.Errorf("--session.pass-env %s looks like a secret (KEY, TOKEN, SECRET, PASSWORD, CRED): sessions never get the daemon's secrets", n)
		case n == "PATH" || n == "HOME" || n == "TMPDIR" || n == "ENABLE_TOOL_SEARCH" ||
			strings.HasPrefix(n, "ANTHROPIC_") || strings.HasPrefix(n, "CLAUDE_") || strings.HasPrefix(n, "CLAUDEOPS_"):
			return fmt.Errorf("--session.pass-env %s: the daemon sets it for each session", n)
		}
	}
	return nil
}

// Validate checks the flags before anything starts: each error names its
// flag. Zero is allowed where it means "none" (budget, max requests) or
// "never" (cooldown limits). model is kingpin's model of the parsed flags:
// the effective configuration shown by the config view and /api/v1/status.
func (o *Options) Validate(model *kingpin.ApplicationModel) error {
	o.flags = model
	var errs []error
	atLeast := func(flag string, v, min int64) {
		if v < min {
			errs = append(errs, fmt.Errorf("--%s must be ≥ %d, got %d", flag, min, v))
		}
	}
	positive := func(flag string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be > 0, got %s", flag, d))
		}
	}
	atLeast("cooldown.max-restarts", int64(o.maxRestarts), 0)
	atLeast("cooldown.max-redeploys", int64(o.maxRedeploys), 0)
	atLeast("remediation.concurrency", int64(o.concurrency), 1)
	atLeast("remediation.queue-size", int64(o.queueSize), 1)
	atLeast("remediation.max-services-per-hour", int64(o.maxServicesPerHour), 1)
	atLeast("webhook.max-body-bytes", o.webhookMaxBytes, 1)
	atLeast("session.max-requests", int64(o.maxRequests), 0)
	positive("schedule.interval", o.interval)
	positive("cooldown.restart-window", o.restartWindow)
	positive("cooldown.redeploy-window", o.redeployWindow)
	positive("remediation.verify-timeout", o.verifyTimeout)
	positive("session.timeout", o.sessionTimeout)
	positive("session.grace", o.sessionGrace)
	if o.budgetUSD < 0 || math.IsNaN(o.budgetUSD) || math.IsInf(o.budgetUSD, 0) {
		errs = append(errs, fmt.Errorf("--budget.daily-usd must be ≥ 0 (0 = none), got %v", o.budgetUSD))
	}
	for _, u := range []struct{ flag, v string }{
		{"alertmanager.url", o.amURL}, {"prometheus.url", o.promURL}, {"claude.base-url", o.baseURL},
	} {
		if err := checkURL(u.flag, u.v); err != nil {
			errs = append(errs, err)
		}
	}
	if len(o.listen) == 0 {
		errs = append(errs, errors.New("--web.listen-address: at least one address is needed"))
	}
	for _, a := range o.listen {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("--web.listen-address %q: a host:port is needed", a))
		}
	}
	if _, _, err := net.SplitHostPort(o.sessionListen); err != nil {
		errs = append(errs, fmt.Errorf("--session.listen-address %q: a host:port is needed", o.sessionListen))
	}
	if !strings.HasPrefix(o.telemetryPath, "/") || o.telemetryPath == "/" {
		errs = append(errs, fmt.Errorf("--web.telemetry-path %q: a path under / is needed, such as /metrics", o.telemetryPath))
	}
	for i, m := range o.models {
		if strings.TrimSpace(m) == "" {
			errs = append(errs, fmt.Errorf("--tier%d.model must not be empty", i+1))
		}
	}
	if len(splitList(o.serviceLabel)) == 0 {
		errs = append(errs, errors.New("--webhook.service-labels: at least one label is needed"))
	}
	for _, d := range []struct{ flag, v string }{{"state.dir", o.stateDir}, {"results.dir", o.resultsDir}, {"repos.dir", o.reposDir}} {
		if strings.TrimSpace(d.v) == "" {
			errs = append(errs, fmt.Errorf("--%s must not be empty", d.flag))
		}
	}
	if err := checkPassEnv(o.passEnv); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errs[0] // one clear line: the first problem
	}
	return nil
}

// checkURL needs an http(s) URL with a host, or nothing.
func checkURL(flag, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("--%s is not a URL: an http or https URL with a host is needed", flag)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--%s %q: an http or https URL with a host is needed (e.g. http://host:port)", flag, u.Redacted())
	}
	return nil
}
