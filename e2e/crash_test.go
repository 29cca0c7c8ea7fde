package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/runner/podmantest"
)

// quickStop is a container command that exits on SIGTERM at once: a restart
// of busybox's sleep as PID 1, which ignores SIGTERM, waits out the
// engine's 10 s stop timeout.
var quickStop = []string{"sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"}

// The crash test's services: containers s-0 … s-<n-1>, and app, the
// incident's service, which depends on all of them (so every restart is in
// scope). Daemon life l restarts the crashWindow services from
// s-<crashBase(l)>: a life makes about 2 restart calls before its kill, so
// each service is tried several times over the 6 lives it is in a window,
// uses up its 2 restarts and is refused in a later life, while services
// with restarts left keep coming.
const (
	crashWindow = 2
	// crashTurns bounds a session's restart calls; a kill always comes
	// long before.
	crashTurns = 150
)

// crashBase is the first service of life l's window.
func crashBase(l int) int { return l / 3 }

func crashManifest(n int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	deps := make([]string, n)
	for i := range n {
		deps[i] = fmt.Sprintf("s-%d", i)
		fmt.Fprintf(&b, "  - name: s-%d\n", i)
	}
	fmt.Fprintf(&b, "  - name: app\n    depends_on: [%s]\n", strings.Join(deps, ", "))
	return b.String()
}

var (
	crashDoneRE     = regexp.MustCompile(`restarted (\S+), verified by the engine`)
	crashCooldownRE = regexp.MustCompile(`refused at stage cooldown: cooldown: \d+ restart actions on (\S+) in the last`)
)

// crashModel is the scripted model of the crash test: every Tier 2 or 3
// turn restarts a random service of the current daemon life's window, and
// every tool result the CLI sends back is tallied once (by tool_use id).
// Requests reach it only through the live daemon's API proxy, so what it
// reads is what a session of that daemon was told.
type crashModel struct {
	t   *testing.T
	rng *rand.Rand

	mu       sync.Mutex
	life     int
	target   string      // when set, what every turn restarts instead
	requests map[int]int // remediation requests per daemon life
	seen     map[string]bool
	// acked: service → restarts the model was told were done and verified;
	// ackLife: the first life one was; refusedLife: the lives of its
	// cooldown refusals.
	acked       map[string]int
	ackLife     map[string]int
	refusedLife map[string][]int
	other       map[string]int // other results, by their first words
}

func (m *crashModel) setLife(l int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.life, m.target = l, ""
}

func (m *crashModel) setTarget(svc string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.target = svc
}

// asked says whether life l's sessions have asked for n turns.
func (m *crashModel) asked(l, n int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests[l] >= n
}

func (m *crashModel) ackedNow() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.acked)
}

