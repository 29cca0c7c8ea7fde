package runner

import (
	"bufio"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeExec(t *testing.T, path, body string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(body), 0o755))
}

// transcriptLines parses a transcript, failing on any line that is not a
// JSON object.
func transcriptLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	if path == "" {
		t.Fatal("no transcript")
	}
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("transcript line %d is not a JSON object: %v: %.200s", len(out)+1, err, sc.Bytes())
		}
		out = append(out, m)
	}
	must(t, sc.Err())
	return out
}

// eventTypes names each line "type/subtype", or "claudeops/<event>".
func eventTypes(lines []map[string]any) []string {
	var out []string
	for _, l := range lines {
		typ, _ := l["type"].(string)
		sub, _ := l["subtype"].(string)
		if ev, ok := l["event"].(string); ok {
			sub = ev
		}
		if sub != "" {
			typ += "/" + sub
		}
		out = append(out, typ)
	}
	return out
}

func jsonEqual(a, b any) bool { return reflect.DeepEqual(a, b) }

// waitGroupGone waits for a killed group to be reaped: the machine's init may
// take a second or two to reap orphans.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !groupGone(pgid) {
		if !groupDead(pgid) {
			t.Fatalf("process group %d has live processes", pgid)
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d not reaped after 5s", pgid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processDead reports whether pid is gone or a zombie.
func processDead(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	state, _, ok := procState(pid)
	return !ok || state == 'Z' || state == 'X'
}
