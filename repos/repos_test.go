package repos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// write creates the files of a map path → content under dir.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func servers(t *testing.T, raw json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	var doc struct {
		MCPServers map[string]json.RawMessage `json:"mcpServers"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("MCPConfig is not JSON: %v\n%s", err, raw)
	}
	return doc.MCPServers
}

func TestLoadTwoReposOneBrokenMCP(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"alpha/CLAUDE-OPS.md":                     "# Alpha\nRuns nginx at http://alpha.lan:8080/healthz\n",
		"alpha/.claude-ops/checks/backup.md":      "Check the backup ran: ls -l /srv/backup\n",
		"alpha/.claude-ops/playbooks/failover.md": "Fail over to the replica.\n",
		"alpha/.claude-ops/skills/restic.md":      "How to use restic.\n",
		"alpha/.claude-ops/mcp.json":              `{"mcpServers":{"alpha-db":{"command":"pg-mcp","args":["--read-only"]}}}`,
		"beta/CLAUDE-OPS.md":                      "# Beta\n",
		"beta/.claude-ops/mcp.json":               `{"mcpServers": {"beta-x": {`,
	})
	inv, err := Load(dir, json.RawMessage(`{"mcpServers":{"prometheus":{"command":"prom-mcp"}}}`))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := names(inv); !reflect.DeepEqual(got, []string{"alpha", "beta"}) {
		t.Fatalf("repos = %v", got)
	}
	if len(inv.Errors) != 1 {
		t.Fatalf("errors = %v, want one for beta", inv.Errors)
	}
	e := inv.Errors[0]
	if e.Repo != "beta" || e.File != MCPFile || !errors.Is(e, ErrInvalidMCP) {
		t.Errorf("error = %+v", e)
	}
	if !strings.Contains(e.Error(), "beta") {
		t.Errorf("error text %q does not name the repo", e.Error())
	}

	got := servers(t, inv.MCPConfig())
	if len(got) != 2 || got["prometheus"] == nil || got["alpha-db"] == nil {
		t.Errorf("merged servers = %s", inv.MCPConfig())
	}
	alpha, _ := inv.Repo("alpha")
	if !reflect.DeepEqual(alpha.MCPServers, []string{"alpha-db"}) {
		t.Errorf("alpha.MCPServers = %v", alpha.MCPServers)
	}
	if len(alpha.Checks) != 1 || alpha.Checks[0].Name != "backup" ||
		alpha.Checks[0].Path != "alpha/.claude-ops/checks/backup.md" {
		t.Errorf("alpha checks = %+v", alpha.Checks)
	}

	p := inv.Prompt()
	for _, want := range []string{
		`<repo name="alpha">`, "Runs nginx at http://alpha.lan:8080/healthz",
		`<check name="backup">`, "ls -l /srv/backup", "playbooks: failover", "skills: restic",
		`<repo name="beta">`, "# Beta",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("Prompt lacks %q:\n%s", want, p)
		}
	}
	for _, unwanted := range []string{"Fail over to the replica", "How to use restic"} {
		if strings.Contains(p, unwanted) {
			t.Errorf("Prompt inlines playbook or skill text %q", unwanted)
		}
	}

	rules := inv.RepoRules("alpha")
	for _, want := range []string{"Runs nginx", `<playbook name="failover">`, "Fail over to the replica",
		`<skill name="restic">`, "How to use restic", "ls -l /srv/backup"} {
		if !strings.Contains(rules, want) {
			t.Errorf("RepoRules lacks %q:\n%s", want, rules)
		}
	}
	if inv.RepoRules("nope") != "" {
		t.Error("RepoRules of an unknown repo is not empty")
	}
}

func names(inv *Inventory) []string {
	var out []string
	for _, r := range inv.Repos {
		out = append(out, r.Name)
	}
	return out
}

func TestLoadMCPConflicts(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		// b-repo comes after a-repo lexically, whatever the creation order.
		"b-repo/.claude-ops/mcp.json": `{"mcpServers":{"shared":{"command":"b"},"prometheus":{"command":"evil"},"b-own":{"command":"b"}}}`,
		"a-repo/.claude-ops/mcp.json": `{"mcpServers":{"shared":{"command":"a"}}}`,
	})
	inv, err := Load(dir, json.RawMessage(`{"mcpServers":{"prometheus":{"command":"prom-mcp"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Conflict{
		{Repo: "b-repo", Server: "prometheus", Owner: ""},
		{Repo: "b-repo", Server: "shared", Owner: "a-repo"},
	}
	if !reflect.DeepEqual(inv.Conflicts, want) {
		t.Errorf("conflicts = %+v, want %+v", inv.Conflicts, want)
	}
	got := servers(t, inv.MCPConfig())
	if string(got["prometheus"]) != `{"command":"prom-mcp"}` {
		t.Errorf("baseline server replaced: %s", got["prometheus"])
	}
	if string(got["shared"]) != `{"command":"a"}` {
		t.Errorf("earlier repo's server replaced: %s", got["shared"])
	}
	if got["b-own"] == nil {
		t.Error("b-repo's own server was not added")
	}
	if len(inv.Errors) != 0 {
		t.Errorf("errors = %v", inv.Errors)
	}
}

func TestLoadInvalidMCPShapes(t *testing.T) {
	for name, content := range map[string]string{
		"not-json":      `not json`,
		"array":         `[]`,
		"no-servers":    `{"servers":{}}`,
		"servers-array": `{"mcpServers":[]}`,
		"servers-null":  `{"mcpServers":null}`,
		"server-string": `{"mcpServers":{"x":"cmd"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, map[string]string{
				"bad/.claude-ops/mcp.json":  content,
				"good/.claude-ops/mcp.json": `{"mcpServers":{"ok":{"command":"x"}}}`,
			})
			inv, err := Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Errors) != 1 || inv.Errors[0].Repo != "bad" || !errors.Is(inv.Errors[0], ErrInvalidMCP) {
				t.Fatalf("errors = %v", inv.Errors)
			}
			if got := servers(t, inv.MCPConfig()); len(got) != 1 || got["ok"] == nil {
				t.Errorf("servers = %s", inv.MCPConfig())
			}
		})
	}
}

func TestLoadOrderingAndHidden(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"zeta/CLAUDE-OPS.md":                "z",
		"Alpha/CLAUDE-OPS.md":               "A",
		"mid/.claude-ops/checks/b.md":       "b",
		"mid/.claude-ops/checks/a.md":       "a",
		"mid/.claude-ops/checks/.hidden.md": "h",
		"mid/.claude-ops/checks/notes.txt":  "t",
		"mid/.claude-ops/checks/sub/c.md":   "c",
		".git/CLAUDE-OPS.md":                "hidden repo",
		".hidden/CLAUDE-OPS.md":             "hidden repo",
		"loose-file.md":                     "not a repo",
	})
	inv, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(inv); !reflect.DeepEqual(got, []string{"Alpha", "mid", "zeta"}) {
		t.Errorf("repos = %v", got)
	}
	mid, _ := inv.Repo("mid")
	var checks []string
	for _, c := range mid.Checks {
		checks = append(checks, c.Name)
	}
	if !reflect.DeepEqual(checks, []string{"a", "b"}) {
		t.Errorf("checks = %v", checks)
	}
	if mid.Manifest != "" || !strings.Contains(inv.Prompt(), "(no CLAUDE-OPS.md)") {
		t.Errorf("repo without manifest: %q", mid.Manifest)
	}
	if strings.Contains(inv.Prompt(), "hidden repo") {
		t.Error("hidden folder read as a repo")
	}
	if inv.MCPConfig() != nil {
		t.Errorf("MCPConfig = %s, want nil", inv.MCPConfig())
	}
	if len(inv.Errors) != 0 {
		t.Errorf("errors = %v", inv.Errors)
	}
}

func TestLoadSizeLimits(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		// A multi-byte rune straddles the limit: the cut must stay valid UTF-8.
		"big/CLAUDE-OPS.md":              strings.Repeat("x", MaxManifestBytes-1) + "é and more",
		"big/.claude-ops/checks/huge.md": strings.Repeat("y", MaxFileBytes+100),
		"big/.claude-ops/mcp.json":       `{"mcpServers":{"x":{"command":"` + strings.Repeat("z", MaxMCPBytes) + `"}}}`,
	}
	for i := range MaxFilesPerDir + 3 {
		files[fmt.Sprintf("many/.claude-ops/skills/s%03d.md", i)] = "skill"
	}
	write(t, dir, files)
	inv, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	big, _ := inv.Repo("big")
	if !big.ManifestTruncated || len(big.Manifest) > MaxManifestBytes || strings.ContainsRune(big.Manifest, '\uFFFD') {
		t.Errorf("manifest: truncated=%v len=%d", big.ManifestTruncated, len(big.Manifest))
	}
	if len(big.Checks) != 1 || !big.Checks[0].Truncated || len(big.Checks[0].Content) != MaxFileBytes {
		t.Errorf("check not truncated to the limit")
	}
	many, _ := inv.Repo("many")
	if len(many.Skills) != MaxFilesPerDir || many.Skills[0].Name != "s000" {
		t.Errorf("skills = %d, want the first %d", len(many.Skills), MaxFilesPerDir)
	}
	if inv.MCPConfig() != nil {
		t.Error("oversized mcp.json was used")
	}

	want := map[string]error{
		"big " + ManifestFile:            ErrTooLarge,
		"big .claude-ops/checks/huge.md": ErrTooLarge,
		"big " + MCPFile:                 ErrTooLarge,
		"many .claude-ops/skills":        ErrTooManyFiles,
	}
	if len(inv.Errors) != len(want) {
		t.Errorf("errors = %v", inv.Errors)
	}
	for _, e := range inv.Errors {
		if w := want[e.Repo+" "+e.File]; w == nil || !errors.Is(e, w) {
			t.Errorf("unexpected error %v", e)
		}
	}
	p := inv.Prompt()
	if !strings.Contains(p, "[truncated; full text in big/CLAUDE-OPS.md]") {
		t.Error("Prompt does not mark the truncated manifest")
	}
	if len(p) > MaxPromptBytes+8<<10 {
		t.Errorf("Prompt is %d bytes, over its budget", len(p))
	}
}

func TestPromptBudget(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for i := range 5 {
		files[fmt.Sprintf("r/.claude-ops/checks/c%d.md", i)] = strings.Repeat("c", MaxFileBytes-10)
	}
	write(t, dir, files)
	inv, _ := Load(dir, nil)
	p := inv.Prompt()
	if len(p) > MaxPromptBytes+4<<10 {
		t.Errorf("Prompt is %d bytes", len(p))
	}
	if !strings.Contains(p, `<check name="c4" path="r/.claude-ops/checks/c4.md"/>`) {
		t.Errorf("a check past the budget is not listed by path:\n%s", p[len(p)-400:])
	}
}

func TestLoadSymlinkOutsideRepo(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	write(t, outside, map[string]string{"secret.md": "TOP SECRET"})
	write(t, dir, map[string]string{"r/.claude-ops/checks/ok.md": "fine"})
	if err := os.Symlink(filepath.Join(outside, "secret.md"), filepath.Join(dir, "r/.claude-ops/checks/leak.md")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.md"), filepath.Join(dir, "r", ManifestFile)); err != nil {
		t.Fatal(err)
	}
	inv, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(inv.Prompt(), "TOP SECRET") {
		t.Error("a symlink outside the repo was read")
	}
	if len(inv.Errors) != 2 || !errors.Is(inv.Errors[0], ErrOutsideRepo) {
		t.Errorf("errors = %v", inv.Errors)
	}
}

func TestLoadMissingDir(t *testing.T) {
	inv, err := Load(filepath.Join(t.TempDir(), "nope"), json.RawMessage(`{"mcpServers":{"p":{"command":"x"}}}`))
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want not-exist", err)
	}
	if inv == nil || len(inv.Repos) != 0 {
		t.Fatalf("inventory = %+v", inv)
	}
	if inv.Prompt() != "No repos are mounted.\n" {
		t.Errorf("Prompt = %q", inv.Prompt())
	}
	if servers(t, inv.MCPConfig())["p"] == nil {
		t.Error("baseline servers lost when the dir is missing")
	}
}

func TestLoadBadBaseline(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"r/.claude-ops/mcp.json": `{"mcpServers":{"x":{"command":"x"}}}`})
	inv, err := Load(dir, json.RawMessage(`{"mcpServers":`))
	if !errors.Is(err, ErrInvalidMCP) {
		t.Errorf("err = %v", err)
	}
	if len(inv.Repos) != 1 || servers(t, inv.MCPConfig())["x"] == nil {
		t.Error("repos not loaded after a bad baseline")
	}
	// An empty baseline or one without mcpServers is no baseline.
	for _, b := range []string{"", " ", "{}"} {
		if _, err := Load(dir, json.RawMessage(b)); err != nil {
			t.Errorf("baseline %q: %v", b, err)
		}
	}
}

func TestNilInventory(t *testing.T) {
	var inv *Inventory
	if inv.MCPConfig() != nil || inv.RepoRules("x") != "" || inv.Prompt() == "" {
		t.Error("nil inventory methods")
	}
}
