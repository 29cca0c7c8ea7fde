package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// memLedger is an in-memory Ledger with the store's checks.
type memLedger struct {
	mu   sync.Mutex
	recs []ActionRecord
	err  error
}

func (l *memLedger) RecordAction(_ context.Context, rec ActionRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if rec.Service == "" || rec.Action == "" || rec.Result == "" {
		return errors.New("incomplete record")
	}
	l.recs = append(l.recs, rec)
	return nil
}

func (l *memLedger) records() []ActionRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

type harness struct {
	g       *Gate
	ledger  *memLedger
	reg     *prometheus.Registry
	now     time.Time
	mu      sync.Mutex
	actions []session.Action
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{ledger: &memLedger{}, reg: prometheus.NewRegistry(), now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	g, err := New(Config{
		ReposDir:   "/repos",
		Ledger:     h.ledger,
		Registerer: h.reg,
		Now:        func() time.Time { return h.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.g = g
	return h
}

func bash(cmd string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"command": cmd})
	return b
}

func file(p string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"file_path": p, "content": "x"})
	return b
}

func (h *harness) decide(t *testing.T, info SessionInfo, tool string, input json.RawMessage) Decision {
	t.Helper()
	info.Report = func(a session.Action) {
		h.mu.Lock()
		h.actions = append(h.actions, a)
		h.mu.Unlock()
	}
	tok, unregister := h.g.Register(info)
	defer unregister()
	return h.g.Decide(context.Background(), DecideRequest{SessionID: info.ID, Token: tok, ToolName: tool, ToolInput: input, Cwd: "/repos"})
}

var (
	t1  = SessionInfo{ID: "s1", Tier: session.Tier1, IncidentID: "i1", Service: "web"}
	t2  = SessionInfo{ID: "s2", Tier: session.Tier2, IncidentID: "i2", Service: "web"}
	t3  = SessionInfo{ID: "s3", Tier: session.Tier3, IncidentID: "i3", Service: "web"}
	dry = SessionInfo{ID: "s4", Tier: session.Tier3, IncidentID: "i4", Service: "web", DryRun: true}
	// noTier: a session registered without a valid tier.
	noTier = SessionInfo{ID: "s5", IncidentID: "i5"}
)

