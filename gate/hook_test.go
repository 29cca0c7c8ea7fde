package gate

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

// startServer runs a gate server on a fresh socket; it stops with the test.
func startServer(t *testing.T, h *harness) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "gate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	srv := NewServer(h.g, filepath.Join(dir, SocketName))
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const hookJSON = `{"session_id":"cli-1","transcript_path":"/x.jsonl","cwd":"/repos","permission_mode":"default",` +
	`"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":%q,"description":"d"},"tool_use_id":"toolu_1"}`

func hookInputFor(cmd string) string {
	return strings.Replace(hookJSON, "%q", quoteJSON(cmd), 1)
}

func quoteJSON(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func runHook(stdin string, env map[string]string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = RunHook(strings.NewReader(stdin), &out, &errb, envOf(env))
	return code, out.String(), errb.String()
}

func TestHookAgainstServer(t *testing.T) {
	h := newHarness(t)
	srv := startServer(t, h)
	info := SessionInfo{ID: "s2", Tier: session.Tier2, IncidentID: "i", Service: "web"}
	tok, unregister := h.g.Register(info)
	defer unregister()
	env := Env(srv.Path(), info.ID, tok)

	if fi, err := os.Stat(srv.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, %v", fi.Mode().Perm(), err)
	}

	t.Run("allow", func(t *testing.T) {
		code, out, errs := runHook(hookInputFor("docker ps | grep web"), env)
		if code != 0 || out != "" || errs != "" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
		}
	})
	t.Run("restart refused", func(t *testing.T) {
		code, _, errs := runHook(hookInputFor("docker restart web"), env)
		if code != 2 || !strings.Contains(errs, "mcp__ops__restart_service") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
	t.Run("deny", func(t *testing.T) {
		code, _, errs := runHook(hookInputFor("docker compose up -d --force-recreate web"), env)
		if code != 2 || !strings.Contains(errs, "typed tools") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
	t.Run("never", func(t *testing.T) {
		code, _, errs := runHook(hookInputFor("sh -c 'docker volume rm db_data'"), env)
		if code != 2 || !strings.Contains(errs, "never") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		bad := Env(srv.Path(), info.ID, strings.Repeat("a", 64))
		code, _, errs := runHook(hookInputFor("docker ps"), bad)
		if code != 2 || !strings.Contains(errs, "token") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
	t.Run("unknown session", func(t *testing.T) {
		if code, _, _ := runHook(hookInputFor("docker ps"), Env(srv.Path(), "nope", tok)); code != 2 {
			t.Errorf("exit %d", code)
		}
	})
	t.Run("missing env", func(t *testing.T) {
		for _, k := range []string{EnvSocket, EnvSessionID, EnvToken} {
			e := Env(srv.Path(), info.ID, tok)
			delete(e, k)
			if code, _, errs := runHook(hookInputFor("docker ps"), e); code != 2 || !strings.Contains(errs, "not set") {
				t.Errorf("without %s: exit %d, stderr %q", k, code, errs)
			}
		}
	})
	t.Run("malformed stdin", func(t *testing.T) {
		for _, in := range []string{"", "not json", `{"tool_name":""}`, `[1,2]`, `{"hook_event_name":"PostToolUse","tool_name":"Bash"}`} {
			if code, _, _ := runHook(in, env); code != 2 {
				t.Errorf("stdin %q: exit %d", in, code)
			}
		}
	})
	t.Run("edit tool", func(t *testing.T) {
		in := `{"hook_event_name":"PreToolUse","cwd":"/repos","tool_name":"Edit","tool_input":{"file_path":"/repos/infra/x.yml","old_string":"a","new_string":"b"}}`
		if code, _, errs := runHook(in, env); code != 2 || !strings.Contains(errs, "repos") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
}

func TestHookDaemonDown(t *testing.T) {
	dir, err := os.MkdirTemp("", "gate")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	env := Env(filepath.Join(dir, SocketName), "s", "t")
	if code, _, errs := runHook(hookInputFor("docker ps"), env); code != 2 || !strings.Contains(errs, "unreachable") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// A server that answers nonsense makes the hook deny.
func TestHookMalformedAnswer(t *testing.T) {
	dir, err := os.MkdirTemp("", "gate")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "bad.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	answers := []struct {
		code int
		body string
	}{{200, "not json"}, {200, `{"reason":"no decision"}`}, {500, `{"allow":true}`}, {200, `{"allow":"yes"}`}}
	i := 0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[i%len(answers)]
		w.WriteHeader(a.code)
		_, _ = w.Write([]byte(a.body))
	}), ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	for ; i < len(answers); i++ {
		if code, _, errs := runHook(hookInputFor("docker ps"), Env(sock, "s", "t")); code != 2 {
			t.Errorf("answer %q: exit %d, stderr %q", answers[i].body, code, errs)
		}
	}
}

func TestServerSocketFile(t *testing.T) {
	h := newHarness(t)
	dir, err := os.MkdirTemp("", "gate")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, SocketName)

	// A stale socket (nobody listening) is replaced.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s := NewServer(h.g, path)
	if err := s.Listen(); err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	// A live one is not stolen.
	if err := NewServer(h.g, path).Listen(); err == nil {
		t.Error("second server took a live socket")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
	// A regular file is never removed.
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := NewServer(h.g, path).Listen(); err == nil {
		t.Error("listened over a regular file")
	}
	// Close before Serve: Serve returns at once.
	s2 := NewServer(h.g, filepath.Join(dir, "other.sock"))
	s2.Close()
	if err := s2.Serve(context.Background()); err != nil {
		t.Errorf("Serve after Close = %v", err)
	}
}
