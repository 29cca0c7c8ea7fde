package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// DefaultSecretPaths are the paths hidden when Sandbox.SecretPaths is nil.
func DefaultSecretPaths() []string {
	return []string{
		// Credentials by name, anywhere.
		".env*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "id_*",
		".ssh", ".kube", "kubeconfig*", "*.kubeconfig", ".docker", ".aws", ".gnupg",
		".netrc", ".pgpass", ".git-credentials", "secrets",
		// System secrets.
		"/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/ssh/ssh_host_*_key",
		"/etc/ssl/private", "/etc/kubernetes", "/etc/rancher", "/var/lib/docker", "/var/lib/containerd",
		"/var/lib/kubelet", "/proc/*/environ",
		// Sockets (docker.sock, containerd, systemd, dbus) and home dirs.
		"/run", "/var/run", "/root", "/home",
	}
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
		return fmt.Errorf("sandbox: %s cannot create the session's namespaces (user namespaces refused?): %v: %s", bwrap, err, msg)
	}
	if !strings.Contains(out.String(), "socat version") {
		return fmt.Errorf("sandbox: %s -V inside the sandbox printed %q", socat, truncate(out.String()))
	}
	return nil
}

func (s *Sandbox) sockets() []string {
	var out []string
	if s.Bridge != "" {
		out = append(out, s.Bridge)
	}
	return append(out, s.Sockets...)
}

// secretPattern is one parsed entry of SecretPaths.
type secretPattern struct {
	abs  bool   // an absolute path or glob
	glob bool   // has glob characters
	pat  string // the absolute path/glob, or the name pattern
}

func (s *Sandbox) patterns() ([]secretPattern, error) {
	paths := s.SecretPaths
	if paths == nil {
		paths = DefaultSecretPaths()
	}
	var out []secretPattern
	for _, p := range paths {
		orig := p
		if p == "" {
			continue
		}
		if !strings.HasPrefix(p, "/") {
			p = strings.TrimSuffix(strings.TrimPrefix(p, "**/"), "/**")
			if strings.Contains(p, "/") || p == "" || p == "**" {
				return nil, fmt.Errorf("secret path %q: want an absolute path or a name pattern without /", orig)
			}
		} else {
			p = filepath.Clean(p)
			if strings.Contains(p, "**") {
				return nil, fmt.Errorf("secret path %q: ** is only allowed as a leading **/ of a name pattern", orig)
			}
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, fmt.Errorf("secret path %q: %w", orig, err)
		}
		out = append(out, secretPattern{abs: strings.HasPrefix(p, "/"), glob: strings.ContainsAny(p, "*?["), pat: p})
	}
	return out, nil
}

// denyRules are the CLI permission rules for the secret paths: Read rules,
// which the Read, Grep and Glob tools obey, and the CLI's Bash sandbox too
// for absolute paths (it ignores "//**/name" globs: measured with 2.1.330).
func denyRules(pats []secretPattern) []string {
	var out []string
	for _, p := range pats {
		switch {
		case underVirtual(p.pat):
			// /proc/*/environ: the sandbox's own pid namespace shows only the
			// session's processes, and Bash, in the CLI's nested user
			// namespace, cannot read theirs. A rule here would make the CLI
			// mount over every /proc/<pid>/environ before each command, which
			// fails whenever a process exits meanwhile.
		case p.abs:
			// "/" + an absolute path is the CLI's root anchor "//".
			out = append(out, "Read(/"+p.pat+")", "Read(/"+p.pat+"/**)")
		default:
			out = append(out, "Read(//**/"+p.pat+")", "Read(//**/"+p.pat+"/**)")
		}
	}
	return out
}

// credentialVar matches environment variable names that hold credentials.
var credentialVar = regexp.MustCompile(`(?i)(TOKEN|KEY|SECRET|PASSW|CRED|AUTH)`)

