// Package collector turns the daemon's state into Prometheus metrics
// (SPEC.md §7). Nothing here registers itself globally: callers register
// Tier1Collector and hand a Registerer to NewSessionMetrics.
package collector

import (
	"strings"

	"github.com/claude-ops/claude-ops/session"
)

// MaxLabelLen is the longest label value SanitizeLabel returns.
const MaxLabelLen = 64

// SanitizeLabel bounds a free-form name (service, check, model) for use as a
// label value: lowercase, every character outside [a-z0-9_.-] replaced by
// '_', at most MaxLabelLen characters, and "unknown" when empty.
func SanitizeLabel(s string) string {
	if s == "" {
		return "unknown"
	}
	if len(s) <= MaxLabelLen && isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), MaxLabelLen))
	for _, r := range s {
		if b.Len() == MaxLabelLen {
			break
		}
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		if !cleanRune(r) {
			r = '_'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		if !cleanRune(rune(s[i])) {
			return false
		}
	}
	return true
}

func cleanRune(r rune) bool {
	return 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '.' || r == '-'
}

// CheckTypes are the values of the type label; anything else is "custom".
var CheckTypes = []string{"http", "dns", "container", "database", "service", "custom"}

// checkType maps a check's type onto CheckTypes.
func checkType(t string) string {
	t = strings.ToLower(t)
	for _, v := range CheckTypes {
		if t == v {
			return v
		}
	}
	return "custom"
}

// tierLabel is "1", "2" or "3"; "unknown" for anything else.
func tierLabel(t session.Tier) string {
	if !t.Valid() {
		return "unknown"
	}
	return t.String()
}

// triggerLabel keeps the Trigger vocabulary; "unknown" for anything else.
func triggerLabel(t session.Trigger) string {
	switch t {
	case session.TriggerSchedule, session.TriggerManual, session.TriggerAlert:
		return string(t)
	}
	return "unknown"
}

// outcomeLabel keeps the final outcomes of session.Outcomes; "unknown" for
// anything else (including "running").
func outcomeLabel(o session.Outcome) string {
	for _, v := range session.Outcomes {
		if o == v {
			return string(o)
		}
	}
	return "unknown"
}
