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
	for name, typ := range types {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		text := string(b)
		for _, want := range []string{typ, "`status`", "`ok`", "`down`", "`latency_ms`", "`detail`", "Name:"} {
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
