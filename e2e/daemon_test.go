package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

// daemon is a claude-ops process under test.
type daemon struct {
	*proc
	URL  string
	Dirs dirs
	// Token is the webhook token of --webhook.token-file, which the API's
	// sessions and transcripts want too; "" without one.
	Token string
}

type dirs struct{ State, Results, Repos string }

func newDirs(t testing.TB) dirs {
	root := t.TempDir()
	d := dirs{filepath.Join(root, "state"), filepath.Join(root, "results"), filepath.Join(root, "repos")}
	for _, p := range []string{d.State, d.Results, d.Repos} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// startDaemon runs claude-ops against the fake API with the real CLI and
// waits until it is ready.
func startDaemon(t testing.TB, api *fakeapi.Server, d dirs, extra ...string) *daemon {
	t.Helper()
	return startDaemonAt(t, freePort(t), api, d, extra...)
}

// startDaemonAt is startDaemon on a given address, for peers that must know
// it first (Alertmanager's webhook URL).
func startDaemonAt(t testing.TB, addr string, api *fakeapi.Server, d dirs, extra ...string) *daemon {
	t.Helper()
	p := start(t, "claude-ops", daemonEnv(t, api, d), daemonArgs(addr, d, extra...)...)
	dm := &daemon{proc: p, URL: "http://" + addr, Dirs: d}
	for _, a := range extra {
		if f, ok := strings.CutPrefix(a, "--webhook.token-file="); ok {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dm.Token = strings.TrimSpace(string(b))
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			dm.logTranscripts(t)
		}
	})
	p.waitReady(t, dm.URL, 30*time.Second)
	return dm
}

// daemonEnv is the daemon's environment: the test's PATH, a HOME of its own
// (the CLI's Bash tool sources the user's shell profile, which must not
// change PATH or stall a session), the key and the fake API.
func daemonEnv(t testing.TB, api *fakeapi.Server, d dirs) []string {
	t.Helper()
	home := filepath.Join(filepath.Dir(d.State), "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"ANTHROPIC_API_KEY=sk-e2e-secret-key", "ANTHROPIC_BASE_URL=" + api.URL(),
		"CLAUDEOPS_CLAUDE_PATH=" + fakeapi.CLIPath(t),
		// The hook the CLI runs before each tool is this -race binary, which
		// otherwise sleeps 1 s at exit: passed on to sessions (daemonArgs).
		"GORACE=atexit_sleep_ms=0",
	}
}

// daemonArgs is the daemon's command line: its dirs, debug logs, extra.
func daemonArgs(addr string, d dirs, extra ...string) []string {
	args := append([]string{
		binary, "--web.listen-address=" + addr,
		"--state.dir=" + d.State, "--results.dir=" + d.Results, "--repos.dir=" + d.Repos,
		"--session.pass-env=GORACE",
	}, extra...)
	if !slices.ContainsFunc(extra, func(a string) bool { return strings.HasPrefix(a, "--log.level=") }) {
		args = append(args, "--log.level=debug")
	}
	return args
}

func (d *daemon) scrape(t testing.TB) string {
	t.Helper()
	code, body := httpGet(t, d.URL+"/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return body
}

type sessionView struct {
	ID      string `json:"id"`
	Tier    int    `json:"tier"`
	Trigger string `json:"trigger"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
}

// get is httpGet of a path of the daemon's, with its token when it has one.
func (d *daemon) get(t testing.TB, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, d.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Token != "" {
		req.Header.Set("Authorization", "Bearer "+d.Token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// getJSON is getJSON of a path of the daemon's, with its token.
func (d *daemon) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	code, body := d.get(t, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

func (d *daemon) sessions(t testing.TB) []sessionView {
	t.Helper()
	var out struct {
		Sessions []sessionView `json:"sessions"`
	}
	d.getJSON(t, "/api/v1/sessions", &out)
	return out.Sessions
}

func (d *daemon) session(t testing.TB, id string) sessionView {
	t.Helper()
	var out struct {
		Session sessionView `json:"session"`
	}
	d.getJSON(t, "/api/v1/sessions/"+id, &out)
	return out.Session
}

// waitSession waits until the session has ended and returns it.
func (d *daemon) waitSession(t testing.TB, id string, timeout time.Duration) sessionView {
	t.Helper()
	var s sessionView
	waitFor(t, timeout, "session "+id+" to end", func() bool {
		code, _ := d.get(t, "/api/v1/sessions/"+id)
		if code != 200 {
			return false
		}
		s = d.session(t, id)
		return s.Outcome != "" && s.Outcome != "running"
	})
	return s
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sampleValue returns the value of the one sample line that starts with
// series (name and labels exactly), or "" when there is none.
func sampleValue(scrape, series string) string {
	for _, l := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(l, series+" ") {
			return strings.TrimSpace(strings.TrimPrefix(l, series))
		}
	}
	return ""
}

// logTranscripts logs the tail of every session transcript, for failures.
func (d *daemon) logTranscripts(t testing.TB) {
	files, _ := filepath.Glob(filepath.Join(d.Dirs.Results, "*.jsonl"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			t.Logf("---- transcript %s ----\n%s", filepath.Base(f), tail(string(b), 6000))
		}
	}
}