func (m *crashModel) script(r *fakeapi.Request) fakeapi.Turn {
	if strings.Contains(r.Model, "haiku") {
		return tier1Healthy
	}
	if !strings.Contains(r.Prompt, `service "app"`) {
		m.t.Errorf("unexpected request: model %s, prompt %.200q", r.Model, r.Prompt)
		return fakeapi.Turn{Status: 400}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[m.life]++
	for _, res := range r.ToolResults {
		if m.seen[res.ToolUseID] {
			continue // a retried request
		}
		m.seen[res.ToolUseID] = true
		if d := crashDoneRE.FindStringSubmatch(res.Content); d != nil && !res.IsError {
			if m.acked[d[1]] == 0 {
				m.ackLife[d[1]] = m.life
			}
			m.acked[d[1]]++
		} else if c := crashCooldownRE.FindStringSubmatch(res.Content); c != nil && res.IsError {
			m.refusedLife[c[1]] = append(m.refusedLife[c[1]], m.life)
		} else {
			words := strings.Fields(res.Content)
			m.other[strings.Join(words[:min(4, len(words))], " ")]++
		}
	}
	if r.Turn >= crashTurns {
		return remediationDone("not_fixed")
	}
	target := m.target
	if target == "" {
		target = fmt.Sprintf("s-%d", crashBase(m.life)+m.rng.IntN(crashWindow))
	}
	return fakeapi.Turn{Text: "Restarting " + target + ".", Tools: []fakeapi.ToolUse{opsCall("restart_service", svc(target))}}
}

// withRestartsLeft is the first service with fewer than 2 allowed restarts
// in the ledger rows (the least used first).
func withRestartsLeft(rows []ledgerRow, n int) string {
	allowed := map[string]int{}
	for _, r := range rows {
		if r.Action == "restart" && r.Result == "allowed" {
			allowed[r.Service]++
		}
	}
	for used := range 2 {
		for i := range n {
			if svc := fmt.Sprintf("s-%d", i); allowed[svc] == used {
				return svc
			}
		}
	}
	return "s-0" // all used up: a refusal, and a timed kill
}

// procEntry is a process by pid and start time (field 22 of its stat), so
// that a reused pid is never taken for it.
type procEntry struct {
	pid   int
	start string
}

// procStat returns the parent pid and start time of pid.
func procStat(pid int) (ppid int, start string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	// The command name (field 2) may hold spaces: fields after its ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[19], true
}

// descendants lists the processes under pid (sessions' CLIs, sandboxes,
// hook clients) at this moment.
func descendants(pid int) []procEntry {
	ents, _ := os.ReadDir("/proc")
	children := map[int][]procEntry{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, start, ok := procStat(p); ok {
			children[ppid] = append(children[ppid], procEntry{p, start})
		}
	}
	var out []procEntry
	queue := []int{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
		queue = queue[1:]
	}
	return out
}

// sessionTokens reads the ops and API tokens from the environments of
// procs (the CLI gets both in its environment).
func sessionTokens(procs []procEntry) (ops, api []string) {
	for _, p := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.pid))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			k, v, _ := strings.Cut(string(kv), "=")
			switch {
			case v == "":
			case k == opsTokenEnvName && !slices.Contains(ops, v):
				ops = append(ops, v)
			case k == "ANTHROPIC_API_KEY" && !slices.Contains(api, v):
				api = append(api, v)
			}
		}
	}
	return ops, api
}

// opsTokenEnvName is the variable the daemon gives a session's CLI its ops
// token in.
const opsTokenEnvName = "CLAUDEOPS_OPS_TOKEN"

