package session

// ActionKind is a typed action a session may ask the daemon for
// (docs/SPEC.md §2): the only way a session changes anything. Each kind is
// also the `action` label of the action metrics and the ledger's action
// column.
type ActionKind string

const (
	// Changes: decided by the whole chain, charged to a cooldown class.
	ActionRestart  ActionKind = "restart"
	ActionRedeploy ActionKind = "redeploy"
	ActionPlaybook ActionKind = "playbook"

	// Read-only probes: decided by the tier and target stages only.
	ProbeContainerStatus ActionKind = "container_status"
	ProbeContainerLogs   ActionKind = "container_logs"
	ProbeUnitStatus      ActionKind = "unit_status"
	ProbeHTTP            ActionKind = "http_probe"
	ProbeDeclaredCheck   ActionKind = "declared_check"
	ProbePrometheus      ActionKind = "prometheus_query"
)

// ActionKinds lists every kind, for pre-initialising metric series.
var ActionKinds = []ActionKind{
	ActionRestart, ActionRedeploy, ActionPlaybook,
	ProbeContainerStatus, ProbeContainerLogs, ProbeUnitStatus, ProbeHTTP, ProbeDeclaredCheck, ProbePrometheus,
}

// Changes reports whether the kind changes something (as opposed to a probe).
func (k ActionKind) Changes() bool {
	return k == ActionRestart || k == ActionRedeploy || k == ActionPlaybook
}

// Stage names one step of the action chain; a refusal names the stage that
// refused. The order is the chain's.
type Stage string

const (
	StageTier        Stage = "tier"
	StageTarget      Stage = "target"
	StageScope       Stage = "scope"
	StageCooldown    Stage = "cooldown"
	StageBlastRadius Stage = "blast_radius"
	StageBudget      Stage = "budget"
	StageDryRun      Stage = "dry_run"
	StageExecute     Stage = "execute"
	StageVerify      Stage = "verify"
)

// Stages is the chain's order.
var Stages = []Stage{
	StageTier, StageTarget, StageScope, StageCooldown, StageBlastRadius, StageBudget, StageDryRun, StageExecute, StageVerify,
}

// ActionResult is how a typed action call ended: the `result` label.
type ActionResult string

const (
	// ResultDone: executed and verified by the engine (or, for a probe, answered).
	ResultDone ActionResult = "done"
	// ResultProposed: dry-run; every check passed and nothing was done.
	ResultProposed ActionResult = "proposed"
	// ResultRefused: a stage before execution refused; nothing was done.
	ResultRefused ActionResult = "refused"
	// ResultFailed: execution failed.
	ResultFailed ActionResult = "failed"
	// ResultUnverified: executed, but the engine does not confirm the effect.
	ResultUnverified ActionResult = "unverified"
)

// ActionResults lists every result, for pre-initialising metric series.
var ActionResults = []ActionResult{ResultDone, ResultProposed, ResultRefused, ResultFailed, ResultUnverified}

// Binding is what the daemon knows of one running session, handed to each
// part that serves it (the gate, the ops server, the API proxy): who it is,
// and where what it does is reported.
type Binding struct {
	ID, IncidentID string
	// Service is the incident's alerted service as the alert named it; ""
	// outside an incident (scheduled and manual runs), where no change is
	// in scope.
	Service string
	Tier    Tier
	DryRun  bool
	// Report, when set, receives each decided step of the session (the
	// chain's actions, the gate's refusals) for its record.
	Report func(Action)
	// Refused, when set, receives each change that a limit refused
	// (cooldown, blast radius, budget): the incident then needs a human.
	Refused func(stage Stage, reason string)
}

// Limited reports whether a refusal at this stage is a limit's (a human
// decides next), not the model's mistake (a wrong target or tier, for its
// next attempt).
func (s Stage) Limited() bool {
	return s == StageCooldown || s == StageBlastRadius || s == StageBudget
}
