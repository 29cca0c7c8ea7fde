package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

// Issue 12, start-up and errors: what a new user meets before the first
// session runs.

// startupEnv is daemonEnv without the variables drop names, plus more.
func startupEnv(t testing.TB, api *fakeapi.Server, d dirs, drop []string, more ...string) []string {
	env := slices.DeleteFunc(daemonEnv(t, api, d), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(drop, k)
	})
	return append(env, more...)
}

// waitAnswer waits until the daemon answers HTTP (not necessarily ready).
func waitAnswer(t testing.TB, p *proc, url string) {
	t.Helper()
	waitFor(t, 30*time.Second, "the daemon to answer", func() bool {
		if p.exited() {
			t.Fatalf("claude-ops exited:\n%s", p.Output())
		}
		code, _ := httpGet(t, url+"/-/healthy")
		return code == 200
	})
}

// endedSessions lists the sessions that have ended.
func endedSessions(t testing.TB, url string) []sessionView {
	var out struct {
		Sessions []sessionView `json:"sessions"`
	}
	getJSON(t, url+"/api/v1/sessions", &out)
	return slices.DeleteFunc(out.Sessions, func(s sessionView) bool { return s.Outcome == "" || s.Outcome == "running" })
}

// TestStartupNoAPIKey: without a key the daemon runs (metrics, webhook) but
// is not ready and says why; sessions end at once without calling the model.
func TestStartupNoAPIKey(t *testing.T) {
	d := newDirs(t)
	api := fakeapi.Start(t, fakeapi.Sequence(tier1Healthy))
	addr := freePort(t)
	url := "http://" + addr
	p := start(t, "claude-ops", startupEnv(t, api, d, []string{"ANTHROPIC_API_KEY"}),
		daemonArgs(addr, d, "--webhook.no-auth")...)
	waitAnswer(t, p, url)

	code, body := httpGet(t, url+"/-/ready")
	if code != 503 || !strings.Contains(body, "no API key: set ANTHROPIC_API_KEY or --claude.api-key-file") {
		t.Errorf("/-/ready = %d %q", code, body)
	}
	if !regexp.MustCompile(`level=ERROR .*no API key: set ANTHROPIC_API_KEY or --claude.api-key-file`).MatchString(p.Output()) {
		t.Errorf("no error line about the key at start")
	}
	if code, _ := httpGet(t, url+"/metrics"); code != 200 {
		t.Errorf("/metrics = %d", code)
	}
	if code, body := httpPost(t, url+"/api/v1/webhook", "application/json", firingAlert("WebDown", "web"), nil); code/100 != 2 {
		t.Errorf("webhook = %d %s", code, body)
	}
	// The start-up Tier 1 session and the alert's Tier 2 end at once,
	// recorded and counted, and the model API hears nothing.
	var ended []sessionView
	waitFor(t, 60*time.Second, "a tier 1 and a tier 2 session to end", func() bool {
		ended = endedSessions(t, url)
		return slices.ContainsFunc(ended, func(s sessionView) bool { return s.Tier == 1 }) &&
			slices.ContainsFunc(ended, func(s sessionView) bool { return s.Tier == 2 })
	})
	for _, s := range ended {
		if s.Outcome != "error" || !strings.Contains(s.Reason, "no API key") {
			t.Errorf("session %+v", s)
		}
	}
	_, scrape := httpGet(t, url+"/metrics")
	for _, series := range []string{
		`claudeops_sessions_total{outcome="error",tier="1",trigger="schedule"}`,
		`claudeops_sessions_total{outcome="error",tier="2",trigger="alert"}`,
	} {
		if v, _ := strconv.ParseFloat(sampleValue(scrape, series), 64); v < 1 {
			t.Errorf("%s = %q", series, sampleValue(scrape, series))
		}
	}
	if n := len(api.Requests()); n != 0 {
		t.Errorf("the model API got %d requests", n)
	}
	if strings.Contains(p.Output(), "session started") {
		t.Errorf("a CLI was started")
	}

	// The state dir's lock dies with its daemon: after a kill -9 the next
	// one starts at once.
	p.kill()
	again := start(t, "claude-ops again", startupEnv(t, api, d, []string{"ANTHROPIC_API_KEY"}),
		daemonArgs(addr, d, "--webhook.no-auth")...)
	waitAnswer(t, again, url)
}

