package runner

import (
	"maps"
	"slices"
	"strings"

	"github.com/claude-ops/claude-ops/session"
)

// defaultPath is the CLI's PATH when the daemon has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// browserCredPrefix names the daemon's browser credentials, which sessions
// may use through tools but which must never reach a transcript.
const browserCredPrefix = "BROWSER_CRED_"

// sessionEnv builds the CLI's environment from scratch: nothing of the
// daemon's environment but PATH and HOME (given by the caller), so no secret
// leaks into the session by accident.
func sessionEnv(cfg Config, path, home string, req session.Request, configDir, tmpDir string) []string {
	env := map[string]string{
		// No calls to Anthropic besides the Messages API (telemetry, flags).
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
		// Send exactly the --tools set: with tool search on, the CLI adds a
		// DeferredToolPlaceholder tool and defers MCP tools behind ToolSearch,
		// which the tiers' tool sets do not include.
		"ENABLE_TOOL_SEARCH": "false",
		"CLAUDE_CONFIG_DIR":  configDir,
		"TMPDIR":             tmpDir,
		"PATH":               path,
		"HOME":               home,
	}
	if env["PATH"] == "" {
		env["PATH"] = defaultPath
	}
	if env["HOME"] == "" {
		env["HOME"] = configDir
	}
	if cfg.APIKey != "" {
		env["ANTHROPIC_API_KEY"] = cfg.APIKey
	}
	if cfg.BaseURL != "" {
		env["ANTHROPIC_BASE_URL"] = cfg.BaseURL
	}
	maps.Copy(env, req.Env)
	maps.Copy(env, cfg.ExtraEnv)
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// RedactSecretsFromEnv returns the values of every BROWSER_CRED_* variable
// of environ (as os.Environ gives it), for Config.Secrets.
func RedactSecretsFromEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, browserCredPrefix) && v != "" {
			out = append(out, v)
		}
	}
	return out
}
