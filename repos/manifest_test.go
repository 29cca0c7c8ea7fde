package repos

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "manifest", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func dur(d time.Duration) model.Duration { return model.Duration(d) }

func TestParseServicesValid(t *testing.T) {
	want := []ServiceDecl{
		{
			Name:       "web",
			Aliases:    []string{"frontend", "shop"},
			Containers: []string{"web", "shop-web-1", "blog/web"},
			Unit:       "nginx.service",
			DependsOn:  []string{"db"},
			Hosts:      []string{"web.internal:8080", "127.0.0.1:18080", "[::1]:9090", "status.example.com"},
			Redeploy: &Command{
				Argv:    []string{"docker-compose", "-f", "/srv/shop/compose.yaml", "up", "-d", "--force-recreate", "web"},
				Timeout: dur(5 * time.Minute),
			},
			Playbooks: []PlaybookDecl{
				{
					Name:        "flush-cache",
					Description: "Empty the page cache",
					Command:     Command{Argv: []string{"/usr/local/bin/flush-cache", "--all"}, Timeout: dur(30 * time.Second)},
					MinTier:     2,
					Cooldown:    CooldownRestart,
					Verify:      &Command{Argv: []string{"/usr/local/bin/check-cache"}, Timeout: dur(10 * time.Second)},
				},
				{
					Name:     "rotate-keys",
					Command:  Command{Argv: []string{"rotate-keys"}, Timeout: dur(30 * time.Minute)},
					MinTier:  3,
					Cooldown: CooldownNone,
				},
			},
			Checks: []CheckDecl{{
				Name:        "homepage",
				Description: "The home page answers",
				Command:     Command{Argv: []string{"/usr/bin/curl", "-fsS", "http://web.internal:8080/"}, Timeout: dur(10 * time.Second)},
			}},
		},
		{
			Name:       "db",
			Containers: []string{"db"}, // the default
			Unit:       "postgresql@16-main.service",
			Checks: []CheckDecl{{
				Name:    "ping",
				Command: Command{Argv: []string{"/usr/bin/pg_isready", "-h", "db.internal"}, Timeout: dur(5 * time.Minute)},
			}},
		},
	}
	for _, tc := range []struct {
		file string
		want []ServiceDecl
	}{
		{"valid.yaml", want},
		{"minimal.yaml", []ServiceDecl{{Name: "web", Containers: []string{"web"}}}},
		{"empty.yaml", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := ParseServices(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// Each invalid file of testdata/manifest with its exact error, as
// blackbox_exporter's config tests do.
func TestParseServicesInvalid(t *testing.T) {
	const p = "invalid services manifest: "
	tests := map[string]string{
		// Decoding.
		"invalid-unknown-key.yaml":          p + `line 3: unknown key "container" in a service`,
		"invalid-unknown-top-key.yaml":      p + `line 1: unknown key "service" at the top level`,
		"invalid-unknown-playbook-key.yaml": p + `line 9: unknown key "shell" in a playbook`,
		"invalid-key-twice.yaml":            p + `line 4: key "unit" is set twice in a service`,
		"invalid-wrong-type.yaml":           p + "line 3: cannot use !!str `frontend` as a list of strings",
		"invalid-duration.yaml":             p + `unknown unit " minutes" in duration "5 minutes"`,
		"invalid-syntax.yaml":               p + `line 2: did not find expected '-' indicator`,
		// Names.
		"invalid-name-missing.yaml":    p + `service #2: name is required`,
		"invalid-name-uppercase.yaml":  p + `service "Web": name must match [a-z0-9][a-z0-9_.-]{0,62}`,
		"invalid-name-too-long.yaml":   p + `service "a234567890123456789012345678901234567890123456789012345678901234": name must match [a-z0-9][a-z0-9_.-]{0,62}`,
		"invalid-service-twice.yaml":   p + `service "web": declared twice`,
		"invalid-alias-pattern.yaml":   p + `service "web": alias "front end" must match [a-z0-9][a-z0-9_.-]{0,62}`,
		"invalid-alias-self.yaml":      p + `service "web": alias "web" is the service's own name`,
		"invalid-alias-twice.yaml":     p + `service "web": alias "frontend" is listed twice`,
		"invalid-alias-claimed.yaml":   p + `service "proxy": alias "web" is already claimed by service "web"`,
		"invalid-container-slash.yaml": p + `service "web": container "/web" must be a container or compose service name, or project/service`,
		// The default containers of web are [web].
		"invalid-container-claimed.yaml":  p + `service "proxy": container "WEB" is already claimed by service "web"`,
		"invalid-depends-on-self.yaml":    p + `service "web": depends_on "web" is the service's own name`,
		"invalid-depends-on-pattern.yaml": p + `service "web": depends_on "DB" must match [a-z0-9][a-z0-9_.-]{0,62}`,
		"invalid-unit.yaml":               p + `service "web": unit "nginx.timer" must be a systemd service unit name (e.g. nginx.service)`,
		// A template is not a unit one can restart.
		"invalid-unit-template.yaml": p + `service "db": unit "postgresql@.service" must be a systemd service unit name (e.g. nginx.service)`,
		// Hosts.
		"invalid-host-scheme.yaml":      p + `service "web": host "http://web.internal:8080": must be host or host:port, without a scheme`,
		"invalid-host-credentials.yaml": p + `service "web": host "admin:secret@web.internal": must be host or host:port, without credentials`,
		"invalid-host-path.yaml":        p + `service "web": host "web.internal:8080/healthz": must be host or host:port, without a path`,
		"invalid-host-port.yaml":        p + `service "web": host "web.internal:80800": port "80800" must be a number 1..65535`,
		"invalid-host-name.yaml":        p + `service "web": host "*.internal": "*.internal" is not a valid host name`,
		"invalid-host-ip.yaml":          p + `service "web": host "10.0.0.300:80": "10.0.0.300" is not a valid IP address`,
		"invalid-host-twice.yaml":       p + `service "web": host "web.internal:8080" is listed twice`,
		// Commands.
		"invalid-redeploy-argv-missing.yaml":      p + `service "web": redeploy: argv is required`,
		"invalid-redeploy-timeout-missing.yaml":   p + `service "web": redeploy: timeout is required (1s..30m)`,
		"invalid-argv-empty-arg.yaml":             p + `service "web": playbook "flush": argv[1] is empty`,
		"invalid-argv-relative.yaml":              p + `service "web": playbook "flush": argv[0] "bin/flush" must be an absolute path or a bare command name`,
		"invalid-playbook-name-missing.yaml":      p + `service "web": playbook #1: name is required`,
		"invalid-playbook-name-pattern.yaml":      p + `service "web": playbook "flush.cache": name must match [a-z0-9][a-z0-9_-]{0,62}`,
		"invalid-playbook-twice.yaml":             p + `service "web": playbook "flush": declared twice`,
		"invalid-playbook-timeout-missing.yaml":   p + `service "web": playbook "flush": timeout is required (1s..30m)`,
		"invalid-playbook-timeout-too-long.yaml":  p + `service "web": playbook "flush": timeout 45m is out of range 1s..30m`,
		"invalid-playbook-timeout-too-short.yaml": p + `service "web": playbook "flush": timeout 500ms is out of range 1s..30m`,
		"invalid-min-tier-missing.yaml":           p + `service "web": playbook "flush": min_tier is required (2 or 3)`,
		"invalid-min-tier.yaml":                   p + `service "web": playbook "flush": min_tier 1 must be 2 or 3`,
		"invalid-cooldown-missing.yaml":           p + `service "web": playbook "flush": cooldown is required (restart, redeploy or none)`,
		"invalid-cooldown.yaml":                   p + `service "web": playbook "flush": cooldown "reboot" must be restart, redeploy or none`,
		"invalid-verify-timeout.yaml":             p + `service "web": playbook "flush": verify: timeout 10m is out of range 1s..5m`,
		"invalid-check-argv-missing.yaml":         p + `service "db": check "ping": argv is required`,
		"invalid-check-timeout.yaml":              p + `service "db": check "ping": timeout 6m is out of range 1s..5m`,
		"invalid-check-twice.yaml":                p + `service "db": check "ping": declared twice`,
		// Several mistakes.
		"invalid-several.yaml": p + `service "web": unit "nginx" must be a systemd service unit name (e.g. nginx.service); ` +
			`service "web": playbook "flush": min_tier 4 must be 2 or 3; ` +
			`service "db": host "db.internal:0": port "0" must be a number 1..65535`,
		"invalid-too-many.yaml": p + `service #1: name is required; service #2: name is required; service #3: name is required; ` +
			`service #4: name is required; service #5: name is required; service #6: name is required; ` +
			`service #7: name is required; service #8: name is required; service #9: name is required; ` +
			`service #10: name is required; and 2 more`,
	}

	// Every invalid file has its expected error.
	files, err := filepath.Glob(filepath.Join("testdata", "manifest", "invalid-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := tests[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expected error", f)
		}
	}

	for file, want := range tests {
		t.Run(file, func(t *testing.T) {
			got, err := ParseServices(readTestdata(t, file))
			if err == nil {
				t.Fatalf("no error, services %+v", got)
			}
			if got != nil {
				t.Errorf("services %+v returned with an error", got)
			}
			if !errors.Is(err, ErrInvalidServices) {
				t.Errorf("error does not wrap ErrInvalidServices: %v", err)
			}
			if err.Error() != want {
				t.Errorf("error:\n got  %s\n want %s", err, want)
			}
		})
	}
}

func TestParseServicesTooLarge(t *testing.T) {
	data := "services:\n  - name: web\n#" + strings.Repeat("x", MaxServicesBytes) + "\n"
	_, err := ParseServices([]byte(data))
	if !errors.Is(err, ErrInvalidServices) || !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v", err)
	}
}

func TestSplitHost(t *testing.T) {
	for _, tc := range []struct {
		in, host, port, err string
	}{
		{in: "web.internal", host: "web.internal"},
		{in: "Web.Internal:8080", host: "web.internal", port: "8080"},
		{in: "web.internal.", host: "web.internal"},
		{in: "shop_web_1:80", host: "shop_web_1", port: "80"},
		{in: "localhost", host: "localhost"},
		{in: "127.0.0.1:18080", host: "127.0.0.1", port: "18080"},
		{in: "10.1.2.3", host: "10.1.2.3"},
		{in: "[::1]:9090", host: "::1", port: "9090"},
		{in: "[::1]", host: "::1"},
		{in: "::1", host: "::1"},
		{in: "[2001:DB8::1]:443", host: "2001:db8::1", port: "443"},
		{in: "", err: "empty host"},
		{in: "http://web", err: "must be host or host:port, without a scheme"},
		{in: "user@web", err: "must be host or host:port, without credentials"},
		{in: "web/path", err: "must be host or host:port, without a path"},
		{in: "web?x", err: "must be host or host:port, without a path"},
		{in: "web internal", err: "must be host or host:port, without spaces or special characters"},
		{in: "web:", err: `port "" must be a number 1..65535`},
		{in: "web:0", err: `port "0" must be a number 1..65535`},
		{in: "web:65536", err: `port "65536" must be a number 1..65535`},
		{in: "web:080", err: `port "080" must be a number 1..65535`},
		{in: "web:http", err: `port "http" must be a number 1..65535`},
		{in: ":80", err: `"" is not a valid host name`},
		{in: "[web]:80", err: `"web" is not an IPv6 address`},
		{in: "[::1", err: "must be host or host:port"},
		{in: "fe80::1%eth0", err: "an IPv6 zone is not allowed"},
		{in: "-web", err: `"-web" is not a valid host name`},
		{in: "web..internal", err: `"web..internal" is not a valid host name`},
		{in: "*.internal", err: `"*.internal" is not a valid host name`},
		{in: "1.2.3.256", err: `"1.2.3.256" is not a valid IP address`},
		{in: "0x7f.1", err: `"0x7f.1" is not a valid IP address`}, // a numeric last label is no name
	} {
		host, port, err := SplitHost(tc.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if host != tc.host || port != tc.port || gotErr != tc.err {
			t.Errorf("SplitHost(%q) = %q, %q, %q; want %q, %q, %q", tc.in, host, port, gotErr, tc.host, tc.port, tc.err)
		}
	}
}

func TestLoadServices(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"alpha/" + ServicesFile:           string(readTestdata(t, "valid.yaml")),
		"beta/CLAUDE-OPS.md":              "# Beta\n",
		"beta/.claude-ops/checks/disk.md": "df -h\n",
		"beta/.claude-ops/mcp.json":       `{"mcpServers":{"beta-db":{"command":"x"}}}`,
		"beta/" + ServicesFile:            string(readTestdata(t, "invalid-min-tier.yaml")),
		"big/" + ServicesFile:             "services: []\n#" + strings.Repeat("x", MaxServicesBytes),
		"none/CLAUDE-OPS.md":              "# No services\n",
	})
	inv, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(inv); !reflect.DeepEqual(got, []string{"alpha", "beta", "big", "none"}) {
		t.Fatalf("repos = %v", got)
	}

	alpha, _ := inv.Repo("alpha")
	if len(alpha.Services) != 2 || alpha.Services[0].Name != "web" || alpha.Services[1].Name != "db" {
		t.Errorf("alpha services = %+v", alpha.Services)
	}

	// A broken services.yaml is one error; the repo's other files load.
	beta, _ := inv.Repo("beta")
	if beta.Services != nil {
		t.Errorf("beta services = %+v, want none", beta.Services)
	}
	if beta.Manifest != "# Beta\n" || len(beta.Checks) != 1 || !reflect.DeepEqual(beta.MCPServers, []string{"beta-db"}) {
		t.Errorf("beta's other files: %+v", beta)
	}
	if servers(t, inv.MCPConfig())["beta-db"] == nil {
		t.Error("beta's MCP server not merged")
	}
	none, _ := inv.Repo("none")
	if none.Services != nil {
		t.Errorf("none services = %+v", none.Services)
	}

	if len(inv.Errors) != 2 {
		t.Fatalf("errors = %v, want beta's and big's", inv.Errors)
	}
	e := inv.Errors[0]
	want := `repo beta: .claude-ops/services.yaml: invalid services manifest: service "web": playbook "flush": min_tier 1 must be 2 or 3`
	if e.Repo != "beta" || e.File != ServicesFile || !errors.Is(e, ErrInvalidServices) || e.Error() != want {
		t.Errorf("error = %v, want %s", e, want)
	}
	if e := inv.Errors[1]; e.Repo != "big" || e.File != ServicesFile || !errors.Is(e, ErrTooLarge) {
		t.Errorf("error = %v, want big's too large", e)
	}
}

func TestLoadServicesOutsideRepo(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	write(t, outside, map[string]string{"services.yaml": "services: [{name: evil}]\n"})
	write(t, dir, map[string]string{"r/CLAUDE-OPS.md": "r"})
	if err := os.MkdirAll(filepath.Join(dir, "r", ExtDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "services.yaml"), filepath.Join(dir, "r", filepath.FromSlash(ServicesFile))); err != nil {
		t.Fatal(err)
	}
	inv, err := Load(dir, json.RawMessage(nil))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := inv.Repo("r"); r.Services != nil {
		t.Errorf("services read through a symlink outside the repo: %+v", r.Services)
	}
	if len(inv.Errors) != 1 || !errors.Is(inv.Errors[0], ErrOutsideRepo) {
		t.Errorf("errors = %v", inv.Errors)
	}
}
