// Package gate is the daemon side of the PreToolUse hook: every tool call a
// session's CLI wants to make is sent here (through the hook client in
// hook.go) and ruled on by code. It is an early refusal layer, not the safety
// boundary: changes are typed actions served by the daemon's MCP server ops
// (mcp__ops__*) and decided by its action chain, and sessions run in a
// read-only sandbox. The gate lets only reading through, at every tier and in
// dry-run alike: read-only Bash steps, file reads outside secrets, read-only
// MCP tools and the ops server's tools (which authenticate the session and
// decide themselves). Everything else is refused, recorded in the ledger
// (best effort) and counted. It fails closed: an unknown session, an unknown
// command or tool, or an unreachable daemon all deny.
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

// Results of a refusal: the result label of claudeops_gate_refusals_total and
// the ledger's Result (the store's vocabulary). The gate allows without
// recording anything.
const (
	// ResultRefusedNever: refused whatever the tool: SPEC.md §2 "Never", a
	// write under the repos dir or to a secret, a read of a secret, or a
	// command that cannot be checked (opaque).
	ResultRefusedNever = store.ResultRefusedNever
	// ResultRefusedUntyped: a change attempted outside the typed actions: a
	// restart, redeploy or other mutating Bash step, a file edit, an MCP tool
	// (not the ops server's) that may change state, an unknown tool.
	ResultRefusedUntyped = store.ResultRefusedUntyped
)

// Actions of the ledger: restart, redeploy, other.
const (
	ActionRestart  = store.ActionRestart
	ActionRedeploy = store.ActionRedeploy
	ActionOther    = store.ActionOther
)

// StageGate is the Stage of the gate's ledger records and session actions.
const StageGate = "gate"

// OpsToolPrefix is the prefix of the daemon's own MCP server's tools (the
// server is named "ops"): they pass the gate, the server's chain decides.
const OpsToolPrefix = "mcp__ops__"

// typedTools tells the model what to do instead of an untyped change.
const typedTools = "act through the typed tools: mcp__ops__restart_service, mcp__ops__redeploy_service or mcp__ops__run_playbook"

func actionOf(k policy.Kind) string {
	switch k {
	case policy.Restart:
		return ActionRestart
	case policy.Redeploy:
		return ActionRedeploy
	}
	return ActionOther
}

// ActionRecord is one refusal as the ledger stores it.
type ActionRecord = store.ActionRecord

// Ledger is the audit trail refusals are recorded in (store.Store implements
// it).
type Ledger interface {
	// RecordAction stores rec as is.
	RecordAction(ctx context.Context, rec ActionRecord) error
}

// SessionInfo is the session a hook asks for.
type SessionInfo = session.Binding

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
	// Ledger is required: refusals are recorded in it (best effort).
	Ledger Ledger
	// Registerer receives claudeops_gate_refusals_total; nil for none.
	Registerer prometheus.Registerer
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
	metrics *metrics

	mu       sync.Mutex
	sessions map[string]registered
}

// New returns a gate. It registers its metric with cfg.Registerer (and
// panics, as promauto does, if that metric is registered already).
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
	return &Gate{cfg: cfg, metrics: newMetrics(cfg.Registerer), sessions: map[string]registered{}}, nil
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
// token, gets an answer other than deny. A call is allowed when every step it
// makes only reads (or it is a tool of the ops server); otherwise every step
// that does not only read is recorded in the ledger (best effort, before the
// deny is returned), reported to OnDecision, and the call is counted in
// claudeops_gate_refusals_total.
func (g *Gate) Decide(ctx context.Context, req DecideRequest) Decision {
	info, ok := g.lookup(req.SessionID, req.Token)
	if !ok {
		return deny("unknown session or bad token", nil)
	}
	var d Decision
	if strings.HasPrefix(req.ToolName, OpsToolPrefix) && len(req.ToolName) > len(OpsToolPrefix) {
		// The ops server authenticates the session and its chain decides.
		d = Decision{Allow: true, Reason: "typed action: the ops server decides"}
	} else {
		steps, command, err := g.classify(req)
		if err != nil {
			return deny(err.Error(), nil)
		}
		d = g.rule(ctx, info, req.ToolName, steps, command)
	}
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
			return nil, "", fmt.Errorf("malformed tool input: %w", err)
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

// verdict is the ruling on one refused step.
type verdict struct {
	step    policy.Step
	service string
	result  string
	reason  string
}

// untypedReason is the reason given for refusing a step of tool that would
// change something, telling the model what to do instead.
func untypedReason(tool string, s policy.Step) string {
	switch toolLabel(tool) {
	case toolBash:
		return "Bash only reads here; " + typedTools + " (" + s.Reason + ")"
	case toolEdit, toolWrite:
		return tool + " is not available: files are not edited here; " + typedTools + " (" + s.Reason + ")"
	case toolMCP:
		return tool + " may change state: only read-only MCP tools pass; " + typedTools + " (" + s.Reason + ")"
	}
	return tool + " is not a known read-only tool; " + typedTools + " (" + s.Reason + ")"
}

// rule lets through calls whose steps all only read and refuses the others,
// the same way at every tier and in dry-run.
func (g *Gate) rule(ctx context.Context, info SessionInfo, tool string, steps []policy.Step, command string) Decision {
	var refused []verdict
	result := ResultRefusedUntyped
	for _, s := range steps {
		if s.Kind == policy.ReadOnly && !s.Opaque {
			continue
		}
		// Steps that name no service are recorded against the incident's.
		v := verdict{step: s, service: s.Service}
		if v.service == "" {
			v.service = info.Service
		}
		switch {
		case s.Kind == policy.Never:
			v.result, v.reason = ResultRefusedNever, "never allowed: "+s.Reason
		case s.Opaque:
			v.result, v.reason = ResultRefusedNever, "cannot be checked: "+s.Reason
		default:
			v.result, v.reason = ResultRefusedUntyped, untypedReason(tool, s)
		}
		if v.result == ResultRefusedNever {
			result = ResultRefusedNever
		}
		refused = append(refused, v)
	}
	if len(refused) == 0 {
		return Decision{Allow: true, Reason: "read-only", Steps: steps}
	}
	g.metrics.refusals.WithLabelValues(toolLabel(tool), result).Inc()
	g.record(ctx, info, command, refused)
	return deny(reasons(refused), steps)
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

func (g *Gate) recordOf(info SessionInfo, command string, v verdict) ActionRecord {
	if len(command) > maxCommand {
		command = command[:maxCommand] + "…"
	}
	service := v.service
	if service == "" {
		service = "unknown"
	}
	return ActionRecord{
		Time: g.cfg.Now(), SessionID: info.ID, IncidentID: info.IncidentID, Service: service,
		Action: actionOf(v.step.Kind), Result: v.result, Command: command, Reason: v.reason, Tier: int(info.Tier),
		Stage: StageGate, Target: v.step.Service,
	}
}

// record stores refusals (best effort: the call is denied either way) and
// reports them to the session (SessionInfo.Report).
func (g *Gate) record(ctx context.Context, info SessionInfo, command string, vs []verdict) {
	for _, v := range vs {
		rec := g.recordOf(info, command, v)
		if err := g.cfg.Ledger.RecordAction(ctx, rec); err != nil {
			g.cfg.Logger.Error("gate: ledger", "err", err)
		}
		if info.Report != nil {
			info.Report(session.Action{
				Time: rec.Time, Service: rec.Service, Action: rec.Action, Result: rec.Result,
				Stage: rec.Stage, Target: rec.Target, Tier: info.Tier, Command: rec.Command, Reason: rec.Reason,
			})
		}
	}
}
