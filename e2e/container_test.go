package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v2"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/runner/podmantest"
)

// containerUID is the image's user (Dockerfile: useradd --uid 10001).
const containerUID = 10001

// TestContainerSandbox runs the daemon in a real container (Podman) the way
// docker-compose.yaml runs it: a non-root user, bubblewrap and socat from
// the image, the claude-ops service's security_opt. With the engine's
// defaults the daemon must stay not ready and say why; with the compose
// file's options a Tier 1 session's Bash call runs in both sandbox layers.
func TestContainerSandbox(t *testing.T) {
	cli, err := filepath.EvalSymlinks(fakeapi.CLIPath(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"bwrap", "socat", "bash", "curl", "ldd"} {
		requireTool(t, tool, "apt-get install -y bubblewrap socat bash curl libc-bin")
	}
	svc := composeService(t, "../docker-compose.yaml", "claude-ops")
	opts := svc.SecurityOpt
	if !slices.Contains(opts, "systempaths=unconfined") {
		t.Fatalf("docker-compose.yaml's claude-ops security_opt %q lacks systempaths=unconfined: bwrap cannot mount /proc", opts)
	}
	snippet := composeService(t, "../deploy/existing-stack/docker-compose.claude-ops.yaml", "claude-ops")
	if !slices.Equal(snippet.SecurityOpt, opts) || !slices.Equal(snippet.Healthcheck.Test, svc.Healthcheck.Test) {
		t.Errorf("deploy/existing-stack's claude-ops has security_opt %q and healthcheck %q, docker-compose.yaml %q and %q",
			snippet.SecurityOpt, snippet.Healthcheck.Test, opts, svc.Healthcheck.Test)
	}
	pm := podmantest.Start(t)
	image := sandboxImage(t, pm, cli)

	// Without a fresh /proc there is no sandbox: the engine's masks over
	// /proc forbid the mount (Podman's default seccomp profile, unlike
	// Docker's, allows user namespaces, so seccomp=unconfined alone does
	// nothing here).
	for _, tc := range []struct {
		name string
		opts []string
	}{
		{"engine defaults", nil},
		{"seccomp=unconfined only", []string{"seccomp=unconfined"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := fakeapi.Start(t, fakeapi.Sequence(tier1Healthy))
			c := runContainer(t, pm, image, cli, api, tc.opts)
			var code int
			var body string
			waitFor(t, 60*time.Second, "the daemon to answer /-/ready", func() bool {
				code, body = httpGet(t, c.url+"/-/ready")
				return code != 0
			})
			t.Logf("/-/ready: %d %s", code, body)
			if code != 503 || !strings.Contains(body, "Can't mount proc on /newroot/proc: Operation not permitted") {
				t.Errorf("/-/ready = %d %q, want 503 with bwrap's /proc error", code, body)
			}
			_, scrape := httpGet(t, c.url+"/metrics")
			if v := sampleValue(scrape, "claudeops_sandbox_ready"); v != "0" {
				t.Errorf("claudeops_sandbox_ready = %q, want 0", v)
			}
			waitFor(t, 30*time.Second, "the log to say why", func() bool {
				return strings.Contains(c.logs(t), "sessions cannot be sandboxed")
			})
			if n := len(api.Requests()); n != 0 {
				t.Errorf("the model API got %d requests from an unsandboxed session", n)
			}
			if rc, out := c.healthcheck(t, svc.Healthcheck.Test); rc == 0 || !strings.Contains(out, "Can't mount proc") {
				t.Errorf("the compose healthcheck gave rc %d %q, want a failure with the reason", rc, out)
			}
		})
	}

	t.Run("compose options", func(t *testing.T) {
		s := newScripted(
			fakeapi.Turn{Text: "Looking.", Tools: []fakeapi.ToolUse{fakeapi.Bash(
				"id -u; cat /proc/self/uid_map; ls -A /state; echo SANDBOXED-BASH-RAN")}},
			tier1Healthy)
		api := fakeapi.Start(t, s.script)
		c := runContainer(t, pm, image, cli, api, opts)
		waitFor(t, 60*time.Second, "the daemon to be ready", func() bool {
			code, _ := httpGet(t, c.url+"/-/ready")
			return code == 200
		})
		if v := sampleValue(func() string { _, b := httpGet(t, c.url+"/metrics"); return b }(), "claudeops_sandbox_ready"); v != "1" {
			t.Errorf("claudeops_sandbox_ready = %q, want 1", v)
		}
		if rc, out := c.healthcheck(t, svc.Healthcheck.Test); rc != 0 {
			t.Errorf("the compose healthcheck failed: rc %d %q", rc, out)
		}
		var ss []sessionView
		waitFor(t, 180*time.Second, "the start-up Tier 1 session to end", func() bool {
			var out struct {
				Sessions []sessionView `json:"sessions"`
			}
			getJSON(t, c.url+"/api/v1/sessions", &out)
			ss = out.Sessions
			return len(ss) == 1 && ss[0].Outcome != "running"
		})
		if ss[0].Outcome != "healthy" {
			t.Fatalf("session = %+v, want healthy", ss[0])
		}
		res := s.result(t, 0)
		t.Logf("Bash in the container's sandbox: error=%v %q", res.IsError, res.Content)
		if res.IsError || !strings.Contains(res.Content, "SANDBOXED-BASH-RAN") {
			t.Fatalf("the Bash call did not run: %q", res.Content)
		}
		// The outer layer's uid in a user namespace of one id, and the
		// state dir (the ledger, the sockets) an empty tmpfs.
		want := regexp.MustCompile(`^1001\n\s*1001\s+1001\s+1\nSANDBOXED-BASH-RAN`)
		if !want.MatchString(strings.TrimSpace(res.Content)) {
			t.Errorf("Bash saw %q, want uid 1001, uid_map \"1001 1001 1\", an empty /state", res.Content)
		}
		if !slices.ContainsFunc(c.stateFiles(t), func(n string) bool { return strings.HasSuffix(n, ".db") }) {
			t.Errorf("no database in the state dir %v: the check of an empty /state proves nothing", c.stateFiles(t))
		}
	})
}

// sandboxContainer is a daemon running in a container with --network host.
type sandboxContainer struct {
	id, url string
	state   string // the host dir mounted at /state
	pm      *podmantest.Podman
}

func (c *sandboxContainer) stateFiles(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(c.state)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// healthcheck runs a compose healthcheck test (["CMD", argv...]) in the
// container, its URL's localhost:9847 replaced by the daemon's address, and
// returns its exit code and output.
func (c *sandboxContainer) healthcheck(t testing.TB, test []string) (int, string) {
	t.Helper()
	if len(test) < 2 || test[0] != "CMD" {
		t.Fatalf("healthcheck test %q: want [\"CMD\", ...]", test)
	}
	argv := []string{"exec", c.id, "/bin/sh", "-c", `"$@" 2>&1; echo "rc=$?"`, "sh"}
	for _, a := range test[1:] {
		argv = append(argv, strings.Replace(a, "http://localhost:9847", c.url, 1))
	}
	out := c.pm.Podman(t, argv...)
	i := strings.LastIndex(out, "rc=")
	if i < 0 {
		t.Fatalf("healthcheck: no exit code in %q", out)
	}
	rc := 0
	fmt.Sscanf(out[i:], "rc=%d", &rc)
	return rc, strings.TrimSpace(out[:i])
}

func (c *sandboxContainer) logs(t testing.TB) string {
	t.Helper()
	return c.pm.Podman(t, "logs", c.id)
}

// runContainer starts the daemon in image as the image's user, with the
// host's CLI bound read-only at /opt/claude-code and the given
// --security-opt values. --network host: the fake API and the test reach
// it on the host's loopback; bwrap still gives sessions their own network.
func runContainer(t *testing.T, pm *podmantest.Podman, image, cli string, api *fakeapi.Server, securityOpts []string) *sandboxContainer {
	t.Helper()
	root := t.TempDir()
	vols := map[string]string{"state": "/state", "results": "/results", "repos": "/repos"}
	argv := []string{"run", "-d", "--network", "host", "--user", fmt.Sprintf("%d:%d", containerUID, containerUID),
		"-v", filepath.Dir(cli) + ":/opt/claude-code:ro"}
	for _, name := range []string{"state", "results", "repos"} {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, containerUID, containerUID); err != nil {
			t.Fatal(err)
		}
		argv = append(argv, "-v", dir+":"+vols[name])
	}
	for _, o := range securityOpts {
		argv = append(argv, "--security-opt", o)
	}
	addr := freePort(t)
	argv = append(argv,
		"-e", "ANTHROPIC_API_KEY=sk-e2e-secret-key", "-e", "ANTHROPIC_BASE_URL="+api.URL(),
		// The log to stdout: podman logs gives stderr on its own stderr.
		image, "/bin/sh", "-c", `exec "$0" "$@" 2>&1`,
		"/bin/claude-ops", "--web.listen-address="+addr, "--claude.path=/opt/claude-code/"+filepath.Base(cli),
		"--state.dir=/state", "--results.dir=/results", "--repos.dir=/repos",
		"--schedule.interval=1h", "--log.level=debug")
	c := &sandboxContainer{id: pm.Podman(t, argv...), url: "http://" + addr, state: filepath.Join(root, "state"), pm: pm}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- container log ----\n%s", tail(c.logs(t), 12000))
		}
		pm.Podman(t, "rm", "--force", "--time", "2", c.id)
	})
	return c
}