// reap kills the processes a killed daemon left, by pid, each only if it
// is still the same process.
func reap(procs []procEntry) {
	for _, p := range procs {
		if _, start, ok := procStat(p.pid); ok && start == p.start {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// staleRefused asks the running daemon's session endpoint, with the tokens
// of a killed daemon's sessions, for a restart and for a model turn: both
// must be refused as unauthenticated.
func staleRefused(t *testing.T, sessionAddr string, ops, api []string) {
	t.Helper()
	post := func(path, body string, header map[string]string) int {
		req, err := http.NewRequest(http.MethodPost, "http://"+sessionAddr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tok := range ops {
		call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"restart_service","arguments":{"service":"s-0"}}}`
		if code := post("/mcp", call, map[string]string{"Authorization": "Bearer " + tok}); code != http.StatusUnauthorized {
			t.Fatalf("a killed daemon's session's ops token got %d from the next daemon, want 401", code)
		}
	}
	for _, tok := range api {
		msg := `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
		if code := post("/v1/messages", msg, map[string]string{"x-api-key": tok, "anthropic-version": "2023-06-01"}); code != http.StatusUnauthorized {
			t.Fatalf("a killed daemon's session's API token got %d from the next daemon, want 401", code)
		}
	}
}

// TestCrashLedger kills the daemon with SIGKILL at random moments while a
// Tier 2 session of the real CLI restarts containers of a real Podman
// through mcp__ops__restart_service, as fast as the scripted model can ask.
// The incident survives each crash and the next daemon resumes it with a
// new session. After each restart of the daemon:
//
//   - every restart the model was told was done ("restarted … verified by
//     the engine") is in the ledger (GET /api/v1/actions) as allowed: the
//     chain charges the ledger before it acts;
//   - every container whose start time moved has an allowed restart in the
//     ledger: nothing is restarted uncharged;
//   - no service has more than the 2 allowed restarts its cooldown allows
//     within the window, and GET /api/v1/cooldowns agrees: the limit holds
//     across crashes;
//   - the ops and API tokens of the killed daemon's sessions are refused by
//     the next one.
//
// 10 kills (4 with -short), each once the life's session has had 0 to 2
// restart calls answered, at a random point of the next one (0–1.3 s; a
// call takes about 1.2 s): a kill lands between restarts, during one (in
// the CLI, the hook or the daemon), or after one was done but before the
// model was told. Every third kill instead comes the moment the ledger
// shows a restart (of a service with restarts left) charged and not yet
// done. That is about 50–60 s on two
// cores (up to 90 s when they are shared with other builds): each life
// costs 2–3 s before its session's first turn (the daemon's start, the
// CLI's in its sandbox) and each restart call about 1.2 s (the -race hook
// client alone sleeps 1 s at exit), so more kills would cost time, not add
// kinds of moments. The run fails if nothing was acknowledged, if no
// service was refused by its cooldown in a life after one where it was
// restarted, if no kill came between a charge and its outcome, or if no
// stale token was tried.
func TestCrashLedger(t *testing.T) {
	cycles := 10
	if testing.Short() {
		cycles = 4
	}
	began := time.Now()
	pm := podmantest.Start(t)
	n := crashBase(cycles) + crashWindow
	for i := range n {
		pm.Run(t, fmt.Sprintf("s-%d", i), nil, quickStop...)
	}
	eng, err := engine.New(pm.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	ctx := context.Background()
	initial := map[string]time.Time{}
	cs, err := eng.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		initial[c.Name] = c.StartedAt
	}
	if len(initial) != n {
		t.Fatalf("%d containers, want %d", len(initial), n)
	}

	d := newDirs(t)
	writeFile(t, filepath.Join(d.Repos, "farm", "CLAUDE-OPS.md"), "# farm\napp and the services it depends on.\n")
	writeFile(t, filepath.Join(d.Repos, "farm", ".claude-ops", "services.yaml"), crashManifest(n))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	model := &crashModel{t: t, rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), requests: map[int]int{}, seen: map[string]bool{},
		acked: map[string]int{}, ackLife: map[string]int{}, refusedLife: map[string][]int{}, other: map[string]int{}}
	api := fakeapi.Start(t, model.script)
	sessionAddr := freePort(t)
	flags := []string{"--schedule.interval=1h", "--webhook.no-auth", "--engine.host=" + pm.Host,
		"--session.listen-address=" + sessionAddr, "--remediation.max-services-per-hour=100000", "--log.level=info"}

	// check runs the invariants against the live daemon. Reads are
	// ordered so that a session still acting meanwhile cannot fail them:
	// what the model was told, then the containers, then the ledger.
	var ledger []ledgerRow
	check := func(life int, dm *daemon) {
		t.Helper()
		acked := model.ackedNow()
		cs, err := eng.Containers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ledger = dm.ledger(t)
		allowed := map[string]int{}
		for _, r := range ledger {
			if r.Action == "restart" && r.Result == "allowed" {
				allowed[r.Service]++
			}
		}
		for svc, k := range acked {
			if allowed[svc] < k {
				t.Fatalf("life %d: %s: %d restarts acknowledged to the model, %d in the ledger: an acknowledged action was lost", life, svc, k, allowed[svc])
			}
		}
		for _, c := range cs {
			if c.StartedAt.After(initial[c.Name]) && allowed[c.Name] == 0 {
				t.Fatalf("life %d: %s restarted (started at %s, was %s) with no allowed restart in the ledger", life, c.Name, c.StartedAt, initial[c.Name])
			}
		}
		for svc, k := range allowed {
			if k > 2 {
				t.Fatalf("life %d: %s has %d allowed restarts in the ledger, limit 2", life, svc, k)
			}
		}
		cooldowns := dm.cooldowns(t)
		for svc, k := range allowed {
			if got := cooldowns[svc]["restart"]; got < k {
				t.Fatalf("life %d: GET /api/v1/cooldowns counts %d restarts of %s, the ledger %d", life, got, svc, k)
			}
		}
	}

	var nStale, cutShort int
	// pendingRestarts counts the allowed restarts with no outcome: charged,
	// then killed before the outcome was written.
	pendingRestarts := func(rows []ledgerRow) int {
		n := 0
		for _, r := range rows {
			if r.Action == "restart" && r.Result == "allowed" && r.Outcome == "" {
				n++
			}
		}
		return n
	}
	var staleOps, staleAPI []string // the tokens of the last killed daemon's sessions
	for life := range cycles + 1 {
		model.setLife(life)
		dm := startDaemon(t, api, d, flags...)
		staleRefused(t, sessionAddr, staleOps, staleAPI)
		nStale += len(staleOps) + len(staleAPI)
		check(life, dm)
		if life == cycles {
			dm.stop(t, 30*time.Second)
			break
		}
		if life == 0 {
			dm.postAlert(t, "AppDown", "app")
		}
		// The resumed (or, at first, new) incident's session of this life
		// has asked for 1 to 3 turns (0 to 2 restart calls answered):
		// kill at a random point of the call that follows. Counting turns
		// rather than time keeps every life as busy on a slow machine.
		turns := 1 + rng.IntN(3)
		waitFor(t, 60*time.Second, fmt.Sprintf("life %d's remediation session to ask for %d turns", life, turns),
			func() bool { return model.asked(life, turns) })
		if life%3 == 2 {
			// Every third life aims at the narrowest moment instead: the
			// model restarts a service with restarts left, and the kill
			// comes as soon as the restart is charged and not yet done
			// (polled; at most 4 more turns or 15 s).
			model.setTarget(withRestartsLeft(ledger, n))
			pending, deadline := pendingRestarts(ledger), time.Now().Add(15*time.Second)
			for !model.asked(life, turns+4) && time.Now().Before(deadline) && pendingRestarts(dm.ledger(t)) == pending {
				time.Sleep(10 * time.Millisecond)
			}
		} else {
			time.Sleep(time.Duration(rng.Int64N(int64(1300 * time.Millisecond))))
		}
		procs := descendants(dm.cmd.Process.Pid)
		staleOps, staleAPI = sessionTokens(procs)
		dm.kill()
		reap(procs)
		if len(staleOps) == 0 || len(staleAPI) == 0 {
			t.Logf("life %d: no session tokens in the environments of its %d processes", life, len(procs))
		}
	}

	// The run was not vacuous.
	acked := model.ackedNow()
	model.mu.Lock()
	var nAcked, nRefused, crossed int
	for svc, k := range acked {
		nAcked += k
		if slices.ContainsFunc(model.refusedLife[svc], func(l int) bool { return l > model.ackLife[svc] }) {
			crossed++
		}
	}
	for _, ls := range model.refusedLife {
		nRefused += len(ls)
	}
	other := maps.Clone(model.other)
	model.mu.Unlock()
	cutShort = pendingRestarts(ledger)
	t.Logf("%d kills in %v: %d restarts acknowledged, %d refused by the cooldown; %d services refused by their cooldown in a later life than a restart; "+
		"%d allowed restarts with no outcome (cut short by a kill); %d stale tokens refused; other results: %v",
		cycles, time.Since(began).Round(time.Second), nAcked, nRefused, crossed, cutShort, nStale, other)
	if nAcked == 0 || crossed == 0 || cutShort == 0 || nStale == 0 {
		t.Fatalf("%d restarts acknowledged, %d services refused across a crash, %d kills between a charge and its outcome, %d stale tokens tried: not all was tested",
			nAcked, crossed, cutShort, nStale)
	}
}
