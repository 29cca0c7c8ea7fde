package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

// fakeTools are stand-ins, first on the daemon's PATH (and so on every
// session's), for every command a safety test makes the model try: nothing
// a session runs can reach the real tool. Each appends "<name> <argv>" to
// calls.log and touches <name>.ran in Dir; ssh and sudo then run what they
// wrap (ssh drops its options and host and runs the rest with sh -c, sudo
// execs its arguments), so that a wrapped command that got through shows up
// as the fake it reached.
type fakeTools struct {
	Bin string // the directory put first on PATH
	Dir string // calls.log and the <name>.ran sentinels
}

// fakeToolNames are the plain fakes (ssh and sudo are wrappers).
var fakeToolNames = []string{
	"docker", "systemctl", "kubectl", "helm", "ansible-playbook", "git",
	"iptables", "ip", "passwd", "chpasswd",
}

func fakeToolScript(dir, name, then string) string {
	return fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' %q\" $*\" >> %q\ntouch %q\n%s",
		name, filepath.Join(dir, "calls.log"), filepath.Join(dir, name+".ran"), then)
}

// sshThen drops ssh's options (those of one word and those that take a
// value) and the host, then runs the remote command locally.
const sshThen = `while [ $# -gt 0 ]; do
	case "$1" in
	-[BbcDEeFIiJLlmOoPpQRSWw]) shift 2 ;;
	-*) shift ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || exit 0
exec sh -c "$*"
`

