package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockName is the file in the state dir that one daemon holds locked while
// it runs.
const LockName = "lock"

// ErrLocked is returned (wrapped) by Lock when another process holds the
// state dir.
var ErrLocked = errors.New("state dir in use")

// DirLock is an exclusive lock on a state dir.
type DirLock struct {
	f *os.File
}

// Lock takes an exclusive flock(2) on <dir>/lock without waiting and writes
// the process id into it. When another process holds it, the error says
// "state dir <dir> is in use by another claude-ops (pid N)" and wraps
// ErrLocked. The lock ends with Unlock or with the process: the kernel
// drops it, so a killed daemon leaves no stale lock. The file descriptor
// is close-on-exec: sessions never inherit the lock.
func Lock(dir string) (*DirLock, error) {
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	if err := flock(f); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := "unknown"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if n, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
					pid = strconv.Itoa(n)
				}
			}
			return nil, fmt.Errorf("state dir %s is in use by another claude-ops (pid %s): %w", dir, pid, ErrLocked)
		}
		return nil, fmt.Errorf("lock state dir: %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DirLock{f: f}, nil
}

func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Unlock releases the lock. The file stays: removing it would let a third
// process lock a new file while a second still waits on the old one.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}
