// Package checks embeds the built-in Tier 1 check guides (Markdown): how to
// check HTTP endpoints, DNS records, containers, databases and services
// read-only, and what each check entry of the structured result holds.
package checks

import (
	"embed"
	"io/fs"
)

//go:embed *.md
var files embed.FS

// FS returns the built-in check guides, one Markdown file each, at its root.
func FS() fs.FS { return files }
