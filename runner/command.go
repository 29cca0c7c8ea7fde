package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// maxCommandOutput bounds what Command keeps of a declared command's output
// (the end is kept: that is where errors are).
const maxCommandOutput = 64 << 10

// CommandResult is what a declared command did.
type CommandResult struct {
	ExitCode int
	// Output is stdout and stderr interleaved, at most 64 KiB (the end).
	Output   string
	Duration time.Duration
}

// ErrTimeout is wrapped by Commands.Run's error when the command ran out of
// time (its own timeout or its context's deadline).
var ErrTimeout = errors.New("timed out")

// Commands runs the argv an operator declared (playbooks, checks, redeploys,
// systemctl): never through a shell, with a timeout, in its own process
// group so that a timeout kills everything it started.
type Commands struct {
	// Env is the commands' whole environment (nil: PATH only).
	Env []string
}

// Run runs argv to its end or the timeout. A non-zero exit is a result, not
// an error; the error is for a command that could not start or timed out.
func (c Commands) Run(ctx context.Context, argv []string, timeout time.Duration) (CommandResult, error) {
	if len(argv) == 0 || argv[0] == "" {
		return CommandResult{}, errors.New("empty command")
	}
	if timeout <= 0 {
		return CommandResult{}, errors.New("command without a timeout")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = c.Env
	if cmd.Env == nil {
		cmd.Env = []string{"PATH=" + defaultPath}
	}
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	res := CommandResult{Output: out.String(), Duration: time.Since(start), ExitCode: cmd.ProcessState.ExitCode()}
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return res, fmt.Errorf("%s: %w after %s", argv[0], ErrTimeout, timeout)
	case err != nil:
		return res, fmt.Errorf("%s: %w", argv[0], err)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return res, fmt.Errorf("%s: %w", argv[0], err)
	}
	return res, nil
}

// tailBuffer keeps the last maxCommandOutput bytes written to it.
type tailBuffer struct{ b bytes.Buffer }

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	t.b.Write(p)
	if over := t.b.Len() - maxCommandOutput; over > 0 {
		t.b.Next(over)
	}
	return n, nil
}

func (t *tailBuffer) String() string { return t.b.String() }
