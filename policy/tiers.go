// Package policy decides what a session may do: the tool set and permission
// rules each tier's CLI gets (SPEC.md §2), and the classification of commands
// the action gate rules on (it lets only read-only steps through).
package policy

import (
	"path/filepath"

	"github.com/claude-ops/claude-ops/session"
)

// readOnlyBash are command prefixes every tier may run: observation only.
var readOnlyBash = []string{
	"curl", "dig", "host", "nslookup", "ping", "nc -z",
	"docker ps", "docker inspect", "docker logs", "docker stats --no-stream",
	"docker compose ps", "docker compose logs", "docker container ls", "docker container inspect",
	"systemctl status", "systemctl is-active", "systemctl is-failed", "journalctl",
	"kubectl get", "kubectl describe", "kubectl logs",
	"pg_isready", "redis-cli ping", "mysqladmin ping",
	"cat", "ls", "head", "tail", "grep", "jq", "ss", "df", "free", "uptime",
}

// neverBash is refused at every tier (SPEC.md §2 "Never"), by deny rules that
// beat every allow rule and every permission mode.
var neverBash = []string{
	"docker volume rm", "docker volume prune", "docker system prune", "docker rm -v",
	"docker compose down -v", "docker compose down --volumes",
	"git push", "rm -rf /", "mkfs", "dd",
	"iptables", "ip route", "ip link", "ip addr", "nmcli", "ufw", "route",
	"passwd", "chpasswd",
}

// secretPaths are files no tier may read or write, as gitignore-style
// patterns. Each is given twice: relative to the working directory, and with
// the CLI's "//" prefix, anchored at the filesystem root (a pattern with a
// single leading slash, or none, never matches outside the working directory).
var secretPaths = []string{
	"**/.env", "**/.env.*", "**/*.env", "**/*.pem", "**/*.key", "**/id_rsa*", "**/id_ed25519*",
	"**/.ssh/**", "**/secrets/**", "**/.netrc", "**/.pgpass", "**/.git-credentials",
}

func bashRules(prefixes ...[]string) []string {
	var out []string
	for _, ps := range prefixes {
		for _, p := range ps {
			out = append(out, "Bash("+p+":*)")
		}
	}
	return out
}

// ForTier returns the tool policy of a tier. No tier may change anything
// through the CLI's own tools: Bash is for read-only investigation (only
// observation commands are pre-approved, and the action gate refuses every
// step that is not read-only), and no tier gets Edit or Write; changes are
// the typed actions of the daemon's MCP server ops
// (mcp__ops__restart_service, ...), outside this policy. Tiers differ in max
// turns, and Tier 3 also gets Task. reposDir is the mounted repos folder;
// the deny rules (never list, secret paths, writes under reposDir) are kept
// at every tier as a layer of their own. In dry-run, Tier 2 and 3 get
// Tier 1's policy with their own max turns.
func ForTier(t session.Tier, reposDir string, dryRun bool) session.Policy {
	deny := bashRules(neverBash)
	for _, p := range secretPaths {
		for _, q := range []string{p, "//" + p} {
			deny = append(deny, "Read("+q+")", "Edit("+q+")", "Write("+q+")")
		}
	}
	if reposDir != "" {
		if abs, err := filepath.Abs(reposDir); err == nil {
			reposDir = abs
		}
		// "/" + an absolute path is the CLI's "//" root anchor.
		deny = append(deny, "Edit(/"+reposDir+"/**)", "Write(/"+reposDir+"/**)")
	}
	if dryRun && t > session.Tier1 {
		p := ForTier(session.Tier1, reposDir, false)
		p.MaxTurns = maxTurns(t)
		return p
	}
	// Only what observing needs: every tool definition costs input tokens on
	// each of the 24 daily runs.
	p := session.Policy{
		Deny:     deny,
		MaxTurns: maxTurns(t),
		Tools:    []string{"Bash", "Read", "Grep", "Glob"},
		Allow:    append(bashRules(readOnlyBash), "Read", "Grep", "Glob"),
	}
	if t == session.Tier3 {
		p.Tools = append(p.Tools, "Task")
	}
	return p
}

func maxTurns(t session.Tier) int {
	switch t {
	case session.Tier1:
		return 30
	case session.Tier2:
		return 40
	default:
		return 60
	}
}
