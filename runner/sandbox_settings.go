package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// denyRules are the CLI permission rules for the secret paths: Read rules,
// which the Read, Grep and Glob tools obey, and the CLI's Bash sandbox too
// for absolute paths (it ignores "//**/name" globs: measured with 2.1.330).
func denyRules(pats []secretPattern) []string {
	var out []string
	for _, p := range pats {
		switch {
		case underVirtual(p.pat):
			// /proc/*/environ: the sandbox's own pid namespace shows only the
			// session's processes, and Bash, in the CLI's nested user
			// namespace, cannot read theirs. A rule here would make the CLI
			// mount over every /proc/<pid>/environ before each command, which
			// fails whenever a process exits meanwhile.
		case p.abs:
			// "/" + an absolute path is the CLI's root anchor "//".
			out = append(out, "Read(/"+p.pat+")", "Read(/"+p.pat+"/**)")
		default:
			out = append(out, "Read(//**/"+p.pat+")", "Read(//**/"+p.pat+"/**)")
		}
	}
	return out
}

// innerSettings merges the CLI's sandbox settings and the deny rules into a
// request's --settings (which may carry the action gate's hooks). hidden are
// the secret files and directories found at session start; egressPort, when
// not 0, is the sandbox's way out for the allowed domains.
func (s *Sandbox) innerSettings(base json.RawMessage, pats []secretPattern, hidden []hiddenPath, env []string, egressPort int) (json.RawMessage, error) {
	settings := map[string]any{}
	if len(bytes.TrimSpace(base)) > 0 {
		if err := json.Unmarshal(base, &settings); err != nil {
			return nil, fmt.Errorf("request settings: %w", err)
		}
		if settings == nil {
			settings = map[string]any{}
		}
	}
	var creds []any
	for _, k := range s.deniedEnv(env) {
		creds = append(creds, map[string]any{"name": k, "mode": "deny"})
	}
	network := map[string]any{"allowedDomains": append([]string{}, s.AllowedDomains...), "strictAllowlist": true}
	if egressPort != 0 {
		// The CLI's own proxy would need the network the sandbox lacks.
		network["httpProxyPort"] = egressPort
	}
	settings["sandbox"] = map[string]any{
		"enabled":                  true,
		"failIfUnavailable":        true,
		"autoAllowBashIfSandboxed": true,
		"allowUnsandboxedCommands": false,
		// Inside the outer bwrap the CLI's bwrap cannot mount a new /proc.
		"enableWeakerNestedSandbox": s.only != "inner",
		"credentials":               map[string]any{"envVars": creds},
		"network":                   network,
	}
	perms, _ := settings["permissions"].(map[string]any)
	if perms == nil {
		perms = map[string]any{}
	}
	deny, _ := perms["deny"].([]any)
	for _, r := range denyRules(pats) {
		deny = append(deny, r)
	}
	// The CLI's Bash sandbox ignores name globs ("//**/.env*"); it obeys
	// absolute paths, so the files the scan found are named one by one.
	for i, h := range hidden {
		if i == maxHiddenRules {
			break
		}
		deny = append(deny, "Read(/"+h.path+")")
		if h.dir {
			deny = append(deny, "Read(/"+h.path+"/**)")
		}
	}
	seen := map[string]bool{}
	deny = slices.DeleteFunc(deny, func(r any) bool {
		s, ok := r.(string)
		dup := ok && seen[s]
		seen[s] = true
		return dup
	})
	perms["deny"] = deny
	settings["permissions"] = perms
	return json.Marshal(settings)
}

// maxHiddenRules bounds the deny rules for found files: the CLI turns each
// into bwrap arguments, of which it accepts a limited number. The outer
// layer hides every found file whatever their number.
const maxHiddenRules = 200
