package actions

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

// testCatalog: web (a compose container, depends on db, a tier-3 playbook
// and a tier-2 one with no cooldown), db (a container), cron (a systemd
// unit only), api (no container, no unit), and an engine-only container.
var catalogDecls = func() []services.Decl {
	cmd := func(argv ...string) repos.Command {
		return repos.Command{Argv: argv, Timeout: model.Duration(time.Second)}
	}
	verify := cmd("/bin/verify")
	return []services.Decl{
		{Repo: "shop", Service: repos.ServiceDecl{Name: "web", Aliases: []string{"frontend"}, DependsOn: []string{"db"},
			Hosts: []string{"web.internal:8080"},
			Playbooks: []repos.PlaybookDecl{
				{Name: "flush-cache", Command: cmd("/bin/flush", "--all"), MinTier: 2, Cooldown: repos.CooldownNone, Verify: &verify},
				{Name: "failover", Command: cmd("/bin/failover"), MinTier: 3, Cooldown: repos.CooldownRedeploy},
			},
			Checks: []repos.CheckDecl{{Name: "ping", Command: cmd("/bin/true")}}}},
		{Repo: "shop", Service: repos.ServiceDecl{Name: "db"}},
		{Repo: "ops", Service: repos.ServiceDecl{Name: "cron", Unit: "cron.service", Containers: []string{"no-such-container"}}},
		{Repo: "ops", Service: repos.ServiceDecl{Name: "api", Containers: []string{"no-such-container"}}},
	}
}()

// testCatalog: web (a compose container, depends on db, a tier-3 playbook
// and a tier-2 one with no cooldown), db (a container), cron (a systemd
// unit only), api (no container, no unit), and an engine-only container.
func testCatalog() *services.Catalog {
	return services.Build(catalogDecls, []services.Container{
		{ID: strings.Repeat("a", 64), Name: "/shop-web-1", ComposeService: "web", ComposeProject: "shop"},
		{ID: strings.Repeat("b", 64), Name: "/db"},
		{ID: strings.Repeat("c", 64), Name: "/worker"},
	})
}

