package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lockHelperEnv makes the test binary a process that holds a state dir's
// lock until its stdin closes.
const lockHelperEnv = "CLAUDEOPS_STORE_LOCK_HELPER"

// TestLockHelperProcess is the helper, run in a process of its own by
// TestLockOtherProcess; otherwise it does nothing.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		return
	}
	l, err := Lock(dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the test closes stdin
	_ = l.Unlock()
	os.Exit(0)
}

// TestLockOtherProcess: a second process cannot take a state dir another
// holds, is told which pid holds it, and gets it once that process is gone.
func TestLockOtherProcess(t *testing.T) {
	dir := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	holder.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = holder.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper: %q, %v", line, err)
	}

	_, err = Lock(dir)
	want := fmt.Sprintf("state dir %s is in use by another claude-ops (pid %d)", dir, holder.Process.Pid)
	if !errors.Is(err, ErrLocked) || err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second Lock: %v, want %q", err, want)
	}

	stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	l, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock once the holder is gone: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, LockName))
	if strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid %d", b, os.Getpid())
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestLockSameProcess: the lock is per open, so a second Lock in the same
// process is refused too, and Unlock releases it.
func TestLockSameProcess(t *testing.T) {
	dir := t.TempDir()
	l, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	_ = l2.Unlock()
	if _, err := Lock(filepath.Join(dir, "missing")); err == nil || errors.Is(err, ErrLocked) {
		t.Errorf("Lock of a missing dir: %v", err)
	}
}
