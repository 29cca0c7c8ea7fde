package runner

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// alwaysHidden are replaced by an empty tmpfs in every sandbox.
var alwaysHidden = []string{"/tmp", "/root", "/home", "/run"}

// namespaceArgs are the isolation flags of the outer layer, shared with Check.
func (s *Sandbox) namespaceArgs() []string {
	uid, gid := s.ids()
	return []string{
		"--die-with-parent", "--new-session", "--unshare-all",
		"--uid", strconv.Itoa(uid), "--gid", strconv.Itoa(gid),
		"--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
	}
}

// bwrapMount is one mount of the outer layer.
type bwrapMount struct {
	op   string // --tmpfs, --ro-bind, --bind
	src  string // for binds
	dest string
	hide bool
}

func (m bwrapMount) args() []string {
	if m.op == "--tmpfs" {
		return []string{m.op, m.dest}
	}
	return []string{m.op, m.src, m.dest}
}

// neverTmpfs are directories whose replacement by an empty tmpfs would leave
// no working system: a secret or socket there must be a file.
var neverTmpfs = map[string]bool{"/": true, "/usr": true, "/bin": true, "/sbin": true, "/lib": true,
	"/lib64": true, "/lib32": true, "/etc": true, "/dev": true, "/proc": true, "/sys": true, "/var": true}

// outer builds the outer layer's command line around cli+cliArgs. env is the
// session's environment, work its working dir (read-only), scratch the
// session's writable dir, hidden the secrets to cover.
func (s *Sandbox) outer(plan *sandboxPlan, cli string, cliArgs, env []string, work, scratch string, hidden []hiddenPath) error {
	bwrap, socat, err := s.programs()
	if err != nil {
		return err
	}
	if cli, err = filepath.EvalSymlinks(cli); err != nil {
		return fmt.Errorf("claude CLI: %w", err)
	}
	if cli, err = filepath.Abs(cli); err != nil {
		return err
	}
	var mounts []bwrapMount
	hideDir := func(d string) { mounts = append(mounts, bwrapMount{op: "--tmpfs", dest: d, hide: true}) }
	for _, d := range alwaysHidden {
		hideDir(d)
	}
	for _, h := range hidden {
		if h.dir {
			hideDir(h.path)
		} else {
			// In the sandbox's mount namespace devices do not open: EACCES.
			mounts = append(mounts, bwrapMount{op: "--ro-bind", src: os.DevNull, dest: h.path, hide: true})
		}
	}
	// Other sessions' scratch dirs, wherever TMPDIR is.
	if dir := filepath.Dir(scratch); !neverTmpfs[dir] {
		hideDir(dir)
	}
	// What the session needs, re-exposed over the hidden parents: the CLI's
	// directory (the native CLI is one file), the working dir read-only, the
	// scratch dir, the sockets.
	bin := filepath.Dir(cli)
	mounts = append(mounts,
		bwrapMount{op: "--ro-bind", src: bin, dest: bin},
		bwrapMount{op: "--ro-bind", src: work, dest: work},
		bwrapMount{op: "--bind", src: scratch, dest: scratch},
	)
	for _, p := range s.Expose {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("exposed path %q is not absolute", p)
		}
		mounts = append(mounts, bwrapMount{op: "--ro-bind", src: p, dest: p})
	}
	for _, sock := range s.sockets() {
		fi, err := os.Stat(sock)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		if fi.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("socket %s is not a unix socket", sock)
		}
		// Its directory may hold other sockets; connect() ignores read-only.
		if dir := filepath.Dir(sock); !neverTmpfs[dir] {
			hideDir(dir)
		}
		mounts = append(mounts, bwrapMount{op: "--ro-bind", src: sock, dest: sock})
	}
	// Shallow mounts first, so a deeper one wins: a secret inside the
	// working dir stays hidden, the scratch dir inside /tmp is exposed. At
	// the same depth, hiding comes last.
	slices.SortStableFunc(mounts, func(a, b bwrapMount) int {
		if da, db := pathDepth(a.dest), pathDepth(b.dest); da != db {
			return da - db
		}
		switch {
		case a.hide == b.hide:
			return 0
		case a.hide:
			return 1
		}
		return -1
	})
	args := s.namespaceArgs()
	seen := map[bwrapMount]bool{}
	for _, m := range mounts {
		if !seen[m] {
			seen[m] = true
			args = append(args, m.args()...)
		}
	}
	args = append(args, "--clearenv")
	logged := slices.Clone(args)
	denied := s.deniedEnv(env)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if k == "PATH" {
			// The CLI's sandbox looks bwrap and socat up in PATH.
			v = prependPath(v, filepath.Dir(bwrap), filepath.Dir(socat))
		}
		args = append(args, "--setenv", k, v)
		if slices.Contains(denied, k) {
			v = "[hidden]"
		}
		logged = append(logged, "--setenv", k, v)
	}
	args = append(args, "--chdir", work)
	logged = append(logged, "--chdir", work)
	var bridges []bridgeSpec
	if s.Bridge != "" {
		bridges = append(bridges, bridgeSpec{s.port(), s.Bridge})
	}
	if plan.egress != nil {
		bridges = append(bridges, bridgeSpec{s.port() + 1, plan.egress.ln.Addr().String()})
	}
	var command []string
	if len(bridges) > 0 {
		command = append(command, "/bin/sh", "-c", bridgeScript(socat, bridges), "sh")
	}
	command = append(append(command, cli), cliArgs...)
	plan.bwrap, plan.opts, plan.command = bwrap, args, command
	plan.logged = append(append(append([]string{bwrap, "--args", "3"}, logged...), "--"), command...)
	return nil
}

func prependPath(path string, dirs ...string) string {
	parts := strings.Split(path, ":")
	for i := len(dirs) - 1; i >= 0; i-- {
		if !slices.Contains(parts, dirs[i]) {
			parts = append([]string{dirs[i]}, parts...)
		}
	}
	return strings.Join(parts, ":")
}

func pathDepth(p string) int { return strings.Count(filepath.Clean(p), "/") }
