// Package podmantest (test support; under runner/ because it starts
// processes, as only runner/ may) starts a real Podman serving the Docker Engine API on a
// unix socket, for tests of code that talks to a container engine.
//
// Every piece of state lives in one private temp dir: storage (--root),
// run state (--runroot), --tmpdir, locks (lock_type "file" instead of the
// host-wide /dev/shm/libpod_lock), network configs (network_config_dir, so
// `system reset` cannot delete the host's networks) and the registries
// config. Nothing is shared with the host's podman; the only file outside
// the dir that podman writes is the image copy's blob-info cache
// (/var/lib/containers/cache), which has no override for root and which
// podman 4.3's reset does not delete.
//
// Containers use --network none (or host): the harness never creates a
// bridge, a netns or an iptables rule.
package podmantest

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Image is the image every instance has: a static busybox whose /bin holds
// sh, sleep, true, cat, echo, wget and httpd.
const Image = "localhost/busybox:test"

// InstallCommand installs what the harness needs on Debian.
const InstallCommand = "apt-get install -y podman runc busybox-static"

// DefaultCommand is what Run runs when it is given no args.
var DefaultCommand = []string{"sleep", "100000"}

// applets are the busybox links of Image's /bin.
var applets = []string{"sh", "sleep", "true", "cat", "echo", "wget", "httpd"}

// Podman is one private podman instance and its API service.
type Podman struct {
	// Host is the Docker API address, "unix:///…/docker.sock": what
	// DOCKER_HOST would be set to.
	Host string
	// Dir is the temp dir that holds every piece of the instance's state.
	Dir string

	bin    string
	global []string // --root, --runroot, --tmpdir
	env    []string
	svc    *exec.Cmd
	svcErr chan error // receives the service's exit
}

// Start starts a private podman and its Docker API service; t.Cleanup stops
// it and deletes everything it made. Without podman, runc or a static
// busybox the test is skipped, or fails when env CI is set.
func Start(t testing.TB) *Podman {
	t.Helper()
	bin := requireTool(t, "podman")
	requireTool(t, "runc")
	busybox := requireTool(t, "busybox")
	if err := checkStatic(busybox); err != nil {
		missing(t, err.Error())
	}
	if os.Geteuid() != 0 {
		missing(t, "podmantest needs root (rootless podman is not supported)")
	}

	// t.TempDir() can exceed the 108 bytes of a unix socket path.
	dir, err := os.MkdirTemp("", "pm")
	if err != nil {
		t.Fatalf("podmantest: %v", err)
	}
	p := &Podman{
		Dir:  dir,
		bin:  bin,
		Host: "unix://" + filepath.Join(dir, "docker.sock"),
		global: []string{
			"--root", filepath.Join(dir, "root"),
			"--runroot", filepath.Join(dir, "run"),
			"--tmpdir", filepath.Join(dir, "tmp"),
		},
	}
	t.Cleanup(func() { p.teardown(t) })

	if err := p.writeConfig(); err != nil {
		t.Fatalf("podmantest: %v", err)
	}
	rootfs, err := busyboxTar(busybox)
	if err != nil {
		t.Fatalf("podmantest: %v", err)
	}
	if _, err := p.run(bytes.NewReader(rootfs), "import", "-", Image); err != nil {
		t.Fatalf("podmantest: import %s: %v", Image, err)
	}
	if err := p.serve(); err != nil {
		t.Fatalf("podmantest: %v", err)
	}
	return p
}

// Run starts a detached container of Image named name with the given labels
// and --network none, running args (DefaultCommand when none), and returns
// its ID.
func (p *Podman) Run(t testing.TB, name string, labels map[string]string, args ...string) string {
	t.Helper()
	argv := []string{"run", "-d", "--network", "none"}
	if name != "" {
		argv = append(argv, "--name", name)
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		argv = append(argv, "--label", k+"="+labels[k])
	}
	if len(args) == 0 {
		args = DefaultCommand
	}
	argv = append(append(argv, Image), args...)
	return p.Podman(t, argv...)
}

