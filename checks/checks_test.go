package checks

import (
	"io/fs"
	"strings"
	"testing"
)

func TestGuides(t *testing.T) {
	types := map[string]string{
		"http.md": "`http`", "dns.md": "`dns`", "containers.md": "`container`",
		"databases.md": "`database`", "services.md": "`service`",
	}
	// The typed probe (ops MCP server) each guide checks with: Tier 1 has no
	// network, Docker or systemd of its own.
	probes := map[string]string{
		"http.md": "`http_probe`", "dns.md": "`declared_check`", "containers.md": "`container_status`",
		"databases.md": "`declared_check`", "services.md": "`unit_status`",
	}
	for name, typ := range types {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		text := string(b)
		for _, want := range []string{typ, probes[name], "`status`", "`ok`", "`down`", "`latency_ms`", "`detail`", "Name:"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %s", name, want)
			}
		}
	}
	all, _ := fs.Glob(FS(), "*.md")
	if len(all) != len(types) {
		t.Errorf("embedded guides %v, want %d", all, len(types))
	}
}
