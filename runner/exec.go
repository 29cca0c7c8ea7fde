package runner

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// process is a started CLI, leader of its own process group, whose stdout
// and stderr are pipes we own: closing our read ends unblocks the readers
// even when a grandchild that escaped the group still holds the write ends.
type process struct {
	cmd    *exec.Cmd
	pgid   int
	stdout *os.File
	stderr *os.File
	done   chan error // receives cmd.Wait's result once
}

// startProcess starts path in dir with exactly env and stdin from /dev/null;
// extra become its fds 3, 4… (closed here once it has started).
func startProcess(path string, args, env []string, dir string, extra ...*os.File) (*process, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = outW
	cmd.Stderr = errW
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	// The child has its copies; ours would keep the pipes open forever.
	outW.Close()
	errW.Close()
	for _, f := range extra {
		f.Close()
	}
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &process{cmd: cmd, pgid: cmd.Process.Pid, stdout: outR, stderr: errR, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

// signal sends sig to the whole process group.
func (p *process) signal(sig syscall.Signal) error {
	err := syscall.Kill(-p.pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// groupGone reports whether no process of the group is left.
func groupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// groupDead reports whether every process left in the group is a zombie:
// dead, waiting for its new parent (init) to reap it, which some inits do
// only every second or two. Without /proc it falls back to groupGone.
func groupDead(pgid int) bool {
	if groupGone(pgid) {
		return true
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pg, ok := procState(pid)
		if ok && pg == pgid && state != 'Z' && state != 'X' {
			return false
		}
	}
	return true
}

// procState reads a process's state and process group from /proc/<pid>/stat.
func procState(pid int) (state byte, pgid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces and parens.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pg, err := strconv.Atoi(string(f[2]))
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], pg, true
}

// reapGroup kills what is left of the group and waits up to limit for all of
// it to be dead. It reports whether it is.
func (p *process) reapGroup(limit time.Duration) bool {
	_ = p.signal(syscall.SIGKILL)
	deadline := time.Now().Add(limit)
	for !groupDead(p.pgid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
