package gate

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// memLedger is an in-memory Ledger with the store's semantics.
type memLedger struct {
	mu   sync.Mutex
	recs []ActionRecord
	err  error
}

func (l *memLedger) TryAction(_ context.Context, rec ActionRecord, window time.Duration, limit int) (bool, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return false, 0, l.err
	}
	used := 0
	for _, r := range l.recs {
		if r.Service == rec.Service && r.Action == rec.Action && r.Result == ResultAllowed && r.Time.After(rec.Time.Add(-window)) {
			used++
		}
	}
	rec.Result = ResultRefusedCooldown
	if used < limit {
		rec.Result = ResultAllowed
	}
	l.recs = append(l.recs, rec)
	return used < limit, used, nil
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

func (l *memLedger) results() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		out = append(out, r.Service+"/"+r.Action+"/"+r.Result)
	}
	return out
}

type budget bool

type harness struct {
	g         *Gate
	ledger    *memLedger
	reg       *prometheus.Registry
	now       time.Time
	actions   []session.Action
	cooldowns []string
	budget    budget
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{ledger: &memLedger{}, reg: prometheus.NewRegistry(), now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	g, err := New(Config{
		ReposDir:   "/repos",
		Limits:     DefaultLimits,
		Ledger:     h.ledger,
		Budget:     &h.budget,
		Registerer: h.reg,
		Now:        func() time.Time { return h.now },
		OnDecision: func(_ string, a session.Action) {
			mu.Lock()
			h.actions = append(h.actions, a)
			mu.Unlock()
		},
		OnCooldownRefusal: func(incident, reason string) {
			mu.Lock()
			h.cooldowns = append(h.cooldowns, incident)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.g = g
	return h
}

func (b *budget) Exhausted() bool { return bool(*b) }

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
	tok, unregister := h.g.Register(info)
	defer unregister()
	return h.g.Decide(context.Background(), DecideRequest{SessionID: info.ID, Token: tok, ToolName: tool, ToolInput: input, Cwd: "/repos"})
}

func TestDecideTable(t *testing.T) {
	t1 := SessionInfo{ID: "s1", Tier: session.Tier1, IncidentID: "i1", Service: "web"}
	t2 := SessionInfo{ID: "s2", Tier: session.Tier2, IncidentID: "i2", Service: "web"}
	t3 := SessionInfo{ID: "s3", Tier: session.Tier3, IncidentID: "i3", Service: "web"}
	dry := SessionInfo{ID: "s4", Tier: session.Tier3, IncidentID: "i4", Service: "web", DryRun: true}
	type call struct {
		info   SessionInfo
		tool   string
		input  json.RawMessage
		allow  bool
		result string // last ledger record's result, "" = nothing recorded
	}
	cases := []struct {
		name  string
		calls []call
	}{
		{"read-only at tier 1", []call{{t1, "Bash", bash("docker ps; curl -s http://x/health"), true, ""}}},
		{"restart at tier 1", []call{{t1, "Bash", bash("docker restart web"), false, ResultRefusedTier}}},
		{"restart at tier 2 twice then cooldown", []call{
			{t2, "Bash", bash("docker restart web"), true, ResultAllowed},
			{t2, "Bash", bash("systemctl restart web"), true, ResultAllowed},
			{t2, "Bash", bash("docker restart web"), false, ResultRefusedCooldown},
		}},
		{"restart of another service has its own cooldown", []call{
			{t2, "Bash", bash("docker restart web"), true, ResultAllowed},
			{t2, "Bash", bash("docker restart web"), true, ResultAllowed},
			{t2, "Bash", bash("docker restart db"), true, ResultAllowed},
		}},
		{"one command restarting two services counts for both", []call{
			{t2, "Bash", bash("docker restart a b"), true, ResultAllowed},
			{t2, "Bash", bash("docker restart a; docker restart b"), true, ResultAllowed},
			{t2, "Bash", bash("docker restart b"), false, ResultRefusedCooldown},
		}},
		{"compose restart without a service counts for the incident's", []call{
			{t2, "Bash", bash("docker compose restart"), true, ResultAllowed},
			{t2, "Bash", bash("docker compose restart"), true, ResultAllowed},
			{t2, "Bash", bash("docker restart web"), false, ResultRefusedCooldown},
		}},
		{"restart of no known service", []call{{SessionInfo{ID: "s5", Tier: session.Tier2}, "Bash", bash("docker compose restart"), false, ResultRefusedNever}}},
		{"redeploy at tier 2", []call{{t2, "Bash", bash("docker compose up -d --force-recreate web"), false, ResultRefusedTier}}},
		{"redeploy at tier 3 once per window", []call{
			{t3, "Bash", bash("helm upgrade web ./chart"), true, ResultAllowed},
			{t3, "Bash", bash("docker compose up -d web"), false, ResultRefusedCooldown},
		}},
		{"dry run", []call{
			{dry, "Bash", bash("docker restart web"), false, ResultDryRun},
			{dry, "Bash", bash("docker ps"), true, ""},
		}},
		{"never at tier 3", []call{{t3, "Bash", bash("docker volume rm data"), false, ResultRefusedNever}}},
		{"never hidden in a wrapper", []call{{t3, "Bash", bash(`ssh h "sudo sh -c 'docker system prune -af'"`), false, ResultRefusedNever}}},
		{"opaque at tier 3", []call{{t3, "Bash", bash(`$CMD`), false, ResultRefusedNever}}},
		{"unknown mutating at tier 2", []call{{t2, "Bash", bash("frobnicate --all"), false, ResultRefusedTier}}},
		{"permission fix at tier 2", []call{{t2, "Bash", bash("chmod 640 /etc/nginx/site.conf"), true, ResultAllowed}}},
		{"other mutating at tier 3", []call{{t3, "Bash", bash("docker stop worker"), true, ResultAllowed}}},
		{"Edit under the repos dir", []call{{t3, "Edit", file("/repos/infra/compose.yml"), false, ResultRefusedNever}}},
		{"relative Write lands in the repos dir", []call{{t3, "Write", file("notes.md"), false, ResultRefusedNever}}},
		{"Write of a secret", []call{{t3, "Write", file("/etc/app/.env"), false, ResultRefusedNever}}},
		{"Write at tier 1", []call{{t1, "Write", file("/tmp/x"), false, ResultRefusedTier}}},
		{"config Edit at tier 2", []call{{t2, "Edit", file("/etc/nginx/nginx.conf"), true, ResultAllowed}}},
		{"Write of a binary at tier 2", []call{{t2, "Write", file("/usr/local/bin/ls"), false, ResultRefusedTier}}},
		{"Read of a secret", []call{{t3, "Read", file("/root/.ssh/id_rsa"), false, ResultRefusedNever}}},
		{"Read", []call{{t1, "Read", file("/etc/nginx/nginx.conf"), true, ""}}},
		{"read-only mcp tool", []call{{t1, "mcp__prom__query_range", json.RawMessage(`{}`), true, ""}}},
		{"mutating mcp tool at tier 2", []call{{t2, "mcp__ops__restart_service", json.RawMessage(`{}`), false, ResultRefusedTier}}},
		{"unknown tool at tier 1", []call{{t1, "Teleport", json.RawMessage(`{}`), false, ResultRefusedTier}}},
		{"structured output", []call{{t1, "StructuredOutput", json.RawMessage(`{"status":"ok"}`), true, ""}}},
		{"Bash without a command", []call{{t3, "Bash", json.RawMessage(`{}`), false, ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for i, c := range tc.calls {
				n := len(h.ledger.results())
				d := h.decide(t, c.info, c.tool, c.input)
				if d.Allow != c.allow {
					t.Fatalf("call %d (%s %s): allow = %v (%s), want %v", i, c.tool, c.input, d.Allow, d.Reason, c.allow)
				}
				recs := h.ledger.results()
				last := ""
				if len(recs) > n {
					last = recs[len(recs)-1][strings.LastIndex(recs[len(recs)-1], "/")+1:]
				}
				if last != c.result {
					t.Fatalf("call %d: recorded %q, want %q (ledger %q)", i, last, c.result, recs)
				}
				h.now = h.now.Add(time.Minute)
			}
		})
	}
}

func TestCooldownWindowSlides(t *testing.T) {
	h := newHarness(t)
	t2 := SessionInfo{ID: "s", Tier: session.Tier2, IncidentID: "i", Service: "web"}
	for i := 0; i < 2; i++ {
		if d := h.decide(t, t2, "Bash", bash("docker restart web")); !d.Allow {
			t.Fatalf("restart %d refused: %s", i, d.Reason)
		}
	}
	if d := h.decide(t, t2, "Bash", bash("docker restart web")); d.Allow {
		t.Fatal("third restart allowed")
	}
	if len(h.cooldowns) != 1 || h.cooldowns[0] != "i" {
		t.Errorf("cooldown refusals reported = %q", h.cooldowns)
	}
	h.now = h.now.Add(4*time.Hour + time.Second)
	if d := h.decide(t, t2, "Bash", bash("docker restart web")); !d.Allow {
		t.Fatalf("restart after the window refused: %s", d.Reason)
	}
}

func TestMetricsAndCallbacks(t *testing.T) {
	h := newHarness(t)
	t2 := SessionInfo{ID: "s", Tier: session.Tier2, IncidentID: "i", Service: "web"}
	h.decide(t, t2, "Bash", bash("docker restart web"))
	h.decide(t, t2, "Bash", bash("docker compose up -d api"))
	h.decide(t, t2, "Bash", bash(`docker restart 'we"b{x}'`))
	if got := testutil.ToFloat64(h.g.actions.WithLabelValues("web", "restart", "allowed")); got != 1 {
		t.Errorf("allowed restarts = %v", got)
	}
	if got := testutil.ToFloat64(h.g.actions.WithLabelValues("api", "redeploy", "refused_tier")); got != 1 {
		t.Errorf("refused redeploys = %v", got)
	}
	if len(h.actions) != 3 || h.actions[0].Action != "restart" || h.actions[0].Result != "allowed" || h.actions[0].Command != "docker restart web" {
		t.Errorf("actions reported = %+v", h.actions)
	}
	if n, err := testutil.GatherAndCount(h.reg, "claudeops_remediation_actions_total"); err != nil || n != 3 {
		t.Errorf("series = %d, %v", n, err)
	}
}

func TestBudgetExhausted(t *testing.T) {
	h := newHarness(t)
	h.budget = true
	t3 := SessionInfo{ID: "s", Tier: session.Tier3, IncidentID: "i", Service: "web"}
	if d := h.decide(t, t3, "Bash", bash("docker restart web")); d.Allow || !strings.Contains(d.Reason, "budget") {
		t.Fatalf("restart with the budget spent: %+v", d)
	}
	if d := h.decide(t, t3, "Bash", bash("docker ps")); !d.Allow {
		t.Fatalf("read-only with the budget spent refused: %s", d.Reason)
	}
	if r := h.ledger.results(); len(r) != 1 || !strings.HasSuffix(r[0], ResultRefusedBudget) {
		t.Errorf("ledger = %q", r)
	}
}

func TestLedgerErrorDenies(t *testing.T) {
	h := newHarness(t)
	h.ledger.err = errors.New("disk full")
	t3 := SessionInfo{ID: "s", Tier: session.Tier3, IncidentID: "i", Service: "web"}
	for _, cmd := range []string{"docker restart web", "docker stop web"} {
		if d := h.decide(t, t3, "Bash", bash(cmd)); d.Allow {
			t.Errorf("%q allowed with a broken ledger", cmd)
		}
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

func TestLabelLimiter(t *testing.T) {
	l := newLabelLimiter(2)
	if got := l.label(`a b"c`); got != "a_b_c" {
		t.Errorf("sanitized = %q", got)
	}
	l.label("x")
	if got := l.label("y"); got != "other" {
		t.Errorf("over the limit = %q", got)
	}
	if got := l.label("x"); got != "x" {
		t.Errorf("known label = %q", got)
	}
	if got := l.label(""); got != "unknown" {
		t.Errorf("empty = %q", got)
	}
}

// The store is the production ledger.
var _ Ledger = (*store.Store)(nil)
