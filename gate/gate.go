// Package gate is the daemon side of the PreToolUse hook: every tool call a
// session's CLI wants to make is sent here (through the hook client in
// hook.go) and ruled on by code, per tier, with cooldowns kept in a ledger
// (SPEC.md §2). It fails closed: an unknown session, an unknown command, a
// ledger error or an unreachable daemon all deny.
package gate

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/policy"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// Results of a decision: the result label of claudeops_remediation_actions_total
// and the ledger's Result (the store's vocabulary).
const (
	ResultAllowed         = store.ResultAllowed
	ResultRefusedCooldown = store.ResultRefusedCooldown
	ResultRefusedTier     = store.ResultRefusedTier
	ResultDryRun          = store.ResultDryRun
	ResultRefusedBudget   = store.ResultRefusedBudget
	// ResultRefusedNever: refused at every tier: SPEC.md §2 "Never", a
	// command that cannot be checked (opaque), or a restart of no known
	// service.
	ResultRefusedNever = store.ResultRefusedNever
	// ResultError: the ledger failed; the action was refused (metric only).
	ResultError = "error"
)

// Actions of the ledger and the metric: restart, redeploy, other.
const (
	ActionRestart  = store.ActionRestart
	ActionRedeploy = store.ActionRedeploy
	ActionOther    = store.ActionOther
)

func actionOf(k policy.Kind) string {
	switch k {
	case policy.Restart:
		return ActionRestart
	case policy.Redeploy:
		return ActionRedeploy
	}
	return ActionOther
}

// ActionRecord is one gated action as the ledger stores it.
type ActionRecord = store.ActionRecord

// Ledger persists gated actions and enforces cooldowns.
type Ledger interface {
	// TryAction counts the actions with rec's Service and Action and result
	// "allowed" in the window ending at rec.Time and, in the same durable
	// transaction, records rec as "allowed" when that count (used) is below
	// limit, as "refused_cooldown" otherwise (store.Store implements it).
	TryAction(ctx context.Context, rec ActionRecord, window time.Duration, limit int) (allowed bool, used int, err error)
	// RecordAction stores rec as is (refusals, dry runs, other mutations).
	RecordAction(ctx context.Context, rec ActionRecord) error
}

// Budget says whether the spending budget is used up.
type Budget interface {
	Exhausted() bool
}

// Limits are the cooldowns of SPEC.md §2, per service and action.
type Limits struct {
	MaxRestarts    int
	RestartWindow  time.Duration
	MaxRedeploys   int
	RedeployWindow time.Duration
}

// DefaultLimits are SPEC.md's defaults: 2 restarts per 4 h, 1 redeploy per 24 h.
var DefaultLimits = Limits{MaxRestarts: 2, RestartWindow: 4 * time.Hour, MaxRedeploys: 1, RedeployWindow: 24 * time.Hour}

// SessionInfo is what the gate knows of a running session.
type SessionInfo struct {
	ID         string
	Tier       session.Tier
	IncidentID string
	// Service is the incident's service: restarts that name none count here.
	Service string
	DryRun  bool
}

// DecideRequest is one tool call, as the hook client sends it.
type DecideRequest struct {
	SessionID string          `json:"session_id"`
	Token     string          `json:"token"`
	ToolName  string          `json:"tool_name"`
	ToolInput json.RawMessage `json:"tool_input"`
	Cwd       string          `json:"cwd"`
}

// Decision is the gate's answer.
type Decision struct {
	Allow  bool          `json:"allow"`
	Reason string        `json:"reason,omitempty"`
	Steps  []policy.Step `json:"steps,omitempty"`
}

