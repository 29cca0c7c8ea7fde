// Package session holds the data model shared by everything that starts, runs or
// reports on a Claude Code session: what is asked (Request), what came of it
// (Record), and the closed vocabularies (Tier, Trigger, Outcome) that label metrics.
package session

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Tier is the escalation level of a session (SPEC.md §2).
type Tier int

const (
	Tier1 Tier = 1 // observe
	Tier2 Tier = 2 // investigate, safe fixes
	Tier3 Tier = 3 // full remediation
)

// Valid reports whether t is one of the three tiers.
func (t Tier) Valid() bool { return t >= Tier1 && t <= Tier3 }

func (t Tier) String() string { return fmt.Sprintf("%d", int(t)) }

// Trigger says why a session started; it is a metric label.
type Trigger string

const (
	TriggerSchedule Trigger = "schedule"
	TriggerManual   Trigger = "manual"
	TriggerAlert    Trigger = "alert"
)

// Outcome is how a session ended; it is a metric label (SPEC.md §7).
type Outcome string

const (
	OutcomeHealthy     Outcome = "healthy"
	OutcomeIssuesFound Outcome = "issues_found"
	OutcomeRemediated  Outcome = "remediated"
	OutcomeNotFixed    Outcome = "not_fixed"
	OutcomeEscalated   Outcome = "escalated"
	OutcomeNeedsHuman  Outcome = "needs_human"
	OutcomeResolved    Outcome = "resolved"
	OutcomeDryRun      Outcome = "dry_run"
	OutcomeError       Outcome = "error"
	OutcomeTimeout     Outcome = "timeout"
	// OutcomeBudgetExhausted: the proxy refused a request once the
	// session's or the day's budget was spent.
	OutcomeBudgetExhausted Outcome = "budget_exhausted"
	// OutcomeAuthFailed: the model API rejected the daemon's key (401); the
	// session ended at its first request, without retries.
	OutcomeAuthFailed Outcome = "auth_failed"
	// OutcomeInterrupted: the daemon shut down while the session ran (issue 4).
	OutcomeInterrupted Outcome = "interrupted"
	// OutcomeRunning is the outcome of a session that has not ended yet.
	OutcomeRunning Outcome = "running"
)

// Outcomes lists every final outcome, for pre-initialising metric series.
var Outcomes = []Outcome{
	OutcomeHealthy, OutcomeIssuesFound, OutcomeRemediated, OutcomeNotFixed,
	OutcomeEscalated, OutcomeNeedsHuman, OutcomeResolved, OutcomeDryRun,
	OutcomeError, OutcomeTimeout, OutcomeInterrupted, OutcomeBudgetExhausted,
	OutcomeAuthFailed,
}

// CancelCause is given to context.WithCancelCause to say why a running session is
// stopped; the runner turns it into the session's outcome.
type CancelCause struct{ Outcome Outcome }

func (c *CancelCause) Error() string { return "session cancelled: " + string(c.Outcome) }

// Cancelled returns the cause that ends a session with outcome o.
func Cancelled(o Outcome) error { return &CancelCause{Outcome: o} }

// OutcomeOf extracts the outcome carried by a cancel cause, if any.
func OutcomeOf(err error) (Outcome, bool) {
	var c *CancelCause
	if errors.As(err, &c) {
		return c.Outcome, true
	}
	return "", false
}

// Policy is the tool policy a session runs under: what the CLI is given with
// --tools, --allowedTools and --disallowedTools.
type Policy struct {
	Tools    []string `json:"tools"`
	Allow    []string `json:"allow"`
	Deny     []string `json:"deny"`
	MaxTurns int      `json:"max_turns"`
}

// Request is everything the runner needs to start one session. The caller
// builds the prompt; the runner knows nothing of tiers beyond the schema.
type Request struct {
	ID         string
	Tier       Tier
	Trigger    Trigger
	Model      string
	IncidentID string

	// Prompt is the user prompt; SystemPrompt is appended to the CLI's system prompt.
	Prompt       string
	SystemPrompt string
	Policy       Policy

	// MCPConfig is the merged MCP configuration (JSON); empty means none.
	MCPConfig json.RawMessage
	// Settings is given with --settings (hooks); empty means none.
	Settings json.RawMessage
	// MaxBudgetUSD is given with --max-budget-usd when positive.
	MaxBudgetUSD float64
	// Dir is the working directory of the CLI (the repos folder).
	Dir string
	// Env adds variables to the session's minimal environment (the gate's
	// address and session token, for example). Never secrets of the daemon.
	Env map[string]string
}

// Tokens counts tokens by kind for one model.
type Tokens struct {
	Input         int64 `json:"input"`
	Output        int64 `json:"output"`
	CacheRead     int64 `json:"cache_read"`
	CacheCreation int64 `json:"cache_creation"`
}

// Denial is one tool call the CLI refused (allow/deny rules or our hook).
type Denial struct {
	Tool   string          `json:"tool"`
	ToolID string          `json:"tool_use_id,omitempty"`
	Input  json.RawMessage `json:"input,omitempty"`
	Reason string          `json:"reason,omitempty"`
}

// Action is an action the daemon decided on during the session: a typed
// action call (Stage and Target set) or a Bash command the gate refused.
type Action struct {
	Time time.Time `json:"time"`
	// Service is the canonical service the action was charged to.
	Service string `json:"service"`
	Action  string `json:"action"`
	Result  string `json:"result"`
	// Stage is the chain stage that decided (the refusing one, or the last).
	Stage string `json:"stage,omitempty"`
	// Target is the service as the model named it.
	Target  string `json:"target,omitempty"`
	Tier    Tier   `json:"tier,omitempty"`
	Command string `json:"command,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Record is what a session was and what came of it. It is stored, served by
// the API and turned into metrics.
type Record struct {
	ID         string  `json:"id"`
	Tier       Tier    `json:"tier"`
	Model      string  `json:"model"`
	Trigger    Trigger `json:"trigger"`
	IncidentID string  `json:"incident_id,omitempty"`
	// Service is the incident's service, as the remediator named it: the
	// record is saved before the session starts, so a restart counts the
	// session for the blast radius even if its incident was not saved yet.
	Service string `json:"service,omitempty"`

	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end,omitzero"`
	Duration time.Duration `json:"duration_ns"`

	Outcome Outcome `json:"outcome"`
	// ErrorSubtype is the result line's subtype when it is not success, or a
	// short code of ours (cli_missing, exit_status, no_result, ...).
	ErrorSubtype string `json:"error_subtype,omitempty"`
	Reason       string `json:"reason,omitempty"`

	CLISessionID string            `json:"cli_session_id,omitempty"`
	Turns        int               `json:"turns"`
	CostUSD      float64           `json:"total_cost_usd"`
	Tokens       map[string]Tokens `json:"tokens,omitempty"` // by model
	// Metered: cost and tokens are what the daemon's API proxy counted as
	// the model served them (already in the metrics), not the CLI's claim.
	Metered bool     `json:"metered,omitempty"`
	Denials []Denial `json:"permission_denials,omitempty"`
	Actions []Action `json:"actions,omitempty"`

	StructuredOutput json.RawMessage `json:"structured_output,omitempty"`
	Transcript       string          `json:"transcript,omitempty"`
}

// Ended reports whether the record is final.
func (r *Record) Ended() bool { return r.Outcome != OutcomeRunning && r.Outcome != "" }

// NewID returns a session id that sorts by start time and is safe as a file name.
func NewID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
