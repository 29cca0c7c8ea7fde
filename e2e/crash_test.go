package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashStub is a stand-in for the claude CLI: it finds the PreToolUse hook
// in its --settings and calls it, as the CLI would before each tool call,
// with restarts of random services among crashServices: svc-<base+n>, base
// read from basePath when the stub starts. The test slides base each cycle,
// so services keep coming that have restarts left while each one lives
// through many crashes. It logs
// "allowed svc-N" only after the hook said yes (exit 0), "refused svc-N"
// otherwise. It stops when the daemon that started it is gone (it runs in a
// process group of its own, so a SIGKILL of the daemon leaves it running).
// Tier 1 sessions get an empty result at once. (GORACE: the e2e binary is
// built with -race, whose runtime sleeps a second at every clean exit, so
// each allowed hook call would take a second.)
func crashStub(logPath, pidDir, reposDir, basePath, envDir string) string {
	return fmt.Sprintf(`#!/bin/sh
parent=$PPID
alive() { [ "$(cut -d' ' -f4 /proc/$$/stat)" = "$parent" ]; }
settings=
model=
while [ $# -gt 0 ]; do
	case "$1" in
	--settings) settings=$2; shift ;;
	--model) model=$2; shift ;;
	esac
	shift
done
case "$model" in *haiku*)
	echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"total_cost_usd":0,"structured_output":{"summary":"stub","services":[]}}'
	exit 0 ;;
esac
hook=$(printf '%%s' "$settings" | jq -r '.hooks.PreToolUse[0].hooks[0].command')
[ -n "$hook" ] && [ "$hook" != null ] || { echo "no hook in --settings" >&2; exit 3; }
touch %[2]q/$$
trap 'rm -f %[2]q/$$' EXIT
printf '%%s\n' "$CLAUDEOPS_GATE_SOCKET" "$CLAUDEOPS_SESSION_ID" "$CLAUDEOPS_GATE_TOKEN" > %[6]q/$$
base=$(cat %[5]q)
i=0
while [ $i -lt 300 ] && alive; do
	i=$((i+1))
	n=$(( base + $(od -An -N1 -tu1 /dev/urandom) %% %[4]d ))
	if printf '{"session_id":"x","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"docker restart svc-%%d"},"cwd":"%%s"}' $n %[3]q | GORACE=atexit_sleep_ms=0 sh -c "$hook" 2>/dev/null; then
		echo "allowed svc-$n" >> %[1]q
	else
		echo "refused svc-$n" >> %[1]q
	fi
done
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"total_cost_usd":0,"structured_output":{"summary":"stub","outcome":"not_fixed","actions":[],"findings":"stub"}}'
`, logPath, pidDir, reposDir, crashServices, basePath, envDir)
}

const crashServices = 50