func TestDecideTable(t *testing.T) {
	every := []SessionInfo{t1, t2, t3, dry, noTier}
	type call struct {
		name   string
		tool   string
		input  json.RawMessage
		allow  bool
		result string // the last ledger record's result, "" = nothing recorded
		reason string // a part of the deny reason
	}
	untyped := func(name, tool string, input json.RawMessage) call {
		return call{name, tool, input, false, ResultRefusedUntyped, "mcp__ops__restart_service"}
	}
	never := func(name, tool string, input json.RawMessage, reason string) call {
		return call{name, tool, input, false, ResultRefusedNever, reason}
	}
	allowed := func(name, tool string, input json.RawMessage) call {
		return call{name, tool, input, true, "", ""}
	}
	cases := []call{
		// Bash: reading only.
		allowed("read-only", "Bash", bash("docker ps; curl -s http://x/health")),
		allowed("read-only pipeline", "Bash", bash("docker logs --tail 50 web 2>&1 | grep -i error")),
		untyped("restart", "Bash", bash("docker restart web")),
		untyped("systemctl restart", "Bash", bash("systemctl restart web")),
		untyped("compose restart without a service", "Bash", bash("docker compose restart")),
		untyped("kubectl rollout restart", "Bash", bash("kubectl rollout restart deployment/web")),
		untyped("redeploy", "Bash", bash("docker compose up -d --force-recreate web")),
		untyped("helm upgrade", "Bash", bash("helm upgrade web ./chart")),
		untyped("ansible-playbook", "Bash", bash("ansible-playbook site.yml")),
		untyped("permission fix", "Bash", bash("chmod 640 /etc/nginx/site.conf")),
		untyped("other mutating", "Bash", bash("docker stop worker")),
		untyped("unknown command", "Bash", bash("frobnicate --all")),
		untyped("restart after a read", "Bash", bash("docker ps && docker restart web")),
		untyped("restart through sudo", "Bash", bash("sudo systemctl restart web")),
		untyped("restart through sh -c", "Bash", bash("sh -c 'docker restart web'")),
		untyped("restart through ssh, sudo and sh -c", "Bash", bash(`ssh h "sudo sh -c 'docker restart web'"`)),
		never("never", "Bash", bash("docker volume rm data"), "never allowed"),
		never("never hidden in a wrapper", "Bash", bash(`ssh h "sudo sh -c 'docker system prune -af'"`), "never allowed"),
		never("never after a restart", "Bash", bash("docker restart web; docker volume rm data"), "never allowed"),
		never("opaque", "Bash", bash(`$CMD`), "cannot be checked"),
		never("restart of an opaque target", "Bash", bash(`docker restart $(docker ps -q)`), "cannot be checked"),
		{"Bash without a command", "Bash", json.RawMessage(`{}`), false, "", "without a command"},
		{"malformed input", "Bash", json.RawMessage(`[1]`), false, "", "malformed"},
		// File tools: reading only.
		untyped("Edit", "Edit", file("/etc/nginx/nginx.conf")),
		untyped("Write", "Write", file("/tmp/x")),
		untyped("Write of a binary", "Write", file("/usr/local/bin/ls")),
		untyped("MultiEdit", "MultiEdit", file("/etc/nginx/nginx.conf")),
		untyped("NotebookEdit", "NotebookEdit", json.RawMessage(`{"notebook_path":"/tmp/n.ipynb"}`)),
		never("Edit under the repos dir", "Edit", file("/repos/infra/compose.yml"), "repos"),
		never("relative Write lands in the repos dir", "Write", file("notes.md"), "repos"),
		never("Write of a secret", "Write", file("/etc/app/.env"), "never allowed"),
		{"Edit without a path", "Edit", json.RawMessage(`{}`), false, "", "without a file path"},
		allowed("Read", "Read", file("/etc/nginx/nginx.conf")),
		allowed("Grep", "Grep", json.RawMessage(`{"pattern":"error","path":"/var/log"}`)),
		allowed("Glob without a path", "Glob", json.RawMessage(`{"pattern":"**/*.yml"}`)),
		never("Read of a secret", "Read", file("/root/.ssh/id_rsa"), "never allowed"),
		// MCP tools.
		allowed("typed restart", "mcp__ops__restart_service", json.RawMessage(`{"service":"web"}`)),
		allowed("typed redeploy", "mcp__ops__redeploy_service", json.RawMessage(`{"service":"web"}`)),
		allowed("typed playbook", "mcp__ops__run_playbook", json.RawMessage(`{"playbook":"x"}`)),
		allowed("typed probe", "mcp__ops__container_logs", json.RawMessage(`{"service":"web"}`)),
		allowed("read-only MCP tool", "mcp__prom__query_range", json.RawMessage(`{}`)),
		allowed("read-only MCP tool, camel case", "mcp__gh__getIssue", json.RawMessage(`{}`)),
		untyped("mutating MCP tool", "mcp__github__create_issue", json.RawMessage(`{}`)),
		untyped("MCP tool of another server named like a typed one", "mcp__opsx__restart_service", json.RawMessage(`{}`)),
		untyped("the ops prefix alone", "mcp__ops__", json.RawMessage(`{}`)),
		// Other tools.
		allowed("structured output", "StructuredOutput", json.RawMessage(`{"status":"ok"}`)),
		allowed("Task", "Task", json.RawMessage(`{"prompt":"look"}`)),
		untyped("unknown tool", "Teleport", json.RawMessage(`{}`)),
	}
	for _, info := range every {
		for _, c := range cases {
			t.Run(fmt.Sprintf("tier %d dry %v/%s", info.Tier, info.DryRun, c.name), func(t *testing.T) {
				h := newHarness(t)
				d := h.decide(t, info, c.tool, c.input)
				if d.Allow != c.allow {
					t.Fatalf("%s %s: allow = %v (%s), want %v", c.tool, c.input, d.Allow, d.Reason, c.allow)
				}
				if !d.Allow && !strings.Contains(d.Reason, c.reason) {
					t.Errorf("reason %q does not say %q", d.Reason, c.reason)
				}
				recs := h.ledger.records()
				last := ""
				if len(recs) > 0 {
					last = recs[len(recs)-1].Result
				}
				if last != c.result {
					t.Fatalf("recorded %q, want %q (ledger %+v)", last, c.result, recs)
				}
				if d.Allow && len(h.actions) != 0 {
					t.Errorf("allowed call reported: %+v", h.actions)
				}
			})
		}
	}
}