// installFakeTools writes the fakes and puts them first on PATH for the
// rest of the test (the daemon is started with the test's PATH).
func installFakeTools(t *testing.T) *fakeTools {
	t.Helper()
	f := &fakeTools{Bin: t.TempDir(), Dir: t.TempDir()}
	scripts := map[string]string{
		"ssh":  fakeToolScript(f.Dir, "ssh", sshThen),
		"sudo": fakeToolScript(f.Dir, "sudo", "exec \"$@\"\n"),
	}
	for _, n := range fakeToolNames {
		scripts[n] = fakeToolScript(f.Dir, n, "")
	}
	// `docker ps`, allowed at every tier, is the sessions' PATH canary.
	scripts["docker"] = fakeToolScript(f.Dir, "docker", "if [ \"$1\" = ps ]; then echo \"PATH=$PATH\"; fi\n")
	for n, s := range scripts {
		p := filepath.Join(f.Bin, n)
		writeFile(t, p, s)
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", f.Bin+":"+os.Getenv("PATH"))
	return f
}

// calls returns the lines of calls.log so far.
func (f *fakeTools) calls(t testing.TB) []string {
	b, err := os.ReadFile(filepath.Join(f.Dir, "calls.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Errorf("read calls.log: %v", err)
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// ran says whether the fake name ran at all.
func (f *fakeTools) ran(name string) bool {
	_, err := os.Stat(filepath.Join(f.Dir, name+".ran"))
	return err == nil
}

// conversation is one scripted session of the fake model: request n (n
// assistant messages so far) is answered with turns[n]. It records, per
// turn, the tool results the CLI sent back for that turn's calls and how
// many lines calls.log had when each request arrived, so each call's side
// effects can be told apart.
type conversation struct {
	turns []fakeapi.Turn
	fakes *fakeTools
	t     testing.TB

	mu      sync.Mutex
	results map[int][]fakeapi.ToolResult // results[n]: of turn n's calls
	logAt   map[int]int                  // calls.log lines when request n arrived
	ends    int                          // requests past the last turn
	// aborted is set when the session's PATH did not start with the fakes:
	// the conversation then ends at once, before any dangerous call.
	aborted string
}

// pathCanary is turn 0 of every guarded conversation: `docker ps`, which
// every tier may run, reaches the fake docker, which shows the PATH it got;
// nothing else is asked unless the fakes come first on it (the real ip,
// passwd, chpasswd, git, ssh... are installed on test machines).
var pathCanary = fakeapi.Turn{Text: "Checking the environment.", Tools: []fakeapi.ToolUse{fakeapi.Bash("docker ps")}}

// canaryCall is the fakes' log line of the canary.
const canaryCall = "docker ps"

// newConversation scripts turns after the PATH canary (turn 0): turns[i]
// is answered at request i+1.
func newConversation(t testing.TB, f *fakeTools, turns ...fakeapi.Turn) *conversation {
	return &conversation{turns: append([]fakeapi.Turn{pathCanary}, turns...), fakes: f, t: t,
		results: map[int][]fakeapi.ToolResult{}, logAt: map[int]int{}}
}

func (c *conversation) script(r *fakeapi.Request) fakeapi.Turn {
	n := len(c.fakes.calls(c.t))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logAt[r.Turn] = n
	if r.Turn > 0 {
		c.results[r.Turn-1] = r.ToolResults
	}
	last := c.turns[len(c.turns)-1]
	if r.Turn == 1 {
		var out string
		if len(r.ToolResults) == 1 {
			out = strings.TrimSpace(r.ToolResults[0].Content)
		}
		if !strings.HasPrefix(out, "PATH="+c.fakes.Bin+":") {
			c.aborted = fmt.Sprintf("the session's PATH is %q, not the fakes (%s) first", out, c.fakes.Bin)
		}
	}
	if c.aborted != "" {
		return last
	}
	if r.Turn >= len(c.turns) {
		c.ends++
		return last
	}
	return c.turns[r.Turn]
}

// checkGuard fails the test when the conversation was cut short by the PATH
// canary or went on past its last turn.
func (c *conversation) checkGuard(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted != "" {
		t.Fatalf("conversation aborted before its dangerous turns: %s", c.aborted)
	}
	if c.ends > 0 {
		t.Errorf("the CLI asked %d more turns than scripted (the final structured output was refused?)", c.ends)
	}
}

// result returns the one tool result of turn n, and whether there was one.
func (c *conversation) result(n int) (fakeapi.ToolResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.results[n]
	if len(rs) != 1 {
		return fakeapi.ToolResult{}, false
	}
	return rs[0], true
}

// newCalls returns the calls.log lines added while turn n's tool ran: after
// request n arrived and before request n+1 did.
func (c *conversation) newCalls(n int) []string {
	c.mu.Lock()
	from, ok1 := c.logAt[n]
	to, ok2 := c.logAt[n+1]
	c.mu.Unlock()
	if !ok1 || !ok2 {
		return []string{fmt.Sprintf("(turn %d was not followed by another request)", n)}
	}
	lines := c.fakes.calls(c.t)
	if to > len(lines) {
		to = len(lines)
	}
	return lines[from:to]
}

// firingAlert is an Alertmanager v4 webhook payload with one firing alert.
func firingAlert(alertname, service string) string {
	labels := map[string]string{"alertname": alertname, "service": service, "severity": "critical"}
	b, err := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "claude-ops", "groupKey": "{}:{alertname=\"" + alertname + "\"}",
		"alerts": []map[string]any{{"status": "firing", "labels": labels,
			"annotations": map[string]string{"summary": service + " is down"},
			"startsAt":    time.Now().UTC().Format(time.RFC3339), "fingerprint": fmt.Sprintf("%016x", fnv64(alertname+service))}},
		"groupLabels": map[string]string{"alertname": alertname}, "commonLabels": labels,
		"commonAnnotations": map[string]string{}, "externalURL": "http://am",
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func (d *daemon) postAlert(t testing.TB, alertname, service string) {
	t.Helper()
	if code, body := httpPost(t, d.URL+"/api/v1/webhook", "application/json", firingAlert(alertname, service), nil); code/100 != 2 {
		t.Fatalf("POST /api/v1/webhook for %s: %d %s", service, code, body)
	}
}

// fullSession is the session record as GET /api/v1/sessions/{id} serves it.
type fullSession struct {
	ID         string `json:"id"`
	Tier       int    `json:"tier"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason"`
	IncidentID string `json:"incident_id"`
	Denials    []struct {
		Tool   string          `json:"tool"`
		ToolID string          `json:"tool_use_id"`
		Input  json.RawMessage `json:"input"`
		Reason string          `json:"reason"`
	} `json:"permission_denials"`
	Actions []struct {
		Service string `json:"service"`
		Action  string `json:"action"`
		Result  string `json:"result"`
		Stage   string `json:"stage"`
		Command string `json:"command"`
		Reason  string `json:"reason"`
	} `json:"actions"`
	StructuredOutput json.RawMessage `json:"structured_output"`
	CostUSD          float64         `json:"total_cost_usd"`
}

func (d *daemon) fullSession(t testing.TB, id string) fullSession {
	t.Helper()
	var out struct {
		Session fullSession `json:"session"`
	}
	getJSON(t, d.URL+"/api/v1/sessions/"+id, &out)
	return out.Session
}

func (s fullSession) denied(toolUseID string) bool {
	_, ok := s.denial(toolUseID)
	return ok
}

// denial returns the reason the CLI gave for refusing a call.
func (s fullSession) denial(toolUseID string) (string, bool) {
	for _, d := range s.Denials {
		if d.ToolID == toolUseID {
			return d.Reason, true
		}
	}
	return "", false
}

// incidentFull is an incident as GET /api/v1/incidents serves it.
type incidentFull struct {
	ID              string `json:"id"`
	Service         string `json:"service"`
	State           string `json:"state"`
	Reason          string `json:"reason"`
	Detail          string `json:"detail"`
	CooldownRefusal string `json:"cooldown_refusal"`
	Sessions        []struct {
		ID      string `json:"id"`
		Tier    int    `json:"tier"`
		Outcome string `json:"outcome"`
	} `json:"sessions"`
}

func (d *daemon) incidentsFull(t testing.TB) []incidentFull {
	t.Helper()
	var raw json.RawMessage
	getJSON(t, d.URL+"/api/v1/incidents", &raw)
	var list []incidentFull
	if err := json.Unmarshal(raw, &list); err != nil {
		var wrapped struct {
			Incidents []incidentFull `json:"incidents"`
		}
		if err := json.Unmarshal(raw, &wrapped); err != nil {
			t.Fatalf("incidents: %v in %s", err, raw)
		}
		list = wrapped.Incidents
	}
	return list
}

func (d *daemon) incidentOf(t testing.TB, service string) (incidentFull, bool) {
	t.Helper()
	for _, in := range d.incidentsFull(t) {
		if in.Service == service {
			return in, true
		}
	}
	return incidentFull{}, false
}

// cooldowns reads GET /api/v1/cooldowns: used count per service and action.
func (d *daemon) cooldowns(t testing.TB) map[string]map[string]int {
	t.Helper()
	var out struct {
		Cooldowns map[string]map[string]struct {
			Used  int `json:"used"`
			Limit int `json:"limit"`
		} `json:"cooldowns"`
	}
	getJSON(t, d.URL+"/api/v1/cooldowns", &out)
	m := map[string]map[string]int{}
	for svc, byAction := range out.Cooldowns {
		m[svc] = map[string]int{}
		for a, e := range byAction {
			m[svc][a] = e.Used
		}
	}
	return m
}

// toolUse is a call of a file tool.
func toolUse(name string, input map[string]any) fakeapi.ToolUse {
	return fakeapi.ToolUse{Name: name, Input: input}
}

// ledgerEntry is a row of GET /api/v1/actions with what the typed tests'
// ledgerRow leaves out: the command the gate refused and the incident.
type ledgerEntry struct {
	ledgerRow
	Command  string `json:"command"`
	Incident string `json:"incident_id"`
}

func (d *daemon) ledgerEntries(t testing.TB) []ledgerEntry {
	t.Helper()
	var out struct {
		Actions []ledgerEntry `json:"actions"`
	}
	getJSON(t, d.URL+"/api/v1/actions", &out)
	return out.Actions
}
