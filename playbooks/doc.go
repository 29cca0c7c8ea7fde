// Package playbooks embeds the built-in remediation playbooks (Markdown) that
// Tier 2 and Tier 3 sessions follow. Each playbook states its minimum tier on a
// line "Minimum tier: N".
package playbooks

import (
	"embed"
	"io/fs"
)

//go:embed *.md
var files embed.FS

// FS returns the built-in playbooks, one Markdown file each, at its root.
func FS() fs.FS { return files }