// Podman runs podman with args against this instance and returns its
// trimmed stdout; a failure fails the test.
func (p *Podman) Podman(t testing.TB, args ...string) string {
	t.Helper()
	out, err := p.run(nil, args...)
	if err != nil {
		t.Fatalf("podmantest: podman %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// run runs podman against this instance only: the global flags and env
// are always set.
func (p *Podman) run(stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, append(append([]string{}, p.global...), args...)...)
	cmd.Env = p.env
	cmd.Stdin = stdin
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// writeConfig writes containers.conf, storage.conf and registries.conf
// into Dir and sets the env that points podman at them.
func (p *Podman) writeConfig() error {
	d := p.Dir
	for _, sub := range []string{"net", "tmp", "copytmp"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o700); err != nil {
			return err
		}
	}
	files := map[string]string{
		// runtime, cgroup_manager and the ulimits: without them containers
		// fail to start here (no systemd, crun absent, low hard limits).
		"containers.conf": fmt.Sprintf(`[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
image_copy_tmp_dir = %q
[network]
network_config_dir = %q
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
`, filepath.Join(d, "copytmp"), filepath.Join(d, "net")),
		"storage.conf": fmt.Sprintf(`[storage]
graphroot = %q
runroot = %q
`, filepath.Join(d, "root"), filepath.Join(d, "run")),
		"registries.conf": "unqualified-search-registries = []\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o600); err != nil {
			return err
		}
	}
	env := []string{
		"CONTAINERS_CONF=" + filepath.Join(d, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(d, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(d, "registries.conf"),
		"TMPDIR=" + filepath.Join(d, "tmp"),
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "CONTAINERS_"), k == "TMPDIR",
			// Either would turn the CLI into a remote client of another engine.
			k == "CONTAINER_HOST", k == "CONTAINER_CONNECTION", k == "CONTAINER_SSHKEY":
			continue
		}
		env = append(env, kv)
	}
	p.env = env
	return nil
}

// serve starts `podman system service` on the socket and waits until it
// answers /_ping.
func (p *Podman) serve() error {
	sock := strings.TrimPrefix(p.Host, "unix://")
	if len(sock) >= 108 {
		return fmt.Errorf("socket path %s is too long for a unix socket", sock)
	}
	logf, err := os.Create(filepath.Join(p.Dir, "service.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	args := append(append([]string{}, p.global...), "system", "service", "--time=0", p.Host)
	cmd := exec.Command(p.bin, args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("podman system service: %w", err)
	}
	p.svc = cmd
	p.svcErr = make(chan error, 1)
	go func() { p.svcErr <- cmd.Wait() }()

	hc := &http.Client{
		Timeout: time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			},
		},
	}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-p.svcErr:
			p.svcErr <- err // teardown waits on it too
			return fmt.Errorf("podman system service exited: %w: %s", err, p.serviceLog())
		default:
		}
		if _, err := os.Stat(sock); err == nil {
			resp, err := hc.Get("http://podman/_ping")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("podman system service did not answer on %s within 30s: %s", sock, p.serviceLog())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *Podman) serviceLog() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "service.log"))
	return strings.TrimSpace(string(b))
}

// teardown stops the service this instance started, removes its
// containers and storage, and deletes Dir. Every podman command carries the
// instance's flags and config, so only Dir's state is touched.
func (p *Podman) teardown(t testing.TB) {
	if p.svc != nil {
		_ = p.svc.Process.Kill()
		select {
		case <-p.svcErr: //nolint:errcheck // exited: how does not matter now
		case <-time.After(10 * time.Second):
			t.Errorf("podmantest: podman system service (pid %d) did not exit", p.svc.Process.Pid)
		}
	}
	if p.env != nil {
		if _, err := p.run(nil, "rm", "--all", "--force", "--time", "0"); err != nil {
			t.Logf("podmantest: teardown: rm: %v", err)
		}
		if _, err := p.run(nil, "system", "reset", "--force"); err != nil {
			t.Logf("podmantest: teardown: system reset: %v", err)
		}
	}
	// conmon's cleanup of a container may still be unmounting (or mounting)
	// its overlay when the service is gone: unmount what is left and retry
	// for a few seconds before calling it a leak.
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if left := unmountUnder(p.Dir); len(left) > 0 {
			t.Logf("podmantest: teardown: unmounted %d leftover mounts under %s", len(left), p.Dir)
		}
		if err = os.RemoveAll(p.Dir); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("podmantest: teardown: %v", err)
}

// busyboxTar returns a tar of a rootfs whose /bin holds the static busybox
// and its applet links.
func busyboxTar(busybox string) ([]byte, error) {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin/", 0o755}, {"etc/", 0o755}, {"tmp/", 0o1777}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: now}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb)), ModTime: now}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bb); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: now}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// checkStatic reports an error when path is a dynamically linked ELF: the
// image has no libc, so only busybox-static works.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the test image needs busybox-static (%s)", path, InstallCommand)
		}
	}
	return nil
}

// requireTool returns the path of a tool the harness needs: a failure in
// CI, a skip elsewhere.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			missing(t, fmt.Sprintf("%s is not installed: %s", name, InstallCommand))
		}
		missing(t, err.Error())
	}
	return path
}

// missing fails the test in CI (env CI non-empty), where tests must never be
// skipped, and skips it elsewhere.
func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("podmantest: %s; CI must install it (%s)", why, InstallCommand)
	}
	t.Skipf("podmantest: %s", why)
}