// Every refused step is recorded and reported, with the gate's stage, the
// session's tier and the service it names (or the incident's).
func TestRefusalsRecorded(t *testing.T) {
	h := newHarness(t)
	cmd := "docker ps; docker restart api; docker compose restart; docker volume rm data"
	d := h.decide(t, t2, "Bash", bash(cmd))
	if d.Allow {
		t.Fatal("allowed")
	}
	if !strings.Contains(d.Reason, "Bash only reads here") || !strings.Contains(d.Reason, "never allowed") {
		t.Errorf("reason = %q", d.Reason)
	}
	recs := h.ledger.records()
	type row struct{ service, action, result, target string }
	var got []row
	for _, r := range recs {
		got = append(got, row{r.Service, r.Action, r.Result, r.Target})
		if r.Stage != StageGate || r.Tier != 2 || r.SessionID != "s2" || r.IncidentID != "i2" || r.Command != cmd || !r.Time.Equal(h.now) {
			t.Errorf("record = %+v", r)
		}
	}
	want := []row{
		{"api", ActionRestart, ResultRefusedUntyped, "api"},
		{"web", ActionRestart, ResultRefusedUntyped, ""},
		{"web", ActionOther, ResultRefusedNever, ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("records = %+v, want %+v", got, want)
	}
	if len(h.actions) != len(recs) {
		t.Fatalf("actions reported = %+v", h.actions)
	}
	for i, a := range h.actions {
		r := recs[i]
		if a.Stage != StageGate || a.Tier != session.Tier2 || a.Service != r.Service || a.Action != r.Action ||
			a.Result != r.Result || a.Target != r.Target || a.Command != cmd || a.Reason != r.Reason || !a.Time.Equal(h.now) {
			t.Errorf("action %d = %+v, record %+v", i, a, r)
		}
	}
	// A session without a service: "unknown".
	h = newHarness(t)
	h.decide(t, noTier, "Edit", file("/etc/x.conf"))
	if recs := h.ledger.records(); len(recs) != 1 || recs[0].Service != "unknown" || recs[0].Action != ActionOther {
		t.Errorf("records = %+v", recs)
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t)
	if n, err := testutil.GatherAndCount(h.reg, "claudeops_gate_refusals_total"); err != nil || n != 10 {
		t.Errorf("pre-initialised series = %d, %v", n, err)
	}
	h.decide(t, t2, "Bash", bash("docker restart web"))
	h.decide(t, t2, "Bash", bash("docker restart a b"))                     // one call, one refusal
	h.decide(t, t2, "Bash", bash("docker restart web; docker volume rm x")) // the worst result
	h.decide(t, t2, "Bash", bash("docker ps"))
	h.decide(t, t3, "MultiEdit", file("/etc/x.conf"))
	h.decide(t, t3, "Write", file("/repos/x"))
	h.decide(t, t3, "mcp__github__create_issue", nil)
	h.decide(t, t3, "mcp__ops__restart_service", nil)
	h.decide(t, t3, "Read", file("/root/.ssh/id_rsa"))
	h.decide(t, t3, "Teleport", nil)
	for _, c := range []struct {
		tool, result string
		want         float64
	}{
		{"Bash", ResultRefusedUntyped, 2}, {"Bash", ResultRefusedNever, 1},
		{"Edit", ResultRefusedUntyped, 1}, {"Write", ResultRefusedNever, 1},
		{"mcp", ResultRefusedUntyped, 1}, {"mcp", ResultRefusedNever, 0},
		{"other", ResultRefusedNever, 1}, {"other", ResultRefusedUntyped, 1},
	} {
		if got := testutil.ToFloat64(h.g.metrics.refusals.WithLabelValues(c.tool, c.result)); got != c.want {
			t.Errorf("refusals{%s,%s} = %v, want %v", c.tool, c.result, got, c.want)
		}
	}
	if n, err := testutil.GatherAndCount(h.reg, "claudeops_gate_refusals_total"); err != nil || n != 10 {
		t.Errorf("series = %d, %v", n, err)
	}
	if n, _ := testutil.GatherAndCount(h.reg, "claudeops_remediation_actions_total"); n != 0 {
		t.Errorf("the gate registers claudeops_remediation_actions_total (%d series)", n)
	}
}

func TestToolLabel(t *testing.T) {
	for tool, want := range map[string]string{
		"Bash": "Bash", "Edit": "Edit", "MultiEdit": "Edit", "NotebookEdit": "Edit", "Write": "Write",
		"mcp__ops__restart_service": "mcp", "mcp__x__y": "mcp", "Read": "other", "Teleport": "other", "": "other",
	} {
		if got := toolLabel(tool); got != want {
			t.Errorf("toolLabel(%q) = %q, want %q", tool, got, want)
		}
	}
}

// Recording is best effort: a broken ledger changes no answer.
func TestLedgerErrorStillDecides(t *testing.T) {
	h := newHarness(t)
	h.ledger.err = errors.New("disk full")
	if d := h.decide(t, t3, "Bash", bash("docker restart web")); d.Allow || !strings.Contains(d.Reason, "mcp__ops__restart_service") {
		t.Errorf("restart with a broken ledger: %+v", d)
	}
	if len(h.actions) != 1 {
		t.Errorf("actions reported = %+v", h.actions)
	}
	if d := h.decide(t, t3, "Bash", bash("docker ps")); !d.Allow {
		t.Errorf("read-only refused with a broken ledger: %s", d.Reason)
	}
}

func TestNewNeedsLedger(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a ledger succeeded")
	}
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t)
	info := SessionInfo{ID: "s", Tier: session.Tier3, Service: "web"}
	tok, unregister := h.g.Register(info)
	ctx := context.Background()
	req := DecideRequest{SessionID: "s", Token: tok, ToolName: "Bash", ToolInput: bash("docker ps")}
	if d := h.g.Decide(ctx, req); !d.Allow {
		t.Fatalf("registered session refused: %s", d.Reason)
	}
	bad := req
	bad.Token = strings.Repeat("0", len(tok))
	if d := h.g.Decide(ctx, bad); d.Allow {
		t.Error("bad token allowed")
	}
	bad = req
	bad.Token = ""
	if d := h.g.Decide(ctx, bad); d.Allow {
		t.Error("empty token allowed")
	}
	bad = req
	bad.SessionID = "other"
	if d := h.g.Decide(ctx, bad); d.Allow {
		t.Error("unknown session allowed")
	}
	unregister()
	if d := h.g.Decide(ctx, req); d.Allow {
		t.Error("unregistered session allowed")
	}
}

func TestSettings(t *testing.T) {
	raw := Settings([]string{"/opt/claude ops/bin'x", "hook", "pre-tool-use"})
	var v struct {
		Hooks map[string][]struct {
			Matcher string `json:"matcher"`
			Hooks   []struct {
				Type    string `json:"type"`
				Command string `json:"command"`
				Timeout int    `json:"timeout"`
			} `json:"hooks"`
		} `json:"hooks"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	m := v.Hooks["PreToolUse"]
	if len(m) != 1 || m[0].Matcher != "*" || len(m[0].Hooks) != 1 {
		t.Fatalf("settings = %s", raw)
	}
	h := m[0].Hooks[0]
	want := `'/opt/claude ops/bin'\''x' 'hook' 'pre-tool-use'`
	if h.Type != "command" || h.Command != want || h.Timeout != 30 {
		t.Errorf("hook = %+v, want command %s", h, want)
	}
}

// The store is the production ledger.
var _ Ledger = (*store.Store)(nil)
