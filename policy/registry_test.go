package policy

import (
	"slices"
	"testing"
)

func TestRegistryNamesOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range registry {
		if seen[e.name] {
			t.Errorf("%q is in the registry twice", e.name)
		}
		seen[e.name] = true
	}
}

// TestRegistryReached: every entry of the registry is reached by a case of
// the tables, so none is knowledge that nothing checks.
func TestRegistryReached(t *testing.T) {
	hit := map[string]bool{}
	reached = func(name string) { hit[name] = true }
	t.Cleanup(func() { reached = nil })
	for _, tc := range classifyCases {
		classify(tc.cmd)
	}
	var missed []string
	for _, e := range registry {
		if !hit[e.name] {
			missed = append(missed, e.name)
		}
	}
	if len(missed) > 0 {
		t.Errorf("%d registry entries no case reaches: %q", len(missed), slices.Compact(missed))
	}
}
