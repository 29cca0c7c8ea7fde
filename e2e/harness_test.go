// Package e2e drives the claude-ops binary as a user would: a real process
// with real flags, the real Claude Code CLI against the scripted fake API, and
// (for the loop tests) Debian's Prometheus and Alertmanager.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the claude-ops binary built once for the package, with -race;
// $CLAUDEOPS_E2E_BINARY names another build instead (benchmarks of memory
// want a plain one: the race detector inflates RSS several times over).
var binary string

func TestMain(m *testing.M) {
	if p := os.Getenv("CLAUDEOPS_E2E_BINARY"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		binary = abs
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "claude-ops-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "claude-ops")
	build := exec.Command("go", "build", "-race", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build claude-ops:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTool returns the path of a tool the test needs: a failure in CI, a
// skip elsewhere.
func requireTool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; CI must install it (%s)", name, install)
	}
	t.Skipf("%s is not installed: %s", name, install)
	return ""
}

// freePort returns a loopback address nobody listens on.
func freePort(t testing.TB) string {
	t.Helper()
	// Below the kernel's ephemeral range (32768-60999 here): a port from
	// 127.0.0.1:0 is free when this returns, but any outgoing connection of
	// the machine may take it before the daemon binds it (CI saw
	// "address already in use"). Here only another test's freePort could,
	// and a port is handed out once per test binary.
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if !portsTaken.claim(port) {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Fatal("no free port in 20000-31999")
	return ""
}

// portsTaken are the ports freePort handed out in this test binary.
var portsTaken = &portSet{m: map[int]bool{}}

type portSet struct {
	mu sync.Mutex
	m  map[int]bool
}

func (s *portSet) claim(p int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[p] {
		return false
	}
	s.m[p] = true
	return true
}

// proc is a process started by a test, with its output kept for failures.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs a command until the test ends (SIGTERM, then SIGKILL).
func start(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t, 20*time.Second)
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", name, tail(p.Output(), 12000))
		}
	})
	return p
}

// stop sends SIGTERM and waits; a process that does not stop in time is
// killed and the test fails: graceful shutdown is part of the contract.
func (p *proc) stop(t testing.TB, timeout time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		t.Errorf("%s did not stop within %v of SIGTERM", p.name, timeout)
	}
}

// waitReady waits until url/-/ready answers 200; a process that exits
// meanwhile fails the test with its output.
func (p *proc) waitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, p.name+" /-/ready", func() bool {
		if p.exited() {
			t.Fatalf("%s exited:\n%s", p.name, p.Output())
		}
		code, _ := httpGet(t, url+"/-/ready")
		return code == 200
	})
}

// kill sends SIGKILL to the process and waits for it.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
}

var client = &http.Client{Timeout: 10 * time.Second}

func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func httpPost(t testing.TB, url, contentType, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	code, body := httpGet(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// metricLines returns the sample lines of a scrape whose name starts with prefix.
func metricLines(scrape, prefix string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(scrape))
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}
