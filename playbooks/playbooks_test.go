package playbooks

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestPlaybooks(t *testing.T) {
	minTier := regexp.MustCompile(`(?m)^Minimum tier: [23]$`)
	// Each playbook's entry, and the typed tool (ops MCP server) it acts through.
	for name, want := range map[string]struct{ action, tool string }{
		"restart-container.md": {"`restart`", "`restart_service`"},
		"redeploy-service.md":  {"`redeploy`", "`redeploy_service`"},
		"rotate-api-key.md":    {"`rotate_key`", "`run_playbook`"},
	} {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		text := string(b)
		for _, w := range []string{"**When**", "**Steps**", "**Verify**", "**Action entry**", want.action, want.tool, "needs_human"} {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %s", name, w)
			}
		}
		if !minTier.MatchString(text) {
			t.Errorf("%s has no \"Minimum tier: N\" line", name)
		}
	}
}

// TestRotateNeedsDeclaredPlaybook: a key is rotated only by the playbook the
// repo declares; without one the model stops.
func TestRotateNeedsDeclaredPlaybook(t *testing.T) {
	b, err := fs.ReadFile(FS(), "rotate-api-key.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"`run_playbook`", "declares", "Without one", "`needs_human`"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("rotate-api-key.md lacks %q", want)
		}
	}
}
