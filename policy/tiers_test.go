package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/claude-ops/claude-ops/session"
)

func TestForTier(t *testing.T) {
	read := []string{"Bash", "Read", "Grep", "Glob"}
	for _, c := range []struct {
		tier  session.Tier
		dry   bool
		tools []string
		turns int
	}{
		{session.Tier1, false, read, 30},
		{session.Tier2, false, read, 40},
		{session.Tier3, false, append(slices.Clone(read), "Task"), 60},
		{session.Tier1, true, read, 30},
		{session.Tier2, true, read, 40},
		{session.Tier3, true, read, 60},
	} {
		p := ForTier(c.tier, "/repos", c.dry)
		if !slices.Equal(p.Tools, c.tools) {
			t.Errorf("tier %d dry %v: tools = %q, want %q", c.tier, c.dry, p.Tools, c.tools)
		}
		if p.MaxTurns != c.turns {
			t.Errorf("tier %d dry %v: max turns = %d, want %d", c.tier, c.dry, p.MaxTurns, c.turns)
		}
		// Every tier pre-approves the same observation rules, and nothing
		// that changes anything.
		if want := ForTier(session.Tier1, "/repos", false).Allow; !slices.Equal(p.Allow, want) {
			t.Errorf("tier %d dry %v: allow = %q, want Tier 1's %q", c.tier, c.dry, p.Allow, want)
		}
		for _, a := range p.Allow {
			for _, bad := range []string{"restart", "compose up", "ansible", "helm", "kubectl apply", "rollout", "chmod", "chown", "Edit", "Write"} {
				if strings.Contains(a, bad) {
					t.Errorf("tier %d dry %v: allow rule %q", c.tier, c.dry, a)
				}
			}
		}
		for _, want := range []string{"Bash(docker ps:*)", "Bash(journalctl:*)", "Read", "Grep", "Glob"} {
			if !slices.Contains(p.Allow, want) {
				t.Errorf("tier %d dry %v: allow lacks %q", c.tier, c.dry, want)
			}
		}
		// Every deny rule is kept.
		for _, want := range []string{
			"Bash(docker volume rm:*)", "Bash(git push:*)", "Bash(iptables:*)",
			"Read(**/.env)", "Read(//**/.env)", "Edit(//**/.ssh/**)", "Write(**/*.pem)",
			"Edit(//repos/**)", "Write(//repos/**)",
		} {
			if !slices.Contains(p.Deny, want) {
				t.Errorf("tier %d dry %v: deny lacks %q", c.tier, c.dry, want)
			}
		}
		if got, want := len(p.Deny), len(neverBash)+6*len(secretPaths)+2; got != want {
			t.Errorf("tier %d dry %v: %d deny rules, want %d", c.tier, c.dry, got, want)
		}
	}
	// Without a repos dir there is no repos rule.
	if p := ForTier(session.Tier3, "", false); slices.ContainsFunc(p.Deny, func(r string) bool { return strings.Contains(r, "repos") }) {
		t.Errorf("deny = %q", p.Deny)
	}
}
