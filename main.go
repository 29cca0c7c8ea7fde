// Command claude-ops runs Claude Code agents against your infrastructure, the
// Prometheus way: Tier 1 health checks become metrics, Alertmanager's webhook
// opens incidents that Tier 2 and Tier 3 remediate, and everything it does is
// exposed on /metrics.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
)

const name = "claude-ops"

// options gathers every flag of SPEC.md §5.
type options struct {
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
	engineHost                      string
	sessionListen                   string
	maxRequests                     int
	sandboxDisable                  bool
	sandboxSecrets                  []string
	sandboxDomains                  []string

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

func addFlags(app *kingpin.Application, o *options) {
	o.web.WebListenAddresses = &o.listen
	app.Flag("web.listen-address", "Addresses to listen on for the web interface, API and telemetry.").
		Envar("CLAUDEOPS_LISTEN_ADDRESS").Default(":9847").StringsVar(&o.listen)
	systemd := false
	o.web.WebSystemdSocket = &systemd
	o.web.WebConfigFile = app.Flag("web.config.file", "Path to an exporter-toolkit web configuration file (TLS, basic auth).").Default("").String()
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
	app.Flag("prometheus.url", "Prometheus the agents may query (read-only PromQL).").Envar("CLAUDEOPS_PROMETHEUS_URL").StringVar(&o.promURL)
	app.Flag("webhook.token-file", "File holding the bearer token Alertmanager sends to the webhook.").Envar("CLAUDEOPS_WEBHOOK_TOKEN_FILE").StringVar(&o.tokenFile)
	app.Flag("webhook.no-auth", "Accept webhook requests without a token.").BoolVar(&o.noAuth)
	app.Flag("webhook.service-labels", "Comma-separated labels; the first one present names an alert's service.").Default("service,container,job").StringVar(&o.serviceLabel)
	app.Flag("webhook.max-body-bytes", "Largest webhook request body accepted.").Default("1048576").Int64Var(&o.webhookMaxBytes)
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
	app.Flag("budget.daily-usd", "Daily spend limit over all sessions, UTC day (0 = none).").Envar("CLAUDEOPS_DAILY_BUDGET_USD").Default("0").Float64Var(&o.budgetUSD)
	promslogflag.AddFlags(app, &o.log)
}

func main() { os.Exit(cli(os.Args[1:])) }

func cli(args []string) int {
	app := kingpin.New(name, "Claude Code agents that keep infrastructure healthy, the Prometheus way.")
	app.Version(version.Print(name))
	app.HelpFlag.Short('h')
	var o options
	addFlags(app, &o)
	serve := app.Command("run", "Run the daemon (the default).").Default()
	hook := app.Command("hook", "Hooks the Claude Code CLI calls; not for people.")
	preTool := hook.Command("pre-tool-use", "Ask the daemon whether a tool call may run (PreToolUse hook).")

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	switch cmd {
	case preTool.FullCommand():
		return runHook()
	case serve.FullCommand():
		return daemon(&o)
	}
	return 2
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
