package podmantest

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestStart(t *testing.T) {
	// Host-wide podman state the harness must never create.
	hostPaths := []string{"/dev/shm/libpod_lock", "/etc/cni/net.d/cni.lock", "/etc/containers/networks", "/run/libpod"}
	existed := map[string]bool{}
	for _, path := range hostPaths {
		_, err := os.Stat(path)
		existed[path] = err == nil
	}

	var dir string
	t.Run("instance", func(t *testing.T) {
		start := time.Now()
		p := Start(t)
		t.Logf("Start took %v", time.Since(start))
		dir = p.Dir

		if !strings.HasPrefix(p.Host, "unix://"+p.Dir) {
			t.Errorf("Host = %q, want a socket under %s", p.Host, p.Dir)
		}
		id := p.Run(t, "web", map[string]string{"a": "1"})
		if got := p.Podman(t, "inspect", "--format", "{{.State.Status}} {{index .Config.Labels \"a\"}}", "web"); got != "running 1" {
			t.Errorf("web: %q, want running with label a=1", got)
		}
		if out := p.Podman(t, "ps", "-q", "--no-trunc"); !strings.Contains(out, id) {
			t.Errorf("ps = %q, want %s", out, id)
		}
		p.Run(t, "echo", nil, "sh", "-c", "echo hi")

		// The API answers on the socket.
		sock := strings.TrimPrefix(p.Host, "unix://")
		hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
		resp, err := hc.Get("http://podman/v1.41/containers/web/json")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("inspect over the API: %s", resp.Status)
		}
		hc.CloseIdleConnections()
	})

	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("teardown left %s behind (%v)", dir, err)
	}
	for _, path := range hostPaths {
		if _, err := os.Stat(path); err == nil && !existed[path] {
			t.Errorf("the harness created host state %s", path)
		}
	}
}
