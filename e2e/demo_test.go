package e2e

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

// TestDemo is issue 15's keyless demo, as `make demo` runs it: demo/run.sh
// with this package's daemon and the pinned CLI, no API key. It must print
// every step and reach an incident closed as remediated; then (DEMO_STAY=1
// keeps the daemon up) the API, the metrics and the transcript page say so.
func TestDemo(t *testing.T) {
	requireTool(t, "bwrap", "apt-get install bubblewrap")
	cmd := exec.Command("../demo/run.sh", "--session.pass-env=GORACE")
	cmd.Env = append(os.Environ(),
		"DEMO_DAEMON="+binary, "DEMO_TIMEOUT=150s", "DEMO_STAY=1",
		"CLAUDEOPS_CLAUDE_PATH="+fakeapi.CLIPath(t), "GORACE=atexit_sleep_ms=0",
		"ANTHROPIC_API_KEY=", // the demo needs none
	)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // run.sh stops the daemon it started
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})

	var (
		mu  sync.Mutex
		out strings.Builder
	)
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !signalled && strings.HasPrefix(sc.Text(), "demo | done.") {
				close(done)
				signalled = true
			}
		}
	}()
	output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	started := time.Now()
	select {
	case <-done:
	case err := <-exited:
		t.Fatalf("demo/run.sh exited (%v) before the incident was remediated:\n%s", err, output())
	case <-time.After(180 * time.Second):
		t.Fatalf("demo/run.sh did not finish:\n%s", output())
	}
	log := output()
	t.Logf("the demo reached a remediated incident in %v:\n%s", time.Since(started).Round(time.Second), log)

	for _, step := range []string{"1. the daemon is up", "2. Tier 1 ", "3. the metric moved", "4. alert DemoWebDown fired",
		"5. incident ", "6. Tier 2 called the typed action mcp__ops__run_playbook", "7. alert DemoWebDown resolved", "8. incident "} {
		if !strings.Contains(log, "demo | "+step) {
			t.Errorf("the demo did not print step %q", step)
		}
	}
	url := regexp.MustCompile(`the daemon is up: (http://[0-9.:]+)`).FindStringSubmatch(log)
	tier2 := regexp.MustCompile(`transcript http://[0-9.:]+/sessions/(\S+)\n`).FindAllStringSubmatch(log, -1)
	if url == nil || len(tier2) != 2 {
		t.Fatalf("no daemon URL or transcripts in the demo's output")
	}
	dm := &daemon{URL: url[1]}

	scrape := dm.scrape(t)
	for series, want := range map[string]string{
		`claudeops_incidents_total{outcome="remediated"}`:                         "1",
		`claudeops_check_success{check="http",service="web",type="http"}`:         "1",
		`claudeops_sessions_total{outcome="remediated",tier="2",trigger="alert"}`: "1",
	} {
		if got := sampleValue(scrape, series); got != want {
			t.Errorf("%s = %q, want %q", series, got, want)
		}
	}
	if in, ok := dm.incidentOf(t, "web"); ok {
		t.Errorf("web's incident is still open: %+v", in)
	}
	if s := dm.session(t, tier2[1][1]); s.Tier != 2 || s.Outcome != "remediated" {
		t.Errorf("the Tier 2 session: %+v", s)
	}
	var playbook bool
	for _, a := range dm.ledger(t) {
		playbook = playbook || (a.Service == "web" && a.Outcome == "done" && a.Tier == 2)
	}
	if !playbook {
		t.Errorf("no done Tier 2 action on web in the ledger: %+v", dm.ledger(t))
	}
	code, page := httpGet(t, dm.URL+"/sessions/"+tier2[1][1])
	if code != 200 || !strings.Contains(page, "run_playbook") || !strings.Contains(page, "restart-web") {
		t.Errorf("GET /sessions/%s = %d, without the typed action:\n%s", tier2[1][1], code, tail(page, 40))
	}
}