// deniedEnv lists the variables of env the CLI hides from Bash.
func (s *Sandbox) deniedEnv(env []string) []string {
	set := map[string]bool{"ANTHROPIC_API_KEY": true, "ANTHROPIC_AUTH_TOKEN": true}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if credentialVar.MatchString(k) || strings.HasPrefix(k, browserCredPrefix) {
			set[k] = true
		}
	}
	for _, k := range s.DenyEnv {
		set[k] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// innerSettings merges the CLI's sandbox settings and the deny rules into a
// request's --settings (which may carry the action gate's hooks). hidden are
// the secret files and directories found at session start; egressPort, when
// not 0, is the sandbox's way out for the allowed domains.
func (s *Sandbox) innerSettings(base json.RawMessage, pats []secretPattern, hidden []hiddenPath, env []string, egressPort int) (json.RawMessage, error) {
	settings := map[string]any{}
	if len(bytes.TrimSpace(base)) > 0 {
		if err := json.Unmarshal(base, &settings); err != nil {
			return nil, fmt.Errorf("request settings: %w", err)
		}
		if settings == nil {
			settings = map[string]any{}
		}
	}
	var creds []any
	for _, k := range s.deniedEnv(env) {
		creds = append(creds, map[string]any{"name": k, "mode": "deny"})
	}
	network := map[string]any{"allowedDomains": append([]string{}, s.AllowedDomains...), "strictAllowlist": true}
	if egressPort != 0 {
		// The CLI's own proxy would need the network the sandbox lacks.
		network["httpProxyPort"] = egressPort
	}
	settings["sandbox"] = map[string]any{
		"enabled":                  true,
		"failIfUnavailable":        true,
		"autoAllowBashIfSandboxed": true,
		"allowUnsandboxedCommands": false,
		// Inside the outer bwrap the CLI's bwrap cannot mount a new /proc.
		"enableWeakerNestedSandbox": s.only != "inner",
		"credentials":               map[string]any{"envVars": creds},
		"network":                   network,
	}
	perms, _ := settings["permissions"].(map[string]any)
	if perms == nil {
		perms = map[string]any{}
	}
	deny, _ := perms["deny"].([]any)
	for _, r := range denyRules(pats) {
		deny = append(deny, r)
	}
	// The CLI's Bash sandbox ignores name globs ("//**/.env*"); it obeys
	// absolute paths, so the files the scan found are named one by one.
	for i, h := range hidden {
		if i == maxHiddenRules {
			break
		}
		deny = append(deny, "Read(/"+h.path+")")
		if h.dir {
			deny = append(deny, "Read(/"+h.path+"/**)")
		}
	}
	seen := map[string]bool{}
	deny = slices.DeleteFunc(deny, func(r any) bool {
		s, ok := r.(string)
		dup := ok && seen[s]
		seen[s] = true
		return dup
	})
	perms["deny"] = deny
	settings["permissions"] = perms
	return json.Marshal(settings)
}

// maxHiddenRules bounds the deny rules for found files: the CLI turns each
// into bwrap arguments, of which it accepts a limited number. The outer
// layer hides every found file whatever their number.
const maxHiddenRules = 200

// hiddenPath is a secret file or directory that exists at session start.
type hiddenPath struct {
	path string // symlinks resolved
	dir  bool
}

// hiddenPaths finds what the secret paths name now: absolute paths, absolute
// globs expanded, and name patterns matched in a bounded walk of the working
// dir and ScanDirs.
func (s *Sandbox) hiddenPaths(pats []secretPattern, work string) ([]hiddenPath, error) {
	var out []hiddenPath
	seen := map[string]bool{}
	add := func(path string) error {
		real, err := filepath.EvalSymlinks(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("secret path %s: %w", path, err)
		}
		fi, err := os.Stat(real)
		if err != nil {
			return fmt.Errorf("secret path %s: %w", path, err)
		}
		if fi.IsDir() && neverTmpfs[real] {
			return fmt.Errorf("secret path %s: %s cannot be hidden whole", path, real)
		}
		if !seen[real] {
			seen[real] = true
			out = append(out, hiddenPath{path: real, dir: fi.IsDir()})
		}
		return nil
	}
	var names []string
	for _, p := range pats {
		switch {
		case !p.abs:
			names = append(names, p.pat)
		case underVirtual(p.pat):
			// The sandbox has its own /proc and /dev: see denyRules.
		case p.glob:
			matches, _ := filepath.Glob(p.pat)
			for _, m := range matches {
				if err := add(m); err != nil {
					return nil, err
				}
			}
		default:
			if err := add(p.pat); err != nil {
				return nil, err
			}
		}
	}
	limit := s.ScanLimit
	if limit <= 0 {
		limit = DefaultScanLimit
	}
	found, err := scanNames(append([]string{work}, s.ScanDirs...), names, limit)
	if err != nil {
		return nil, err
	}
	for _, f := range found {
		if err := add(f); err != nil {
			return nil, err
		}
	}
	return out, nil
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

// bridgeSpec is a port of the sandbox's loopback forwarded to a unix socket.
type bridgeSpec struct {
	port int
	sock string
}

// bridgeScript starts a socat per bridge in the sandbox's network namespace,
// waits for them to listen, and execs the CLI ("$@").
func bridgeScript(socat string, bridges []bridgeSpec) string {
	var b strings.Builder
	for _, br := range bridges {
		fmt.Fprintf(&b, "%s TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:%s &\n", sandboxQuote(socat), br.port, sandboxQuote(br.sock))
	}
	b.WriteString("i=0\n")
	for _, br := range bridges {
		// /proc/net/tcp lists a listener as 0100007F:<port in hex>, state 0A.
		fmt.Fprintf(&b, `until grep -q ' 0100007F:%04X 00000000:0000 0A' /proc/net/tcp; do
  i=$((i+1)); if [ $i -gt %d ]; then echo 'claude-ops sandbox: the bridge to %s did not start' >&2; exit 125; fi
  sleep 0.01
done
`, br.port, int(bridgeWait/(10*time.Millisecond)), strings.ReplaceAll(br.sock, "'", ""))
	}
	b.WriteString(`exec "$@"`)
	return b.String()
}

func sandboxQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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

func underVirtual(p string) bool {
	for _, v := range []string{"/proc", "/dev", "/sys"} {
		if p == v || strings.HasPrefix(p, v+"/") {
			return true
		}
	}
	return false
}

func pathDepth(p string) int { return strings.Count(filepath.Clean(p), "/") }

// errScanLimit ends a walk that met too many entries.
var errScanLimit = errors.New("too many entries")

// scanNames walks roots for files and directories whose base name matches
// one of names; a match is not entered. Symlinks are not followed.
func scanNames(roots, names []string, limit int) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	var found []string
	n := 0
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if path == root && errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if n++; n > limit {
				return errScanLimit
			}
			if path == root {
				return nil
			}
			for _, pat := range names {
				if ok, _ := filepath.Match(pat, d.Name()); ok {
					found = append(found, path)
					if d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
			}
			return nil
		})
		if errors.Is(err, errScanLimit) {
			return nil, fmt.Errorf("secret scan of %s: more than %d entries (raise Sandbox.ScanLimit)", root, limit)
		}
		if err != nil {
			return nil, fmt.Errorf("secret scan of %s: %w", root, err)
		}
	}
	return found, nil
}
