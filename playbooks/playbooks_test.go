package playbooks

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestPlaybooks(t *testing.T) {
	minTier := regexp.MustCompile(`(?m)^Minimum tier: [23]$`)
	for name, action := range map[string]string{
		"restart-container.md": "`restart`", "redeploy-service.md": "`redeploy`", "rotate-api-key.md": "`rotate_key`",
	} {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		text := string(b)
		for _, want := range []string{"**When**", "**Steps**", "**Verify**", "**Action entry**", action, "needs_human"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %s", name, want)
			}
		}
		if !minTier.MatchString(text) {
			t.Errorf("%s has no \"Minimum tier: N\" line", name)
		}
	}
}