// TestStartupRejectedKey: a key the model API refuses (401) ends the session
// at once as auth_failed, with an error line; the CLI does not retry.
func TestStartupRejectedKey(t *testing.T) {
	d := newDirs(t)
	api := fakeapi.Start(t, fakeapi.Sequence(fakeapi.Turn{Status: 401}))
	dm := startDaemon(t, api, d)
	var s sessionView
	waitFor(t, 60*time.Second, "the tier 1 session to end", func() bool {
		ended := endedSessions(t, dm.URL)
		if len(ended) > 0 {
			s = ended[0]
		}
		return len(ended) > 0
	})
	full := dm.fullSessionDuration(t, s.ID)
	t.Logf("session %s: %s in %.1fs: %s; %d model requests", s.ID, s.Outcome, full, s.Reason, len(api.Requests()))
	if s.Outcome != "auth_failed" || !strings.Contains(s.Reason, "the model API rejected the key") {
		t.Errorf("session %+v", s)
	}
	if full > 20 {
		t.Errorf("the session took %.1fs to give up", full)
	}
	if n := len(api.Requests()); n != 1 {
		t.Errorf("the model API got %d requests, want 1 (no retries)", n)
	}
	if !regexp.MustCompile(`level=ERROR .*msg="the model API rejected the key`).MatchString(dm.Output()) {
		t.Errorf("no error line says the key was rejected")
	}
	if v := sampleValue(dm.scrape(t), `claudeops_sessions_total{outcome="auth_failed",tier="1",trigger="schedule"}`); v != "1" {
		t.Errorf("auth_failed sessions = %q", v)
	}
}

// fullSessionDuration is a session's duration in seconds.
func (d *daemon) fullSessionDuration(t testing.TB, id string) float64 {
	var out struct {
		Session struct {
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		} `json:"session"`
	}
	getJSON(t, d.URL+"/api/v1/sessions/"+id, &out)
	return out.Session.End.Sub(out.Session.Start).Seconds()
}

// TestStartupSecondInstance: a second daemon on the same state dir stops
// before it touches anything of the first: the first's running session
// stays running, its sockets stay.
func TestStartupSecondInstance(t *testing.T) {
	d := newDirs(t)
	var mu sync.Mutex
	asked := false
	api := fakeapi.Start(t, func(*fakeapi.Request) fakeapi.Turn {
		mu.Lock()
		asked = true
		mu.Unlock()
		return fakeapi.Turn{Delay: 5 * time.Minute} // the session runs until the test ends
	})
	first := startDaemon(t, api, d)
	waitFor(t, 60*time.Second, "the first daemon's session to call the model", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return asked
	})
	sockets, _ := filepath.Glob(filepath.Join(d.State, "*", "*.sock"))
	more, _ := filepath.Glob(filepath.Join(d.State, "*.sock"))
	sockets = append(sockets, more...)
	stat := func() map[string]time.Time {
		m := map[string]time.Time{}
		for _, s := range sockets {
			if fi, err := os.Stat(s); err == nil {
				m[s] = fi.ModTime()
			}
		}
		return m
	}
	before := stat()

	begin := time.Now()
	args := daemonArgs(freePort(t), d)
	second := exec.Command(args[0], args[1:]...)
	second.Env = daemonEnv(t, api, d)
	out, err := second.CombinedOutput()
	code := second.ProcessState.ExitCode()
	t.Logf("second instance: exit %d after %v: %s", code, time.Since(begin).Round(time.Millisecond), out)
	if err == nil || code != 1 {
		t.Errorf("second instance exit %d (%v), want 1", code, err)
	}
	want := "state dir " + d.State + " is in use by another claude-ops (pid " + strconv.Itoa(first.cmd.Process.Pid) + ")"
	if !strings.Contains(string(out), want) {
		t.Errorf("second instance output lacks %q", want)
	}
	if strings.Contains(string(out), "Listening on") {
		t.Errorf("the second instance listened")
	}

	ss := first.sessions(t)
	if len(ss) != 1 || ss[0].Outcome != "running" {
		t.Errorf("the first daemon's session: %+v, want it still running", ss)
	}
	if len(sockets) == 0 {
		t.Fatal("no sockets found in the state dir")
	}
	if after := stat(); !sameTimes(before, after) {
		t.Errorf("sockets of the first daemon changed: %v -> %v", before, after)
	}
	if code, body := httpGet(t, first.URL+"/-/ready"); code != 200 {
		t.Errorf("first daemon /-/ready = %d %s", code, body)
	}
}

func sameTimes(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.Equal(v) {
			return false
		}
	}
	return true
}

