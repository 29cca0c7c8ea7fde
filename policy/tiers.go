// Package policy decides what a session may do: the tool set and permission
// rules each tier's CLI gets (SPEC.md §2), and the classification of commands
// the action gate rules on.
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

// safeFixBash are the Tier 2 fixes: restarts and permission repairs.
var safeFixBash = []string{
	"docker restart", "docker container restart", "docker compose restart",
	"systemctl restart", "kubectl rollout restart", "chmod", "chown",
}

// redeployBash are Tier 3's extra powers: redeploys and multi-service recovery.
var redeployBash = []string{
	"docker compose up", "ansible-playbook", "helm upgrade", "helm rollback",
	"kubectl apply", "kubectl rollout undo",
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

// ForTier returns the tool policy of a tier. reposDir is the mounted repos
// folder, which no tier may write. In dry-run, Tier 2 and 3 get Tier 1's powers.
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
	p := session.Policy{Deny: deny, MaxTurns: maxTurns(t)}
	switch t {
	case session.Tier1:
		// Only what observing needs: every tool definition costs input tokens
		// on each of the 24 daily runs.
		p.Tools = []string{"Bash", "Read", "Grep", "Glob"}
		p.Allow = append(bashRules(readOnlyBash), "Read", "Grep", "Glob")
	case session.Tier2:
		p.Tools = []string{"Bash", "Read", "Grep", "Glob", "Edit", "Write"}
		p.Allow = append(bashRules(readOnlyBash, safeFixBash), "Read", "Grep", "Glob")
	default:
		p.Tools = []string{"Bash", "Read", "Grep", "Glob", "Edit", "Write", "Task"}
		p.Allow = append(bashRules(readOnlyBash, safeFixBash, redeployBash), "Read", "Grep", "Glob")
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