// Config configures a Gate.
type Config struct {
	// ReposDir is the repos folder nothing may write to.
	ReposDir string
	Limits   Limits
	// Ledger is required.
	Ledger Ledger
	// Budget may be nil (no budget).
	Budget Budget
	// Registerer receives claudeops_remediation_actions_total; nil for none.
	Registerer prometheus.Registerer
	// OnDecision, if set, receives every recorded action of a session.
	OnDecision func(sessionID string, a session.Action)
	// OnCooldownRefusal, if set, is called when a cooldown refuses an action,
	// so the incident can go to needs-human.
	OnCooldownRefusal func(incidentID, reason string)
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

type registered struct {
	info  SessionInfo
	token string
}

// Gate rules on tool calls. It is safe for concurrent use.
type Gate struct {
	cfg     Config
	actions *prometheus.CounterVec
	labels  *labelLimiter

	mu       sync.Mutex
	sessions map[string]registered
}

// maxServiceLabels bounds the service label's cardinality.
const maxServiceLabels = 200

// New returns a gate. It registers its metric with cfg.Registerer.
func New(cfg Config) (*Gate, error) {
	if cfg.Ledger == nil {
		return nil, fmt.Errorf("gate: a ledger is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Gate{
		cfg:      cfg,
		labels:   newLabelLimiter(maxServiceLabels),
		sessions: map[string]registered{},
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "claudeops",
			Name:      "remediation_actions_total",
			Help:      "Actions ruled on by the gate, by service, action and result.",
		}, []string{"service", "action", "result"}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(g.actions); err != nil {
			return nil, fmt.Errorf("gate: register metrics: %w", err)
		}
	}
	return g, nil
}

// Register makes a session known to the gate and returns the token its hook
// must present; unregister forgets it (call it when the session ends).
func (g *Gate) Register(info SessionInfo) (token string, unregister func()) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("gate: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	token = hex.EncodeToString(b[:])
	g.mu.Lock()
	g.sessions[info.ID] = registered{info: info, token: token}
	g.mu.Unlock()
	return token, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if r, ok := g.sessions[info.ID]; ok && r.token == token {
			delete(g.sessions, info.ID)
		}
	}
}

func (g *Gate) lookup(id, token string) (SessionInfo, bool) {
	g.mu.Lock()
	r, ok := g.sessions[id]
	g.mu.Unlock()
	if !ok || token == "" || subtle.ConstantTimeCompare([]byte(r.token), []byte(token)) != 1 {
		return SessionInfo{}, false
	}
	return r.info, true
}

func deny(reason string, steps []policy.Step) Decision {
	return Decision{Allow: false, Reason: reason, Steps: steps}
}

// Decide rules on one tool call. Only the tool call's own session, with its
// token, gets an answer other than deny. Every step that is not read-only is
// recorded in the ledger (before an allow is returned), counted in the
// metric and reported to OnDecision.
func (g *Gate) Decide(ctx context.Context, req DecideRequest) Decision {
	info, ok := g.lookup(req.SessionID, req.Token)
	if !ok {
		return deny("unknown session or bad token", nil)
	}
	steps, command, err := g.classify(req)
	if err != nil {
		return deny(err.Error(), nil)
	}
	d := g.rule(ctx, info, steps, command)
	g.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "gate decision", slog.String("session", info.ID),
		slog.String("tool", req.ToolName), slog.Bool("allow", d.Allow), slog.String("reason", d.Reason))
	return d
}

// classify turns a tool call into steps.
func (g *Gate) classify(req DecideRequest) ([]policy.Step, string, error) {
	cl := policy.Classifier{ReposDir: g.cfg.ReposDir, Cwd: req.Cwd}
	var in map[string]any
	if len(req.ToolInput) > 0 && string(req.ToolInput) != "null" {
		if err := json.Unmarshal(req.ToolInput, &in); err != nil {
			return nil, "", fmt.Errorf("malformed tool input: %v", err)
		}
	}
	str := func(k string) string { s, _ := in[k].(string); return s }
	tool := req.ToolName
	switch tool {
	case "Bash":
		cmd := str("command")
		if strings.TrimSpace(cmd) == "" {
			return nil, "", fmt.Errorf("Bash call without a command")
		}
		return cl.Classify(cmd), cmd, nil
	case "Edit", "Write", "MultiEdit", "NotebookEdit":
		p := str("file_path")
		if tool == "NotebookEdit" && p == "" {
			p = str("notebook_path")
		}
		if p == "" {
			return nil, "", fmt.Errorf("%s call without a file path", tool)
		}
		s := cl.ClassifyWrite(p)
		s.Argv = []string{tool, p}
		return []policy.Step{s}, tool + " " + p, nil
	case "Read", "NotebookRead", "LS", "Grep", "Glob":
		p := str("file_path")
		if p == "" {
			p = str("path")
		}
		if p == "" {
			p = str("notebook_path")
		}
		if p == "" {
			return []policy.Step{{Kind: policy.ReadOnly, Argv: []string{tool}, Reason: "search"}}, tool, nil
		}
		s := cl.ClassifyRead(p)
		s.Argv = []string{tool, p}
		return []policy.Step{s}, tool + " " + p, nil
	case "WebFetch", "WebSearch", "TodoWrite", "Task", "Agent", "ExitPlanMode", "BashOutput", "TaskOutput",
		"KillShell", "KillBash", "StructuredOutput", "ListMcpResourcesTool", "ReadMcpResourceTool":
		return []policy.Step{{Kind: policy.ReadOnly, Argv: []string{tool}, Reason: "changes nothing outside the session"}}, tool, nil
	}
	if strings.HasPrefix(tool, "mcp__") {
		name := tool[strings.LastIndex(tool, "__")+2:]
		if mcpReadOnly(name) {
			return []policy.Step{{Kind: policy.ReadOnly, Argv: []string{tool}, Reason: "read-only MCP tool"}}, tool, nil
		}
		return []policy.Step{{Kind: policy.Mutating, Argv: []string{tool}, Reason: "MCP tool that may change state"}}, tool, nil
	}
	return []policy.Step{{Kind: policy.Mutating, Argv: []string{tool}, Reason: "unknown tool"}}, tool, nil
}

