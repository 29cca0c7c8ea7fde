package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Check runs a trivial sandbox with the namespaces of a session, in it a
// nested one like the CLI's sandbox around Bash, and in that socat; it also
// checks the configuration. It returns why sessions cannot be sandboxed, or
// nil. Sessions run it each time; the daemon can at start, for readiness.
func (s *Sandbox) Check(ctx context.Context) error {
	if s == nil {
		return errors.New("sandbox: not configured")
	}
	bwrap, socat, err := s.programs()
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	for _, sock := range s.sockets() {
		if !filepath.IsAbs(sock) {
			return fmt.Errorf("sandbox: socket %q is not an absolute path", sock)
		}
	}
	if s.Port < 0 || s.Port >= 65535 {
		return fmt.Errorf("sandbox: bad port %d", s.Port)
	}
	if _, err := s.patterns(); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	args := s.namespaceArgs()
	for _, d := range alwaysHidden {
		args = append(args, "--tmpfs", d)
	}
	args = append(args, "--",
		bwrap, "--die-with-parent", "--new-session", "--unshare-net", "--unshare-pid",
		"--ro-bind", "/", "/", "--dev", "/dev", "--", socat, "-V")
	cmd := exec.CommandContext(ctx, bwrap, args...)
	cmd.Env = []string{"PATH=" + defaultPath}
	// A grandchild holding the output pipe must not keep Check (and the
	// daemon's shutdown) waiting once bwrap is gone.
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > maxReason {
			msg = msg[:maxReason]
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("sandbox: %s cannot create the session's namespaces (user namespaces refused?): %w: %s", bwrap, err, msg)
	}
	if !strings.Contains(out.String(), "socat version") {
		return fmt.Errorf("sandbox: %s -V inside the sandbox printed %q", socat, truncate(out.String()))
	}
	return nil
}
