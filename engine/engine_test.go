package engine_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/runner/podmantest"
)

// start starts a private podman and a client of its API.
func start(t testing.TB) (*podmantest.Podman, *engine.Engine) {
	t.Helper()
	p := podmantest.Start(t)
	e, err := engine.New(p.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return p, e
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var composeLabels = map[string]string{
	engine.LabelComposeService: "web",
	engine.LabelComposeProject: "demo",
}

func TestPing(t *testing.T) {
	t.Parallel()
	p, e := start(t)
	info, err := e.Ping(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("found %s", info)
	if info.APIVersion != "1.41" || info.ClientAPIVersion != "1.41" {
		t.Errorf("API %s, client uses %s: want 1.41 for both (negotiated down from the client's newest)", info.APIVersion, info.ClientAPIVersion)
	}
	if info.Name != "Podman Engine" || info.ServerVersion == "" || info.Host != p.Host {
		t.Errorf("info = %+v, want Podman Engine with a version at %s", info, p.Host)
	}
}

// TestNewFromEnv: host "" finds the engine through DOCKER_HOST.
func TestNewFromEnv(t *testing.T) {
	p := podmantest.Start(t)
	t.Setenv("DOCKER_HOST", p.Host)
	e, err := engine.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Host() != p.Host {
		t.Errorf("Host() = %q, want %q", e.Host(), p.Host)
	}
	if _, err := e.Ping(testContext(t)); err != nil {
		t.Fatal(err)
	}
}

func TestPingNoEngine(t *testing.T) {
	t.Parallel()
	e, err := engine.New("unix://" + t.TempDir() + "/none.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Ping(testContext(t)); err == nil || !strings.HasPrefix(err.Error(), "engine: ping ") {
		t.Errorf("Ping without an engine: %v, want an engine: ping error", err)
	}
}

func TestContainers(t *testing.T) {
	t.Parallel()
	p, e := start(t)
	ctx := testContext(t)
	before := time.Now().Add(-time.Second)
	webID := p.Run(t, "web", composeLabels)
	p.Run(t, "done", map[string]string{"role": "job"}, "true")
	p.Podman(t, "wait", "done")
	p.Podman(t, "run", "-d", "--name", "checked", "--network", "none",
		"--health-cmd", "true", "--health-interval", "disable", podmantest.Image, "sleep", "100000")
	p.Podman(t, "healthcheck", "run", "checked")

	list, err := e.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]engine.Container{}
	for _, c := range list {
		got[c.Name] = c
	}
	for _, tc := range []struct {
		name, state, health, service, project string
		labels                                map[string]string
		running                               bool
	}{
		{name: "web", state: "running", service: "web", project: "demo", labels: composeLabels, running: true},
		{name: "done", state: "exited", labels: map[string]string{"role": "job"}},
		{name: "checked", state: "running", health: "healthy", labels: map[string]string{}, running: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := got[tc.name]
			if !ok {
				t.Fatalf("%s not listed: %+v", tc.name, list)
			}
			t.Logf("%+v", c)
			if c.State != tc.state || c.Health != tc.health || c.ComposeService != tc.service || c.ComposeProject != tc.project {
				t.Errorf("state %q health %q compose %q/%q, want %q %q %q/%q",
					c.State, c.Health, c.ComposeService, c.ComposeProject, tc.state, tc.health, tc.service, tc.project)
			}
			if c.Image != podmantest.Image || len(c.ID) != 64 {
				t.Errorf("image %q ID %q", c.Image, c.ID)
			}
			if !maps.Equal(c.Labels, tc.labels) {
				t.Errorf("labels %v, want %v", c.Labels, tc.labels)
			}
			if tc.running && (c.StartedAt.Before(before) || c.StartedAt.After(time.Now())) {
				t.Errorf("StartedAt %v, want since %v", c.StartedAt, before)
			}
		})
	}
	if c := got["web"]; c.ID != webID {
		t.Errorf("web ID %s, want %s", c.ID, webID)
	}
	if len(list) != 3 || list[0].Name != "checked" || list[2].Name != "web" {
		t.Errorf("want 3 containers sorted by name, got %+v", list)
	}
}

func TestInspect(t *testing.T) {
	t.Parallel()
	p, e := start(t)
	id := p.Run(t, "web", composeLabels)
	for _, ref := range []string{"web", id, id[:12]} {
		c, err := e.Inspect(testContext(t), ref)
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != id || c.Name != "web" || c.State != "running" || c.ComposeProject != "demo" {
			t.Errorf("Inspect(%s) = %+v", ref, c)
		}
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	_, e := start(t)
	ctx := testContext(t)
	for _, tc := range []struct {
		op   string
		call func() error
	}{
		{"inspect", func() error { _, err := e.Inspect(ctx, "nope"); return err }},
		{"restart", func() error { return e.Restart(ctx, "nope", time.Second) }},
		{"logs", func() error { _, err := e.Logs(ctx, "nope", 10); return err }},
		{"recreate", func() error { _, err := e.Recreate(ctx, "nope"); return err }},
	} {
		t.Run(tc.op, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("%s of a missing container: %v, want ErrNotFound", tc.op, err)
			}
			if want := "engine: " + tc.op + " nope: not found: "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want prefix %q", err, want)
			}
			t.Log(err)
		})
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	p, e := start(t)
	ctx := testContext(t)
	id := p.Run(t, "web", composeLabels)
	before, err := e.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// sleep as PID 1 ignores SIGTERM: the 1s timeout ends in SIGKILL.
	start := time.Now()
	if err := e.Restart(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart took %v", time.Since(start))
	after, err := e.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if after.State != "running" || !after.StartedAt.After(before.StartedAt) {
		t.Errorf("after restart: state %s, StartedAt %v (was %v): want running and later", after.State, after.StartedAt, before.StartedAt)
	}
	t.Logf("RestartCount %d -> %d", before.RestartCount, after.RestartCount)
}

func TestRecreate(t *testing.T) {
	t.Parallel()
	p, e := start(t)
	ctx := testContext(t)
	oldID := p.Podman(t, "run", "-d", "--name", "web", "--network", "none", "--stop-timeout", "1",
		"--label", engine.LabelComposeService+"=web", "--label", engine.LabelComposeProject+"=demo",
		"--env", "GREETING=hi", "-v", "/data", podmantest.Image, "sh", "-c", "echo $GREETING; sleep 100000")
	p.Podman(t, "exec", "web", "sh", "-c", "echo kept >/data/f")
	old, err := e.Inspect(ctx, oldID)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	newID, err := e.Recreate(ctx, oldID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recreate took %v", time.Since(start))
	if newID == oldID || newID == "" {
		t.Fatalf("new ID %q, old %q", newID, oldID)
	}
	c, err := e.Inspect(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != newID || c.State != "running" || c.Image != old.Image || !maps.Equal(c.Labels, old.Labels) ||
		c.ComposeService != "web" || c.ComposeProject != "demo" {
		t.Errorf("recreated: %+v\nold:        %+v", c, old)
	}
	if _, err := e.Inspect(ctx, oldID); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("old container: %v, want ErrNotFound", err)
	}
	all, err := e.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Errorf("containers after recreate: %+v, want only the new web", all)
	}
	// Same command and env; the anonymous volume came along.
	if got := p.Podman(t, "exec", "web", "cat", "/data/f"); got != "kept" {
		t.Errorf("/data/f = %q, want the old volume's content", got)
	}
	if got := p.Podman(t, "inspect", "--format", "{{.Config.StopTimeout}} {{.Config.Hostname}}", "web"); got != "1 "+newID[:12] {
		t.Errorf("stop timeout and hostname: %q, want 1 and the new short ID", got)
	}
	waitLogs(t, e, newID, "hi\n")
}

// TestRecreateMissingImage: when the pull fails and the image is not local,
// Recreate fails before touching the container.
func TestRecreateMissingImage(t *testing.T) {
	t.Parallel()
	p, e := start(t)
	ctx := testContext(t)
	p.Podman(t, "tag", podmantest.Image, "localhost/gone:1")
	id := p.Podman(t, "run", "-d", "--name", "web", "--network", "none", "localhost/gone:1", "sleep", "100000")
	p.Podman(t, "untag", "localhost/gone:1")

	_, err := e.Recreate(ctx, id)
	if err == nil || !strings.Contains(err.Error(), "engine: recreate web: pull: localhost/gone:1") {
		t.Fatalf("Recreate without image: %v", err)
	}
	t.Log(err)
	c, err := e.Inspect(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != id || c.State != "running" {
		t.Errorf("container after failed recreate: %+v, want the old one running", c)
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	p, e := start(t)
	p.Run(t, "talker", nil, "sh", "-c", "echo hello; echo oops >&2; sleep 100000")
	p.Run(t, "counter", nil, "sh", "-c", `i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo line$i; done; sleep 100000`)
	// Lines of 128 bytes, each written at once: conmon reads the pipe in
	// chunks of 8 KiB, which then never end inside a line (a line split
	// in two log records came back from podman with its pieces reordered,
	// "…6789end\n\n").
	p.Run(t, "flood", nil, "sh", "-c",
		`s=0123456789; s=$s$s$s$s$s$s$s$s$s$s$s$s; i=0; while [ $i -lt 1000 ]; do i=$((i+1)); printf '%04d %sab\n' $i $s; done; echo end; sleep 100000`)
	p.Podman(t, "run", "-d", "-t", "--name", "tty", "--network", "none", podmantest.Image, "sh", "-c", "echo ttyhello; sleep 100000")

	waitLogs(t, e, "talker", "hello\noops\n")
	waitLogs(t, e, "counter", "line20\n")
	waitLogs(t, e, "flood", "end\n")
	waitLogs(t, e, "tty", "ttyhello\n")

	ctx := testContext(t)
	for _, tc := range []struct {
		id   string
		tail int
		want string
	}{
		{"talker", 10, "hello\noops\n"},
		{"counter", 3, "line18\nline19\nline20\n"},
		{"counter", 0, "line20\n"},  // clamped to 1
		{"counter", -5, "line20\n"}, // clamped to 1
		{"tty", 10, "ttyhello\r\n"},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.id, tc.tail), func(t *testing.T) {
			got, err := e.Logs(ctx, tc.id, tc.tail)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Logs = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		got, err := e.Logs(ctx, "flood", 100000) // clamped to 1000 lines of 128 bytes
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > engine.MaxLogBytes || len(got) < engine.MaxLogBytes-200 || !strings.HasSuffix(got, "1000 "+strings.Repeat("0123456789", 12)+"ab\nend\n") {
			t.Errorf("Logs: %d bytes ending %q", len(got), got[max(0, len(got)-120):])
		}
	})
}

// waitLogs waits until the container's logs end with want.
func waitLogs(t *testing.T, e *engine.Engine, id, want string) {
	t.Helper()
	ctx := testContext(t)
	var got string
	var err error
	for range 100 {
		got, err = e.Logs(ctx, id, 1000)
		if err == nil && strings.HasSuffix(strings.ReplaceAll(got, "\r\n", "\n"), want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("logs of %s: %q, %v; want them to end with %q", id, got, err, want)
}

// BenchmarkRestart measures Restart through podman's API.
func BenchmarkRestart(b *testing.B) {
	for _, bc := range []struct {
		name    string
		args    []string
		timeout time.Duration
	}{
		// sh exits on SIGTERM at once: the restart is the engine's own cost.
		{"sigterm", []string{"sh", "-c", `trap "exit 0" TERM; sleep 100000 & wait`}, 10 * time.Second},
		// t=0: SIGKILL right away.
		{"kill", nil, 0},
		// sleep as PID 1 ignores SIGTERM: SIGKILL after the 1s timeout.
		{"timeout-1s", nil, time.Second},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, e := start(b)
			id := p.Run(b, "web", composeLabels, bc.args...)
			ctx := context.Background()
			for b.Loop() {
				if err := e.Restart(ctx, id, bc.timeout); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