// mcpReadOnly says whether an MCP tool's name says it only reads:
// get_x, list-x, getX, status, health...
func mcpReadOnly(name string) bool {
	lower := strings.ToLower(name)
	for _, p := range []string{"get", "list", "query", "read", "search", "status", "health", "describe", "show", "check", "fetch", "find", "count", "inspect", "view"} {
		if lower == p || strings.HasPrefix(lower, p+"_") || strings.HasPrefix(lower, p+"-") {
			return true
		}
		if strings.HasPrefix(name, p) && len(name) > len(p) && name[len(p)] >= 'A' && name[len(p)] <= 'Z' {
			return true
		}
	}
	return false
}

// verdict is the ruling on one step.
type verdict struct {
	step    policy.Step
	service string
	result  string
	reason  string
}

// rule applies the tier rules to steps.
func (g *Gate) rule(ctx context.Context, info SessionInfo, steps []policy.Step, command string) Decision {
	budgetOut := g.cfg.Budget != nil && g.cfg.Budget.Exhausted()
	var pending, refused []verdict
	for _, s := range steps {
		if s.Kind == policy.ReadOnly && !s.Opaque {
			continue
		}
		// Steps that name no service are accounted to the incident's.
		v := verdict{step: s, service: s.Service}
		if v.service == "" {
			v.service = info.Service
		}
		switch {
		case s.Kind == policy.Never:
			v.result, v.reason = ResultRefusedNever, "never allowed: "+s.Reason
		case s.Opaque:
			v.result, v.reason = ResultRefusedNever, "cannot be checked: "+s.Reason
		case info.DryRun:
			v.result, v.reason = ResultDryRun, "dry run: would "+s.Kind.String()+" ("+s.Reason+")"
		case !info.Tier.Valid() || info.Tier == session.Tier1:
			v.result, v.reason = ResultRefusedTier, "tier 1 is read-only: "+s.Reason
		case info.Tier == session.Tier2 && s.Kind == policy.Redeploy:
			v.result, v.reason = ResultRefusedTier, "redeploys need tier 3: "+s.Reason
		case info.Tier == session.Tier2 && s.Kind == policy.Mutating && !s.SafeFix:
			v.result, v.reason = ResultRefusedTier, "tier 2 may only restart and repair permissions or config outside the repos: "+s.Reason
		case budgetOut:
			v.result, v.reason = ResultRefusedBudget, "budget exhausted"
		case (s.Kind == policy.Restart || s.Kind == policy.Redeploy) && v.service == "":
			v.result, v.reason = ResultRefusedNever, "cannot tell which service this "+s.Kind.String()+" acts on"
		default:
			pending = append(pending, v)
			continue
		}
		refused = append(refused, v)
	}
	if len(refused) > 0 {
		g.record(ctx, info, command, refused)
		return deny(reasons(refused), steps)
	}
	// Cooldowns: each restart and redeploy is charged to its service before
	// the answer is given, so a crash right after cannot lose it.
	var done []verdict
	for i, v := range pending {
		if v.step.Kind != policy.Restart && v.step.Kind != policy.Redeploy {
			continue
		}
		window, limit := g.cfg.Limits.RestartWindow, g.cfg.Limits.MaxRestarts
		if v.step.Kind == policy.Redeploy {
			window, limit = g.cfg.Limits.RedeployWindow, g.cfg.Limits.MaxRedeploys
		}
		rec := g.recordOf(info, command, v.service, actionOf(v.step.Kind), ResultAllowed, v.step.Reason)
		ok, used, err := g.cfg.Ledger.TryAction(ctx, rec, window, limit)
		if err != nil {
			v.result, v.reason = ResultError, "cooldown ledger unavailable"
			g.cfg.Logger.Error("gate: ledger", "err", err)
			g.emit(info, command, append(done, v))
			return deny(v.reason, steps)
		}
		if !ok {
			v.result = ResultRefusedCooldown
			v.reason = fmt.Sprintf("cooldown: %s of %s already done %d times in %s (limit %d)", v.step.Kind, v.service, used, window, limit)
			g.emit(info, command, append(done, v)) // TryAction recorded the refusal
			if g.cfg.OnCooldownRefusal != nil {
				g.cfg.OnCooldownRefusal(info.IncidentID, v.reason)
			}
			return deny(v.reason, steps)
		}
		v.result, v.reason = ResultAllowed, v.step.Reason
		pending[i] = v
		done = append(done, v)
	}
	var others []verdict
	for _, v := range pending {
		if v.step.Kind == policy.Mutating {
			v.result, v.reason = ResultAllowed, v.step.Reason
			others = append(others, v)
		}
	}
	for _, v := range others {
		rec := g.recordOf(info, command, v.service, actionOf(v.step.Kind), v.result, v.reason)
		if err := g.cfg.Ledger.RecordAction(ctx, rec); err != nil {
			g.cfg.Logger.Error("gate: ledger", "err", err)
			v.result, v.reason = ResultError, "action ledger unavailable"
			g.emit(info, command, append(done, v))
			return deny(v.reason, steps)
		}
	}
	g.emit(info, command, append(done, others...))
	return Decision{Allow: true, Reason: "allowed", Steps: steps}
}

