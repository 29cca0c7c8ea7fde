// Package actions is the only way a session changes anything: a typed action
// call (restart_service, redeploy_service, run_playbook, or a read-only probe)
// passes one ordered chain of checks (tier → target → scope → cooldown →
// blast radius → budget → dry-run), each a small pure function in this file,
// before the daemon itself executes it through a driver (the container
// engine, systemd, a command the repo owner declared) and verifies the effect
// with the engine. Every decision of a change is written to the ledger before
// anything runs (docs/SPEC.md §2).
package actions

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

// Cooldown classes a change is charged to.
const (
	classRestart  = string(repos.CooldownRestart)
	classRedeploy = string(repos.CooldownRedeploy)
	classNone     = string(repos.CooldownNone)
)

// Session is the session a call comes from.
type Session = session.Binding

// Call is one typed action call as the model made it.
type Call struct {
	Kind session.ActionKind
	// Target is the service as the model named it (any alias), or the URL of
	// an http_probe, or the expression of a prometheus_query.
	Target string
	// Name is the playbook of run_playbook or the check of declared_check.
	Name string
	// Method is http_probe's (GET or HEAD); Tail container_logs' line count.
	Method string
	Tail   int
}

// Limits are the cooldowns (per service and class, sliding windows) and the
// blast radius (services changed per window).
type Limits struct {
	MaxRestarts    int
	RestartWindow  time.Duration
	MaxRedeploys   int
	RedeployWindow time.Duration
	// MaxServices is how many distinct services may be changed within
	// BlastWindow; 0 means no limit.
	MaxServices int
	BlastWindow time.Duration
}

// Window and limit of a cooldown class ("" for a class without one).
func (l Limits) cooldown(class string) (time.Duration, int, bool) {
	switch class {
	case classRestart:
		return l.RestartWindow, l.MaxRestarts, true
	case classRedeploy:
		return l.RedeployWindow, l.MaxRedeploys, true
	}
	return 0, 0, false
}

// Windows maps each cooldown class to its window, as the ledger's
// CooldownState takes it.
func (l Limits) Windows() map[string]time.Duration {
	return map[string]time.Duration{classRestart: l.RestartWindow, classRedeploy: l.RedeployWindow}
}

// Facts are everything a decision depends on, read before it: the decision
// itself is a pure function of them.
type Facts struct {
	Session Session
	Call    Call
	Catalog *services.Catalog
	Limits  Limits
	// Used is the ledger's cooldown state: service → class → allowed
	// actions within the class's window.
	Used map[string]map[string]int
	// Changed are the services changed within the blast window.
	Changed []string
	// BudgetExhausted: the day's budget is spent.
	BudgetExhausted bool
	// PrometheusURL is set when prometheus_query can be answered.
	PrometheusURL string
}

// Verdict is a decision. A verdict that is neither refused nor proposed goes
// on to execution.
type Verdict struct {
	// Stage is the stage that refused or, for a dry run, StageDryRun; empty
	// when every stage passed.
	Stage    session.Stage
	Refused  bool
	Proposed bool
	Reason   string

	// What the stages resolved: the canonical service, the playbook or
	// check, and the cooldown class the action is charged to.
	Service  *services.Service
	Playbook *repos.PlaybookDecl
	Check    *repos.CheckDecl
	Class    string
}

// Result is the ledger's result of a decision (docs/SPEC.md §7
// remediation_actions_total): allowed, dry_run or refused_<stage>.
func (v Verdict) Result() string {
	switch {
	case v.Refused:
		return "refused_" + string(v.Stage)
	case v.Proposed:
		return "dry_run"
	}
	return "allowed"
}

// stage is one step of the chain: it returns a refusal reason, or "" to pass.
type stage struct {
	name  session.Stage
	check func(f *Facts, v *Verdict) string
	// changesOnly: probes skip the stage.
	changesOnly bool
}

