package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv, when set to a database path, turns the test binary into the
// child of TestCrashDurability (see TestMain).
const crashChildEnv = "CLAUDEOPS_STORE_CRASH_CHILD"

// crashChild loops TryAction and prints "ok <session id>" for every allowed
// action after TryAction returned, that is after the commit. It runs until
// killed (or for at most 30 s).
func crashChild() {
	s, err := Open(os.Getenv(crashChildEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Stdout.WriteString("ready\n")
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		id := fmt.Sprintf("p%d-%d", os.Getpid(), i)
		// Every fourth action hits a limit of 0 and is refused.
		limit := 1 << 30
		if i%4 == 3 {
			limit = 0
		}
		rec := ActionRecord{Time: time.Now(), SessionID: id, Service: "web", Action: ActionRestart}
		allowed, _, err := s.TryAction(ctx, rec, time.Hour, limit)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if allowed {
			// One write(2) per line; a pipe keeps it whole.
			os.Stdout.WriteString("ok " + id + "\n")
		}
	}
	os.Exit(0)
}

// TestCrashDurability SIGKILLs a child in the middle of its TryAction loop and
// checks that every action it reported as allowed is in the ledger.
func TestCrashDurability(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	total := 0
	for round := range rounds {
		acked := runAndKill(t, path, time.Duration(rand.IntN(120))*time.Millisecond)
		total += len(acked)

		s, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		var check string
		if err := s.db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			t.Fatalf("round %d: integrity_check = %q, %v", round, check, err)
		}
		rows, err := s.ActionsSince(context.Background(), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		inLedger := make(map[string]string, len(rows))
		for _, r := range rows {
			inLedger[r.SessionID] = r.Result
		}
		for _, id := range acked {
			if res, ok := inLedger[id]; !ok || res != ResultAllowed {
				t.Errorf("round %d: acknowledged action %s lost (found=%v result=%q)", round, id, ok, res)
			}
		}
	}
	t.Logf("%d rounds, %d acknowledged actions, all durable", rounds, total)
	if total == 0 {
		t.Error("the children never acknowledged an action")
	}
}

// runAndKill starts a child on path, lets it run for d after it is ready,
// SIGKILLs it and returns the ids it acknowledged.
func runAndKill(t *testing.T, path string, d time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		r := bufio.NewReader(out)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return // a line cut short by the kill is not an acknowledgement
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()
	var acked []string
	select {
	case l, ok := <-lines:
		if !ok || l != "ready" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child did not start: %q", l)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("child not ready after 20 s")
	}
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for l := range lines { // until EOF: the child is dead
		if id, ok := strings.CutPrefix(l, "ok "); ok {
			acked = append(acked, id)
		}
	}
	_ = cmd.Wait()
	return acked
}
