package runner

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

// Defaults of Sandbox.
const (
	// DefaultSandboxUID is the uid (and gid) sessions run as inside the
	// sandbox: as uid 0, bwrap would keep every capability and the session
	// could unmount what hides the secrets.
	DefaultSandboxUID = 1001
	// DefaultBridgePort is the port on the sandbox's own loopback where the
	// bridge to Sandbox.Bridge listens.
	DefaultBridgePort = 41880
	// DefaultScanLimit bounds the walk for secret names at session start.
	DefaultScanLimit = 200_000

	subtypeSandboxUnavailable = "sandbox_unavailable"
	checkTimeout              = 10 * time.Second
	bridgeWait                = 3 * time.Second
)

// Sandbox confines every session in two layers.
//
// The outer layer is bubblewrap around the whole CLI, so it covers its
// in-process tools (Read, Grep, Glob), hooks and MCP servers too: own user,
// pid, net, ipc and uts namespaces, a non-root uid, the filesystem read-only,
// /tmp, /root, /home and /run replaced by empty tmpfs, each secret directory
// and the directory of each socket too, each secret file covered by
// /dev/null, only the session's scratch dir writable and only the session's
// environment. The network is the sandbox's own loopback, on which a socat
// inside the sandbox forwards Port to the daemon's Bridge socket (and Port+1
// to the runner's egress proxy for AllowedDomains).
//
// The inner layer is the CLI's own sandbox around each Bash command (bwrap,
// seccomp against unix sockets, a network allowlist, credentials hidden from
// the environment), plus permissions.deny Read rules for the secret paths,
// which the Read, Grep and Glob tools obey.
//
// Anything missing fails closed: the session does not run.
type Sandbox struct {
	// Bwrap and Socat are the programs, paths or names looked up in PATH
	// ("bwrap", "socat" when empty). The CLI's own sandbox needs both too:
	// their directories are put first in the session's PATH.
	Bwrap, Socat string
	// UID and GID inside the sandbox; 0 means DefaultSandboxUID.
	UID, GID int

	// SecretPaths are hidden from every tool. Each is one of:
	//   - an absolute path of a file or directory ("/etc/shadow");
	//   - an absolute glob, * ? [..] within one name ("/etc/ssh/ssh_host_*_key"),
	//     expanded at session start; under /proc, /dev and /sys, which the
	//     sandbox has its own of, a pattern is left to the namespaces
	//     ("/proc/*/environ": see denyRules);
	//   - a name pattern without "/" (".env*", "*.pem", ".ssh"), matching a
	//     file or directory of that base name anywhere. "**/x" and "**/x/**"
	//     are read as the name pattern "x".
	// A directory hides everything under it. Nil means DefaultSecretPaths;
	// the daemon appends its state dir and token files. Config.ResultsDir is
	// always hidden.
	SecretPaths []string
	// ScanDirs are walked at session start for files matching the name
	// patterns, besides the session's working dir (bounded by ScanLimit,
	// DefaultScanLimit when 0). Elsewhere name patterns are enforced by the
	// CLI's deny rules only.
	ScanDirs  []string
	ScanLimit int

	// AllowedDomains is the network allowlist of Bash commands: HTTP(S)
	// through a proxy of the runner's (one per session, outside the sandbox,
	// reached on Port+1, given to the CLI as sandbox.network.httpProxyPort)
	// that only lets these hosts through; "*.example.com" allows the names
	// under example.com. Empty: no network at all but the bridge, and the
	// CLI's own proxy answers each attempt with a sandbox_violation.
	AllowedDomains []string

	// Bridge is a unix socket of the daemon (Messages API proxy, MCP server)
	// that the session reaches as http://127.0.0.1:Port (BridgeURL). Empty:
	// no bridge. Port 0 means DefaultBridgePort.
	Bridge string
	Port   int
	// Sockets are more unix sockets (the action gate's hook socket) bound
	// into the sandbox at the same path, for the CLI's hooks; Bash cannot
	// connect to them (the CLI's seccomp filter).
	Sockets []string
	// Expose are more paths bound read-only at the same place, over the
	// hidden directories: the daemon's own binary when it lives under /root,
	// /home or /tmp, for the gate's hook.
	Expose []string
	// DenyEnv are more variables the CLI hides from Bash; ANTHROPIC_API_KEY,
	// ANTHROPIC_AUTH_TOKEN and every variable of the session whose name looks
	// like a credential (TOKEN, KEY, SECRET, PASSWORD, CRED, AUTH) always are.
	DenyEnv []string

	// only, for measurements in tests, runs one layer: "outer" or "inner".
	only string
}

// BridgeURL is the base URL at which a session reaches the Bridge socket:
// its ANTHROPIC_BASE_URL, and the MCP server's URL (BridgeURL()+"/mcp").
func (s *Sandbox) BridgeURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(s.port())
}

func (s *Sandbox) port() int {
	if s.Port > 0 {
		return s.Port
	}
	return DefaultBridgePort
}

func (s *Sandbox) ids() (uid, gid int) {
	uid, gid = s.UID, s.GID
	if uid <= 0 {
		uid = DefaultSandboxUID
	}
	if gid <= 0 {
		gid = uid
	}
	return uid, gid
}

func programOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// programs resolves bwrap and socat.
func (s *Sandbox) programs() (bwrap, socat string, err error) {
	bwrap, err = exec.LookPath(programOr(s.Bwrap, "bwrap"))
	if err != nil {
		return "", "", fmt.Errorf("bubblewrap not found (%s): %w; install it: apt-get install bubblewrap", programOr(s.Bwrap, "bwrap"), err)
	}
	socat, err = exec.LookPath(programOr(s.Socat, "socat"))
	if err != nil {
		return "", "", fmt.Errorf("socat not found (%s): %w; install it: apt-get install socat", programOr(s.Socat, "socat"), err)
	}
	if bwrap, err = filepath.Abs(bwrap); err == nil {
		socat, err = filepath.Abs(socat)
	}
	return bwrap, socat, err
}

func (s *Sandbox) sockets() []string {
	var out []string
	if s.Bridge != "" {
		out = append(out, s.Bridge)
	}
	return append(out, s.Sockets...)
}

// sandboxPlan is how a session starts in the sandbox: bwrap --args 3 --
// command..., the options written to fd 3 (so the environment's values are
// not in the process list).
type sandboxPlan struct {
	bwrap   string
	opts    []string
	command []string
	logged  []string // the whole command line, credentials' values hidden
	egress  *egressProxy

	// Without the outer layer (tests): the CLI, its env and working dir.
	cli       string
	args, env []string
	work      string
}

// close stops what the session's sandbox runs outside it.
func (p *sandboxPlan) close() {
	if p != nil && p.egress != nil {
		p.egress.Close()
	}
}

// sandbox prepares a sandboxed session: it checks the sandbox, gives the
// session a HOME of its own and the CLI the sandbox settings, starts the
// egress proxy, and builds the bwrap command line. It returns the CLI's
// arguments and environment. The caller closes the plan.
func (r *Runner) sandbox(ctx context.Context, req session.Request, cli string, env []string, work, scratch string, log *slog.Logger) (plan *sandboxPlan, args, _ []string, err error) {
	s := r.cfg.Sandbox
	if err := s.Check(ctx); err != nil {
		return nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			plan.close()
			plan, err = nil, fmt.Errorf("sandbox: %w", err)
		}
	}()
	// The Bash tool runs a login shell, which sources HOME's profile.
	home := filepath.Join(scratch, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, nil, nil, err
	}
	env = setSessionEnv(env, "HOME", home)
	if s.Bridge != "" && !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "ANTHROPIC_BASE_URL=") }) {
		env = setSessionEnv(env, "ANTHROPIC_BASE_URL", s.BridgeURL())
	}
	if work, err = filepath.Abs(work); err != nil {
		return nil, nil, nil, err
	}
	pats, err := s.patterns()
	if err != nil {
		return nil, nil, nil, err
	}
	if r.cfg.ResultsDir != "" {
		// Other sessions' transcripts.
		if results, err := filepath.Abs(r.cfg.ResultsDir); err == nil {
			pats = append(pats, secretPattern{abs: true, pat: results})
		}
	}
	hidden, err := s.hiddenPaths(pats, work)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(hidden) > maxHiddenRules {
		log.Warn("many secret files: the CLI's deny rules name only some, the outer sandbox hides all", "found", len(hidden))
	}
	plan = &sandboxPlan{}
	egressPort := 0
	if len(s.AllowedDomains) > 0 && s.only != "inner" {
		sock := filepath.Join(scratch, "egress.sock")
		if plan.egress, err = startEgress(sock, s.AllowedDomains, log); err != nil {
			return plan, nil, nil, fmt.Errorf("egress proxy: %w", err)
		}
		egressPort = s.port() + 1
	}
	if s.only != "outer" {
		if req.Settings, err = s.innerSettings(req.Settings, pats, hidden, env, egressPort); err != nil {
			return plan, nil, nil, err
		}
	}
	if args, err = cliArgs(req); err != nil {
		return plan, nil, nil, err
	}
	if s.only == "inner" {
		*plan = sandboxPlan{cli: cli, args: args, env: env, work: work}
		return plan, args, env, nil
	}
	if err := s.outer(plan, cli, args, env, work, scratch, hidden); err != nil {
		return plan, nil, nil, err
	}
	return plan, args, env, nil
}

// setSessionEnv sets k in env (sorted KEY=value pairs), keeping it sorted.
func setSessionEnv(env []string, k, v string) []string {
	env = slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
	env = append(env, k+"="+v)
	slices.Sort(env)
	return env
}

// start starts bwrap; its options go through a pipe (fd 3).
func (p *sandboxPlan) start(scratch string) (*process, error) {
	if p.bwrap == "" {
		return startProcess(p.cli, p.args, p.env, p.work)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	go func() {
		_, _ = w.Write([]byte(strings.Join(p.opts, "\x00") + "\x00"))
		w.Close()
	}()
	proc, err := startProcess(p.bwrap, append([]string{"--args", "3", "--"}, p.command...),
		[]string{"PATH=" + defaultPath}, scratch, r)
	r.Close()
	if err != nil {
		w.Close() // ends the writer
	}
	return proc, err
}