// chain is the order of docs/SPEC.md §2. Execution and verification follow
// in Chain.Do.
var chain = []stage{
	{name: session.StageTier, check: tierStage},
	{name: session.StageTarget, check: targetStage},
	{name: session.StageScope, check: scopeStage, changesOnly: true},
	{name: session.StageCooldown, check: cooldownStage, changesOnly: true},
	{name: session.StageBlastRadius, check: blastRadiusStage, changesOnly: true},
	{name: session.StageBudget, check: budgetStage, changesOnly: true},
}

// Decide runs the chain on f: the first stage that refuses decides; a change
// that passes every stage in dry-run is proposed.
func Decide(f Facts) Verdict {
	var v Verdict
	for _, s := range chain {
		if s.changesOnly && !f.Call.Kind.Changes() {
			continue
		}
		if reason := s.check(&f, &v); reason != "" {
			v.Stage, v.Refused, v.Reason = s.name, true, reason
			return v
		}
	}
	if f.Call.Kind.Changes() && f.Session.DryRun {
		v.Stage, v.Proposed = session.StageDryRun, true
		v.Reason = fmt.Sprintf("dry run: would %s %s", verb(f.Call), v.Service.Name)
	}
	return v
}

func verb(c Call) string {
	if c.Kind == session.ActionPlaybook {
		return "run playbook " + c.Name + " of"
	}
	return string(c.Kind)
}

// tierStage: Tier 1 only probes; restarts and playbooks need Tier 2 (and a
// playbook its declared minimum tier); redeploys need Tier 3.
func tierStage(f *Facts, _ *Verdict) string {
	t := f.Session.Tier
	switch {
	case !t.Valid():
		return fmt.Sprintf("invalid tier %d", int(t))
	case !f.Call.Kind.Changes():
		return ""
	case t < session.Tier2:
		return fmt.Sprintf("tier %d only observes: %s needs tier 2 or above", int(t), f.Call.Kind)
	case f.Call.Kind == session.ActionRedeploy && t < session.Tier3:
		return fmt.Sprintf("redeploy needs tier 3; this session is tier %d", int(t))
	case f.Call.Kind == session.ActionPlaybook:
		if svc, ok := f.Catalog.Resolve(f.Call.Target); ok {
			if pb := playbookOf(svc, f.Call.Name); pb != nil && int(t) < pb.MinTier {
				return fmt.Sprintf("playbook %s of %s needs tier %d; this session is tier %d", pb.Name, svc.Name, pb.MinTier, int(t))
			}
		}
	}
	return ""
}

// targetStage resolves the target to one canonical service of the inventory
// (and the playbook or check to one the repo owner declared).
func targetStage(f *Facts, v *Verdict) string {
	switch f.Call.Kind {
	case session.ProbeHTTP:
		return httpTarget(f.Catalog, f.Call.Target)
	case session.ProbePrometheus:
		if f.PrometheusURL == "" {
			return "no Prometheus is configured (--prometheus.url)"
		}
		if strings.TrimSpace(f.Call.Target) == "" {
			return "empty PromQL expression"
		}
		return ""
	}
	svc, ok := f.Catalog.Resolve(f.Call.Target)
	if !ok {
		return fmt.Sprintf("unknown service %q; known services: %s", f.Call.Target, known(f.Catalog))
	}
	v.Service = svc
	hasContainers, hasUnit := len(svc.Containers) > 0, svc.Unit != ""
	switch f.Call.Kind {
	case session.ActionRestart:
		v.Class = classRestart
		if !hasContainers && !hasUnit {
			return fmt.Sprintf("service %s has no container or systemd unit to restart", svc.Name)
		}
	case session.ActionRedeploy:
		v.Class = classRedeploy
		if !hasContainers && svc.Redeploy == nil {
			return fmt.Sprintf("service %s has no container to recreate and declares no redeploy", svc.Name)
		}
	case session.ActionPlaybook:
		v.Playbook = playbookOf(svc, f.Call.Name)
		if v.Playbook == nil {
			return fmt.Sprintf("service %s declares no playbook %q; its playbooks: %s", svc.Name, f.Call.Name, playbookNames(svc))
		}
		v.Class = string(v.Playbook.Cooldown)
	case session.ProbeDeclaredCheck:
		v.Check = checkOf(svc, f.Call.Name)
		if v.Check == nil {
			return fmt.Sprintf("service %s declares no check %q; its checks: %s", svc.Name, f.Call.Name, checkNames(svc))
		}
	case session.ProbeContainerStatus, session.ProbeContainerLogs:
		if !hasContainers {
			return fmt.Sprintf("service %s has no container", svc.Name)
		}
	case session.ProbeUnitStatus:
		if !hasUnit {
			return fmt.Sprintf("service %s declares no systemd unit", svc.Name)
		}
	}
	return ""
}

