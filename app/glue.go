package app

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/version"

	"github.com/claude-ops/claude-ops/api"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
)

// errNoAPIKey is why no session runs without a key: /-/ready says it, the
// log at start and every session refused.
var errNoAPIKey = errors.New("no API key: set ANTHROPIC_API_KEY or --claude.api-key-file")

// sessionRunner runs sessions through the runner, or, without an API key,
// ends each at once as error (no_api_key) without starting the CLI: the
// scheduler and the remediator go on as usual and every attempt is counted
// and recorded. A session whose key the model API rejected is logged.
type sessionRunner struct {
	runner sessions.Runner
	noKey  bool
	logger *slog.Logger
}

func (r *sessionRunner) Run(ctx context.Context, req session.Request) session.Record {
	if r.noKey {
		now := time.Now()
		r.logger.Error("session not run: "+errNoAPIKey.Error(), "session", req.ID, "tier", int(req.Tier), "trigger", req.Trigger)
		return session.Record{
			ID: req.ID, Tier: req.Tier, Model: req.Model, Trigger: req.Trigger, IncidentID: req.IncidentID,
			Start: now, End: now, Outcome: session.OutcomeError, ErrorSubtype: "no_api_key", Reason: errNoAPIKey.Error(),
		}
	}
	rec := r.runner.Run(ctx, req)
	if rec.Outcome == session.OutcomeAuthFailed {
		r.logger.Error(runner.AuthFailedReason+": check ANTHROPIC_API_KEY or --claude.api-key-file",
			"session", rec.ID, "tier", int(rec.Tier), "reason", rec.Reason)
	}
	return rec
}

// proxyVars are the variables that send a session's HTTP through a proxy.
var proxyVars = []string{"HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"}

// loopback is what a session reaches without a proxy: the daemon's session
// endpoint (and, sandboxed, its bridge) listen there.
var loopback = []string{"127.0.0.1", "localhost", "::1"}

// passEnv is the part of the daemon's environment (lookup) that
// --session.pass-env copies into each session's: the variables that are
// set. A proxy URL with credentials in it is not passed (warned). When a
// proxy is passed, NO_PROXY and no_proxy gain the loopback addresses, so
// that the CLI still reaches the daemon's endpoint directly.
func passEnv(names []string, lookup func(string) (string, bool), logger *slog.Logger) map[string]string {
	env := map[string]string{}
	for _, n := range names {
		v, ok := lookup(n)
		if !ok {
			continue
		}
		if slices.Contains(proxyVars, n) && strings.Contains(v, "@") {
			logger.Warn("not passed to sessions: the proxy URL carries credentials", "var", n)
			continue
		}
		env[n] = v
	}
	if !slices.ContainsFunc(proxyVars, func(n string) bool { return env[n] != "" }) {
		return env
	}
	for _, n := range []string{"NO_PROXY", "no_proxy"} {
		list := splitList(env[n])
		for _, h := range loopback {
			if !slices.Contains(list, h) {
				list = append(list, h)
			}
		}
		env[n] = strings.Join(list, ",")
	}
	return env
}

// statusView is GET /api/v1/status: version and effective configuration,
// secrets shown as <secret>, URLs' passwords redacted.
func statusView(o *Options, haveKey, haveToken bool) any {
	return map[string]any{
		"version": map[string]string{"version": version.Version, "revision": version.GetRevision(), "go": runtime.Version()},
		"config":  api.ConfigMap(configRows(o, haveKey, haveToken)),
	}
}

// configRows are the effective flags from kingpin's model (api.ConfigRows),
// and whether the two secrets that are not flags are set.
func configRows(o *Options, haveKey, haveToken bool) []api.ConfigRow {
	secret := func(set bool) string {
		if !set {
			return ""
		}
		return api.Secret
	}
	return append(api.ConfigRows(o.flags),
		api.ConfigRow{Flag: "anthropic.api-key", Value: secret(haveKey), Env: "ANTHROPIC_API_KEY", Help: "The Anthropic API key (or --claude.api-key-file)."},
		api.ConfigRow{Flag: "webhook.token", Value: secret(haveToken), Help: "The webhook's bearer token, read from --webhook.token-file."})
}