func reasons(vs []verdict) string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vs {
		if !seen[v.reason] {
			seen[v.reason] = true
			out = append(out, v.reason)
		}
	}
	return strings.Join(out, "; ")
}

const maxCommand = 2000

func (g *Gate) recordOf(info SessionInfo, command, service, action, result, reason string) ActionRecord {
	if len(command) > maxCommand {
		command = command[:maxCommand] + "…"
	}
	if service == "" {
		service = "unknown"
	}
	return ActionRecord{
		Time: g.cfg.Now(), SessionID: info.ID, IncidentID: info.IncidentID, Service: service,
		Action: action, Result: result, Command: command, Reason: reason, Tier: int(info.Tier),
	}
}

// record stores refusals (best effort: the call is denied either way) and
// emits them.
func (g *Gate) record(ctx context.Context, info SessionInfo, command string, vs []verdict) {
	for _, v := range vs {
		rec := g.recordOf(info, command, v.service, actionOf(v.step.Kind), v.result, v.reason)
		if err := g.cfg.Ledger.RecordAction(ctx, rec); err != nil {
			g.cfg.Logger.Error("gate: ledger", "err", err)
		}
	}
	g.emit(info, command, vs)
}

// emit counts and reports decided steps.
func (g *Gate) emit(info SessionInfo, command string, vs []verdict) {
	for _, v := range vs {
		g.actions.WithLabelValues(g.labels.label(v.service), actionOf(v.step.Kind), v.result).Inc()
		if g.cfg.OnDecision != nil {
			rec := g.recordOf(info, command, v.service, actionOf(v.step.Kind), v.result, v.reason)
			g.cfg.OnDecision(info.ID, session.Action{
				Time: rec.Time, Service: rec.Service, Action: rec.Action, Result: rec.Result,
				Command: rec.Command, Reason: rec.Reason,
			})
		}
	}
}

// labelLimiter sanitizes service labels and bounds their number.
type labelLimiter struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func newLabelLimiter(n int) *labelLimiter { return &labelLimiter{max: n, seen: map[string]bool{}} }

func (l *labelLimiter) label(s string) string {
	if s == "" {
		return "unknown"
	}
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 63 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s = b.String()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seen[s] {
		if len(l.seen) >= l.max {
			return "other"
		}
		l.seen[s] = true
	}
	return s
}