// scopeStage: a change must act on the incident's service or one of its
// declared dependencies.
func scopeStage(f *Facts, v *Verdict) string {
	if f.Session.Service == "" {
		return "this session has no incident, so no service is in its scope"
	}
	if !f.Catalog.InScope(f.Session.Service, v.Service) {
		return fmt.Sprintf("service %s is outside this incident's scope (%s and its declared dependencies)", v.Service.Name, services.Canonical(f.Session.Service))
	}
	return ""
}

// cooldownStage: per canonical service and class, at most the limit within
// the window.
func cooldownStage(f *Facts, v *Verdict) string {
	window, limit, ok := f.Limits.cooldown(v.Class)
	if !ok {
		return ""
	}
	if used := f.Used[v.Service.Name][v.Class]; used >= limit {
		return fmt.Sprintf("cooldown: %d %s actions on %s in the last %s (limit %d)", used, v.Class, v.Service.Name, window, limit)
	}
	return ""
}

// blastRadiusStage: at most MaxServices distinct services changed within the
// blast window; a service already changed may be changed again.
func blastRadiusStage(f *Facts, v *Verdict) string {
	max := f.Limits.MaxServices
	if max <= 0 || slices.Contains(f.Changed, v.Service.Name) {
		return ""
	}
	if len(f.Changed) >= max {
		return fmt.Sprintf("blast radius: %d services already changed in the last %s (limit %d): %s",
			len(f.Changed), f.Limits.BlastWindow, max, strings.Join(f.Changed, ", "))
	}
	return ""
}

func budgetStage(f *Facts, _ *Verdict) string {
	if f.BudgetExhausted {
		return "the daily budget is spent"
	}
	return ""
}

// maxKnown bounds the names listed in an unknown-service refusal.
const maxKnown = 50

func known(c *services.Catalog) string {
	n := c.Names()
	if len(n) == 0 {
		return "none"
	}
	if len(n) > maxKnown {
		return strings.Join(n[:maxKnown], ", ") + fmt.Sprintf(" and %d more", len(n)-maxKnown)
	}
	return strings.Join(n, ", ")
}

func playbookOf(svc *services.Service, name string) *repos.PlaybookDecl {
	for i := range svc.Playbooks {
		if svc.Playbooks[i].Name == name {
			return &svc.Playbooks[i]
		}
	}
	return nil
}

func checkOf(svc *services.Service, name string) *repos.CheckDecl {
	for i := range svc.Checks {
		if svc.Checks[i].Name == name {
			return &svc.Checks[i]
		}
	}
	return nil
}

func playbookNames(svc *services.Service) string {
	out := make([]string, len(svc.Playbooks))
	for i, p := range svc.Playbooks {
		out[i] = p.Name
	}
	return list(out)
}

func checkNames(svc *services.Service) string {
	out := make([]string, len(svc.Checks))
	for i, c := range svc.Checks {
		out[i] = c.Name
	}
	return list(out)
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