// startStubDaemon runs claude-ops with a stub CLI (no real CLI, no fake
// API) and waits until it is ready.
func startStubDaemon(t *testing.T, claude string, d dirs, extra ...string) *daemon {
	t.Helper()
	home := filepath.Join(filepath.Dir(d.State), "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	args := append([]string{
		binary, "--web.listen-address=" + addr, "--claude.path=" + claude,
		"--state.dir=" + d.State, "--results.dir=" + d.Results, "--repos.dir=" + d.Repos,
		"--log.level=warn",
	}, extra...)
	p := start(t, "claude-ops", []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}, args...)
	dm := &daemon{proc: p, URL: "http://" + addr, Dirs: d}
	// Polled more often than waitFor does: it starts in well under 100 ms,
	// and there are a hundred starts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p.exited() {
			t.Fatalf("claude-ops exited:\n%s", p.Output())
		}
		if code, _ := httpGet(t, dm.URL+"/-/ready"); code == 200 {
			return dm
		}
		if time.Now().After(deadline) {
			t.Fatalf("claude-ops not ready after 30s:\n%s", p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stubLog counts the stub's "allowed" and "refused" lines per service.
func stubLog(t *testing.T, path string) (allowed, refused map[string]int) {
	t.Helper()
	allowed, refused = map[string]int{}, map[string]int{}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		verdict, svc, ok := strings.Cut(l, " ")
		switch {
		case !ok:
			t.Fatalf("stub log line %q", l)
		case verdict == "allowed":
			allowed[svc]++
		case verdict == "refused":
			refused[svc]++
		default:
			t.Fatalf("stub log line %q", l)
		}
	}
	return
}

// reapStubs waits for the stubs of a killed daemon to notice and exit; one
// that does not is killed by its pid (after checking it is still a stub).
func reapStubs(t *testing.T, pidDir, stub string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ents, err := os.ReadDir(pidDir)
		if err != nil {
			t.Fatal(err)
		}
		var alive []int
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil || !strings.Contains(string(cmdline), stub) {
				_ = os.Remove(filepath.Join(pidDir, e.Name())) // gone (or the pid was reused)
				continue
			}
			alive = append(alive, pid)
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range alive {
				t.Logf("stub %d outlived its daemon by 10s: killing it", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				_ = os.Remove(filepath.Join(pidDir, strconv.Itoa(pid)))
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// staleTokens asks the running daemon's gate, with the hook environment of
// each session of the daemons killed before (same socket path, their
// session ids and tokens: the files in ents, listed before it started),
// for a restart: every one must be refused.
func staleTokens(t *testing.T, envDir string, ents []os.DirEntry, reposDir string) int {
	t.Helper()
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(envDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		env := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(env) != 3 || env[2] == "" {
			t.Fatalf("stub %s wrote the hook environment %q", e.Name(), b)
		}
		cmd := exec.Command(binary, "hook", "pre-tool-use")
		cmd.Env = []string{"GORACE=atexit_sleep_ms=0", "CLAUDEOPS_GATE_SOCKET=" + env[0],
			"CLAUDEOPS_SESSION_ID=" + env[1], "CLAUDEOPS_GATE_TOKEN=" + env[2]}
		cmd.Stdin = strings.NewReader(`{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"docker restart stale-token"},"cwd":` + strconv.Quote(reposDir) + `}`)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "unknown session") {
			t.Fatalf("a killed daemon's session %s reached the new gate: %v: %s", env[1], err, out)
		}
		if err := os.Remove(filepath.Join(envDir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return len(ents)
}

// TestCrashLedger kills the daemon with SIGKILL 100 times at random moments
// while sessions have restarts ruled on by the gate. After each restart the
// ledger (GET /api/v1/cooldowns) holds at least every restart a hook was
// told was allowed, and no service has more than the 2 the cooldown allows:
// the decision is durable before the answer, and the limit holds across
// crashes. The hook of a killed daemon's session, with its token, is
// refused by the next daemon.
func TestCrashLedger(t *testing.T) {
	requireTool(t, "jq", "apt-get install jq")
	cycles := 100
	if testing.Short() {
		cycles = 20
	}
	d := newDirs(t)
	scratch := t.TempDir()
	logPath, pidDir, basePath := filepath.Join(scratch, "hook.log"), filepath.Join(scratch, "pids"), filepath.Join(scratch, "base")
	envDir := filepath.Join(scratch, "env")
	for _, dir := range []string{pidDir, envDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub := filepath.Join(scratch, "claude")
	writeFile(t, stub, crashStub(logPath, pidDir, d.Repos, basePath, envDir))
	if err := os.Chmod(stub, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))

	check := func(cycle int, dm *daemon) {
		t.Helper()
		ledger := dm.cooldowns(t)
		allowed, _ := stubLog(t, logPath)
		for svc, n := range allowed {
			if got := ledger[svc]["restart"]; got < n {
				t.Fatalf("cycle %d: %s: %d restarts acknowledged to a hook, %d in the ledger: an allowed action was lost", cycle, svc, n, got)
			}
		}
		for svc, byAction := range ledger {
			if byAction["restart"] > 2 {
				t.Fatalf("cycle %d: %s has %d restarts in the ledger, limit 2", cycle, svc, byAction["restart"])
			}
		}
	}

	began, nStale := time.Now(), 0
	for cycle := range cycles {
		writeFile(t, basePath, strconv.Itoa(3*cycle))
		stale, err := os.ReadDir(envDir)
		if err != nil {
			t.Fatal(err)
		}
		dm := startStubDaemon(t, stub, d, "--schedule.interval=1h", "--webhook.no-auth",
			"--remediation.max-services-per-hour=100000", "--remediation.verify-timeout=1s")
		check(cycle, dm)
		nStale += staleTokens(t, envDir, stale, d.Repos)
		dm.postAlert(t, "CrashTest", fmt.Sprintf("incident-%d", cycle))
		time.Sleep(time.Duration(rng.Int64N(int64(1500 * time.Millisecond))))
		dm.kill()
		reapStubs(t, pidDir, stub)
	}
	dm := startStubDaemon(t, stub, d, "--schedule.interval=1h", "--webhook.no-auth",
		"--remediation.max-services-per-hour=100000")
	check(cycles, dm)

	// The run was not vacuous: restarts were allowed, and refused once a
	// service had used up its two.
	allowed, refused := stubLog(t, logPath)
	ledger := dm.cooldowns(t)
	var nAllowed, nRefused, atLimit int
	for svc, n := range allowed {
		nAllowed += n
		if ledger[svc]["restart"] == 2 && refused[svc] > 0 {
			atLimit++
		}
	}
	for _, n := range refused {
		nRefused += n
	}
	t.Logf("%d cycles in %v: %d restarts allowed, %d refused; %d of %d services at their limit with refusals; %d stale tokens refused",
		cycles, time.Since(began).Round(time.Second), nAllowed, nRefused, atLimit, len(allowed), nStale)
	if nAllowed == 0 || atLimit == 0 || nStale == 0 {
		t.Fatalf("the gate allowed %d restarts, refused more at the limit for %d services, refused %d stale tokens: nothing was tested",
			nAllowed, atLimit, nStale)
	}
	dm.stop(t, 20*time.Second)
}