// TestStartupFlagsRefused: a bad flag or web config stops the daemon
// before it listens, with one line that names the flag.
func TestStartupFlagsRefused(t *testing.T) {
	d := newDirs(t)
	badWeb := filepath.Join(t.TempDir(), "web.yml")
	writeFile(t, badWeb, "basic_auth_users:\n  alertmanager: not-a-bcrypt-hash\ntls_server_config: [\n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--cooldown.max-restarts=-1"}, 2, "--cooldown.max-restarts must be ≥ 0"},
		{[]string{"--remediation.concurrency=0"}, 2, "--remediation.concurrency must be ≥ 1"},
		{[]string{"--alertmanager.url=alertmanager:9093"}, 2, "--alertmanager.url"},
		{[]string{"--session.pass-env=GITHUB_TOKEN"}, 2, "looks like a secret"},
		{[]string{"--web.config.file=" + badWeb}, 1, "--web.config.file"},
	} {
		addr := freePort(t)
		args := daemonArgs(addr, d, tc.args...)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "ANTHROPIC_API_KEY=sk-e2e-secret-key"}
		out, _ := cmd.CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if cmd.ProcessState.ExitCode() != tc.code || !strings.Contains(string(out), tc.want) ||
			strings.Contains(string(out), "Listening on") {
			t.Errorf("%v: exit %d, output:\n%s", tc.args, cmd.ProcessState.ExitCode(), out)
		}
		if tc.code == 2 && len(lines) != 1 {
			t.Errorf("%v: %d lines, want one", tc.args, len(lines))
		}
	}
}

// TestStartupSessionEnvAndLog: the variables of --session.pass-env reach a
// session (a proxy does not keep the CLI from the daemon's endpoint), no
// others do; the log has one listening line per address; a plain go build
// has a version.
func TestStartupSessionEnvAndLog(t *testing.T) {
	d := newDirs(t)
	dead := freePort(t) // a proxy nobody answers
	var mu sync.Mutex
	var printed *fakeapi.ToolResult
	api := fakeapi.Start(t, func(r *fakeapi.Request) fakeapi.Turn {
		if r.Turn == 0 {
			return fakeapi.Turn{Text: "Looking.", Tools: []fakeapi.ToolUse{fakeapi.Bash("printenv E2E_SITE E2E_NOT_PASSED; echo end")}}
		}
		mu.Lock()
		if printed == nil && len(r.ToolResults) == 1 {
			printed = &r.ToolResults[0]
		}
		mu.Unlock()
		return tier1Healthy
	})
	addr := freePort(t)
	p := start(t, "claude-ops", startupEnv(t, api, d, nil,
		"E2E_SITE=passed-through-42", "E2E_NOT_PASSED=left-behind-17",
		"HTTPS_PROXY=http://"+dead, "HTTP_PROXY=http://"+dead, "https_proxy=http://"+dead, "http_proxy=http://"+dead),
		daemonArgs(addr, d, "--session.pass-env=E2E_SITE", "--session.pass-env=HTTPS_PROXY", "--session.pass-env=HTTP_PROXY",
			"--session.pass-env=https_proxy", "--session.pass-env=http_proxy")...)
	dm := &daemon{proc: p, URL: "http://" + addr, Dirs: d}
	p.waitReady(t, dm.URL, 30*time.Second)
	waitFor(t, 90*time.Second, "the session's printenv to come back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return printed != nil
	})
	mu.Lock()
	res := *printed
	mu.Unlock()
	t.Logf("printenv: %q", res.Content)
	if !strings.Contains(res.Content, "passed-through-42") || strings.Contains(res.Content, "left-behind-17") {
		t.Errorf("session environment: %q", res.Content)
	}

	var listening []string
	for _, l := range strings.Split(p.Output(), "\n") {
		if strings.Contains(strings.ToLower(l), "msg=listening") || strings.Contains(l, `msg="Listening on"`) {
			listening = append(listening, l)
		}
	}
	if len(listening) != 1 {
		t.Errorf("%d listening lines, want 1:\n%s", len(listening), strings.Join(listening, "\n"))
	}

	var status struct {
		Version map[string]string `json:"version"`
	}
	getJSON(t, dm.URL+"/api/v1/status", &status)
	t.Logf("version %v", status.Version)
	// The e2e build may be -buildvcs=false: then "devel", revision "unknown".
	if status.Version["version"] == "" || status.Version["revision"] == "" {
		t.Errorf("a plain go build has no version: %v", status.Version)
	}
	if l := metricLines(dm.scrape(t), "claudeops_build_info{"); len(l) != 1 || strings.Contains(l[0], `version=""`) {
		t.Errorf("claudeops_build_info: %q", l)
	}
}