func TestDecide(t *testing.T) {
	cat := testCatalog()
	t1 := Session{ID: "s1", Tier: session.Tier1}
	t2 := Session{ID: "s2", Tier: session.Tier2, IncidentID: "i", Service: "web"}
	t3 := Session{ID: "s3", Tier: session.Tier3, IncidentID: "i", Service: "shop-web-1"}
	dry := t3
	dry.DryRun = true
	restart := func(target string) Call { return Call{Kind: session.ActionRestart, Target: target} }
	// base passes every stage; each case breaks one stage's fact.
	base := func(s Session, c Call) Facts {
		return Facts{Session: s, Call: c, Catalog: cat, Limits: DefaultLimits}
	}
	with := func(f Facts, mut func(*Facts)) Facts { mut(&f); return f }
	cases := []struct {
		name    string
		facts   Facts
		stage   session.Stage // "" = passes, StageDryRun = proposed
		result  string
		service string
		reason  string
	}{
		// In the chain's order, each stage refusing in turn.
		{"tier: tier 1 restarts", base(t1, restart("web")), session.StageTier, "refused_tier", "", "tier 1 only observes"},
		{"tier: tier 2 redeploys", base(t2, Call{Kind: session.ActionRedeploy, Target: "web"}), session.StageTier, "refused_tier", "", "redeploy needs tier 3"},
		{"tier: playbook's own minimum", base(t2, Call{Kind: session.ActionPlaybook, Target: "web", Name: "failover"}), session.StageTier, "refused_tier", "", "needs tier 3"},
		{"target: unknown service names the known ones", base(t2, restart("payments")), session.StageTarget, "refused_target", "", `unknown service "payments"; known services: api, cron, db, web, worker`},
		{"target: nothing to restart", with(base(t2, restart("api")), func(f *Facts) { f.Session.Service = "api" }), session.StageTarget, "refused_target", "api", "no container or systemd unit"},
		{"target: undeclared playbook", base(t2, Call{Kind: session.ActionPlaybook, Target: "web", Name: "rm-rf"}), session.StageTarget, "refused_target", "web", "its playbooks: flush-cache, failover"},
		{"scope: another service", base(t2, restart("worker")), session.StageScope, "refused_scope", "worker", "outside this incident's scope"},
		{"scope: no incident", with(base(t2, restart("web")), func(f *Facts) { f.Session.Service = "" }), session.StageScope, "refused_scope", "web", "no incident"},
		{"cooldown: by canonical identity", with(base(t2, restart("/shop-web-1")), func(f *Facts) {
			f.Used = map[string]map[string]int{"web": {"restart": 2}}
		}), session.StageCooldown, "refused_cooldown", "web", "2 restart actions on web in the last 4h0m0s (limit 2)"},
		{"blast radius: a sixth service", with(base(t2, restart("db")), func(f *Facts) {
			f.Changed = []string{"a", "b", "c", "d", "e"}
		}), session.StageBlastRadius, "refused_blast_radius", "db", "5 services already changed"},
		{"budget", with(base(t2, restart("web")), func(f *Facts) { f.BudgetExhausted = true }), session.StageBudget, "refused_budget", "web", "budget is spent"},
		{"dry run proposes", base(dry, Call{Kind: session.ActionRedeploy, Target: "frontend"}), session.StageDryRun, "dry_run", "web", "dry run: would redeploy web"},
		// Passing.
		{"restart of the alerted service by alias", base(t2, restart("frontend")), "", "allowed", "web", ""},
		{"restart of a declared dependency", base(t2, restart("db")), "", "allowed", "db", ""},
		{"alerted by container name, restart by id", base(t3, restart(strings.Repeat("a", 12))), "", "allowed", "web", ""},
		{"restart of a unit", with(base(t2, restart("cron")), func(f *Facts) { f.Session.Service = "cron" }), "", "allowed", "cron", ""},
		{"a service changed before is not a new one", with(base(t2, restart("web")), func(f *Facts) {
			f.Changed = []string{"a", "b", "c", "d", "web"}
		}), "", "allowed", "web", ""},
		{"other class's cooldown does not count", with(base(t2, restart("web")), func(f *Facts) {
			f.Used = map[string]map[string]int{"web": {"redeploy": 1}, "db": {"restart": 2}}
		}), "", "allowed", "web", ""},
		{"playbook without cooldown", with(base(t2, Call{Kind: session.ActionPlaybook, Target: "web", Name: "flush-cache"}), func(f *Facts) {
			f.Used = map[string]map[string]int{"web": {"restart": 2, "redeploy": 1}}
		}), "", "allowed", "web", ""},
		// Probes: tier and target only.
		{"tier 1 probes", base(t1, Call{Kind: session.ProbeContainerStatus, Target: "db"}), "", "allowed", "db", ""},
		{"probe of an unknown service", base(t1, Call{Kind: session.ProbeContainerLogs, Target: "nope"}), session.StageTarget, "refused_target", "", "unknown service"},
		{"probes ignore the budget and scope", with(base(t1, Call{Kind: session.ProbeDeclaredCheck, Target: "web", Name: "ping"}), func(f *Facts) { f.BudgetExhausted = true }), "", "allowed", "web", ""},
		{"http probe of an inventory host", base(t1, Call{Kind: session.ProbeHTTP, Target: "http://web.internal:8080/health"}), "", "allowed", "", ""},
		{"http probe elsewhere", base(t1, Call{Kind: session.ProbeHTTP, Target: "http://169.254.169.254/latest"}), session.StageTarget, "refused_target", "", "is not a host of the inventory"},
		{"http probe with credentials", base(t1, Call{Kind: session.ProbeHTTP, Target: "http://u:p@web.internal:8080/"}), session.StageTarget, "refused_target", "", "has credentials"},
		{"file url", base(t1, Call{Kind: session.ProbeHTTP, Target: "file:///etc/shadow"}), session.StageTarget, "refused_target", "", "only http and https"},
		{"promql without prometheus", base(t1, Call{Kind: session.ProbePrometheus, Target: "up"}), session.StageTarget, "refused_target", "", "no Prometheus"},
		{"unit status of a container service", base(t1, Call{Kind: session.ProbeUnitStatus, Target: "web"}), session.StageTarget, "refused_target", "web", "no systemd unit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := Decide(tc.facts)
			if v.Stage != tc.stage || v.Result() != tc.result {
				t.Fatalf("stage %q result %q (%s), want %q %q", v.Stage, v.Result(), v.Reason, tc.stage, tc.result)
			}
			got := ""
			if v.Service != nil {
				got = v.Service.Name
			}
			if got != tc.service {
				t.Errorf("service = %q, want %q", got, tc.service)
			}
			if !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("reason = %q, want it to contain %q", v.Reason, tc.reason)
			}
		})
	}
}

// TestDecideOrder: with every stage's fact broken at once, the stages refuse
// one after the other as each earlier one is mended, in the chain's order.
func TestDecideOrder(t *testing.T) {
	f := Facts{
		Session: Session{Tier: session.Tier1, Service: "db", DryRun: true},
		Call:    Call{Kind: session.ActionRestart, Target: "nope"},
		Catalog: testCatalog(), Limits: DefaultLimits,
		Used:            map[string]map[string]int{"web": {"restart": 2}},
		Changed:         []string{"a", "b", "c", "d", "e"},
		BudgetExhausted: true,
	}
	mends := []func(){
		func() { f.Session.Tier = session.Tier2 },
		func() { f.Call.Target = "frontend" },
		func() { f.Session.Service = "web" },
		func() { f.Used = nil },
		func() { f.Changed = nil },
		func() { f.BudgetExhausted = false },
		func() { f.Session.DryRun = false },
	}
	want := []session.Stage{session.StageTier, session.StageTarget, session.StageScope, session.StageCooldown,
		session.StageBlastRadius, session.StageBudget, session.StageDryRun, ""}
	for i, w := range want {
		if got := Decide(f).Stage; got != w {
			t.Fatalf("step %d: stage %q, want %q", i, got, w)
		}
		if i < len(mends) {
			mends[i]()
		}
	}
}