// sandboxImage imports an image like the Dockerfile's, from this host's
// files: bwrap, socat, bash, a static busybox for the rest of the shell
// tools, the claude-ops binary, every library they need, and the user
// 10001 with its home. The CLI is bound in by runContainer.
func sandboxImage(t *testing.T, pm *podmantest.Podman, cli string) string {
	t.Helper()
	busybox := requireTool(t, "busybox", podmantest.InstallCommand)
	files := map[string]string{ // image path -> host path
		"usr/bin/bwrap":  requireTool(t, "bwrap", "apt-get install -y bubblewrap"),
		"usr/bin/socat":  requireTool(t, "socat", "apt-get install -y socat"),
		"usr/bin/bash":   requireTool(t, "bash", "apt-get install -y bash"),
		"usr/bin/curl":   requireTool(t, "curl", "apt-get install -y curl"), // the healthcheck
		"bin/busybox":    busybox,
		"bin/claude-ops": binary,
	}
	for _, bin := range []string{files["usr/bin/bwrap"], files["usr/bin/socat"], files["usr/bin/bash"], files["usr/bin/curl"], binary, cli} {
		for _, lib := range sharedLibs(t, bin) {
			files[strings.TrimPrefix(lib, "/")] = lib
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dirs := []struct {
		name     string
		mode     int64
		uid, gid int
	}{{"bin/", 0o755, 0, 0}, {"usr/", 0o755, 0, 0}, {"usr/bin/", 0o755, 0, 0}, {"etc/", 0o755, 0, 0},
		{"tmp/", 0o1777, 0, 0}, {"run/", 0o755, 0, 0}, {"root/", 0o700, 0, 0}, {"home/", 0o755, 0, 0},
		{"home/claude-ops/", 0o755, containerUID, containerUID}, {"opt/", 0o755, 0, 0}}
	seen := map[string]bool{}
	addDir := func(name string, mode int64, uid, gid int) {
		if seen[name] {
			return
		}
		seen[name] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: uid, Gid: gid, ModTime: now}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range dirs {
		addDir(d.name, d.mode, d.uid, d.gid)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, d := range parents(name) {
			addDir(d, 0o755, 0, 0)
		}
		data, err := os.ReadFile(files[name])
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(data)), ModTime: now}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	etc := map[string]string{
		"etc/passwd": fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\nclaude-ops:x:%d:%d::/home/claude-ops:/bin/sh\n", containerUID, containerUID),
		"etc/group":  fmt.Sprintf("root:x:0:\nclaude-ops:x:%d:\n", containerUID),
	}
	for _, name := range []string{"etc/passwd", "etc/group"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(etc[name])), ModTime: now}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(etc[name])); err != nil {
			t.Fatal(err)
		}
	}
	// The tools the daemon's bridge script and the CLI's Bash use.
	for _, a := range []string{"sh", "grep", "sleep", "cat", "id", "ls", "head", "tr", "env", "echo", "true", "uname", "mkdir", "rm", "ps", "which"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(pm.Dir, "sandbox-image.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	const image = "localhost/claude-ops-sandbox:test"
	pm.Podman(t, "import", path, image)
	return image
}

// parents are the directories above an image path, outermost first, with a
// trailing slash.
func parents(name string) []string {
	var out []string
	for d := filepath.Dir(name); d != "."; d = filepath.Dir(d) {
		out = append([]string{d + "/"}, out...)
	}
	return out
}

// sharedLibs lists the shared libraries of an ELF binary, the loader
// included, by ldd; none for a static one.
func sharedLibs(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil
		}
		t.Fatalf("ldd %s: %v: %s", bin, err, out)
	}
	var libs []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	return libs
}

// composeSvc is what the test reads of a compose service.
type composeSvc struct {
	SecurityOpt []string `yaml:"security_opt"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// composeService is a service of a compose file.
func composeService(t *testing.T, file, service string) composeSvc {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]composeSvc `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	svc, ok := c.Services[service]
	if !ok {
		t.Fatalf("%s has no service %s", file, service)
	}
	return svc
}
