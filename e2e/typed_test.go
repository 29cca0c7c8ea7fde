package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/engine"
	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/runner/podmantest"
)

// typedManifest declares web (compose service web of project shop, alias
// frontend, depends on db) and db; worker is a container no manifest names.
const typedManifest = `services:
  - name: web
    aliases: [frontend]
    depends_on: [db]
  - name: db
`

// opsCall is a call of one of the daemon's typed tools.
func opsCall(tool string, input map[string]any) fakeapi.ToolUse {
	return fakeapi.ToolUse{Name: "mcp__ops__" + tool, Input: input}
}

func svc(name string) map[string]any { return map[string]any{"service": name} }

// scripted is one scripted session that keeps the tool results the CLI
// sent back for each turn's call.
type scripted struct {
	turns   []fakeapi.Turn
	mu      sync.Mutex
	results map[int]fakeapi.ToolResult
}

func newScripted(turns ...fakeapi.Turn) *scripted {
	return &scripted{turns: turns, results: map[int]fakeapi.ToolResult{}}
}

func (s *scripted) script(r *fakeapi.Request) fakeapi.Turn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Turn > 0 && len(r.ToolResults) == 1 {
		s.results[r.Turn-1] = r.ToolResults[0]
	}
	return s.turns[min(r.Turn, len(s.turns)-1)]
}

// has says whether the model has made n requests.
func (s *scripted) has(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.results[n-1]
	return ok
}

// result is what the model read back for turn n's call.
func (s *scripted) result(t *testing.T, n int) fakeapi.ToolResult {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.results[n]
	if !ok {
		t.Fatalf("turn %d's call got no result back", n)
	}
	return r
}

func remediationDone(outcome string) fakeapi.Turn {
	return fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(map[string]any{
		"summary": "scripted", "outcome": outcome, "actions": []any{}, "findings": "scripted",
	})}}
}

var tier1Healthy = fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(map[string]any{
	"summary": "all healthy", "services": []any{},
})}}

// typedWorld is a podman with three containers and a repo that declares two
// of them.
type typedWorld struct {
	pm  *podmantest.Podman
	eng *engine.Engine
	web string // container IDs
	db  string
	d   dirs
}

func newTypedWorld(t *testing.T) *typedWorld {
	t.Helper()
	pm := podmantest.Start(t)
	w := &typedWorld{pm: pm, d: newDirs(t)}
	w.web = pm.Run(t, "shop-web-1", map[string]string{
		"com.docker.compose.service": "web", "com.docker.compose.project": "shop",
	})
	w.db = pm.Run(t, "db", nil)
	pm.Run(t, "worker", nil)
	writeFile(t, filepath.Join(w.d.Repos, "shop", ".claude-ops", "services.yaml"), typedManifest)
	writeFile(t, filepath.Join(w.d.Repos, "shop", "CLAUDE-OPS.md"), "# shop\nweb and its database.\n")
	eng, err := engine.New(pm.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	w.eng = eng
	return w
}

func (w *typedWorld) startedAt(t *testing.T, id string) time.Time {
	t.Helper()
	c, err := w.eng.Inspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c.StartedAt
}

// ledgerRow is one row of GET /api/v1/actions.
type ledgerRow struct {
	Service, Target, Action, Result, Stage, Outcome, Reason string
	Tier                                                    int
	Session                                                 string `json:"session_id"`
}

func (d *daemon) ledger(t *testing.T) []ledgerRow {
	t.Helper()
	var out struct {
		Actions []ledgerRow `json:"actions"`
	}
	getJSON(t, d.URL+"/api/v1/actions", &out)
	return out.Actions
}

// TestTypedActions is issue 11's end-to-end proof: the real CLI, the
// scripted model, the daemon's ops server and a real container engine.
func TestTypedActions(t *testing.T) {
	w := newTypedWorld(t)
	webStart, dbStart := w.startedAt(t, w.web), w.startedAt(t, w.db)

	tier1 := newScripted(
		fakeapi.Turn{Text: "Restarting web.", Tools: []fakeapi.ToolUse{opsCall("restart_service", svc("web"))}},
		tier1Healthy)
	shortWeb := w.web[:12]
	web := newScripted(
		fakeapi.Turn{Text: "Restart.", Tools: []fakeapi.ToolUse{opsCall("restart_service", svc("web"))}},               // 0: done
		fakeapi.Turn{Text: "Again by name.", Tools: []fakeapi.ToolUse{opsCall("restart_service", svc("/shop-web-1"))}}, // 1: done
		fakeapi.Turn{Text: "Again by id.", Tools: []fakeapi.ToolUse{opsCall("restart_service", svc(shortWeb))}},        // 2: cooldown
		fakeapi.Turn{Text: "Redeploy.", Tools: []fakeapi.ToolUse{opsCall("redeploy_service", svc("frontend"))}},        // 3: tier
		fakeapi.Turn{Text: "Worker.", Tools: []fakeapi.ToolUse{opsCall("restart_service", svc("worker"))}},             // 4: scope
		fakeapi.Turn{Text: "Payments.", Tools: []fakeapi.ToolUse{opsCall("restart_service", svc("payments"))}},         // 5: target
		fakeapi.Turn{Text: "Status.", Tools: []fakeapi.ToolUse{opsCall("container_status", svc("frontend"))}},          // 6: probe
		fakeapi.Turn{Text: "Docker socket.", Tools: []fakeapi.ToolUse{fakeapi.Bash("docker restart shop-web-1")}},      // 7: gate
		remediationDone("needs_human"))
	db2 := newScripted(
		fakeapi.Turn{Text: "Redeploy db.", Tools: []fakeapi.ToolUse{opsCall("redeploy_service", svc("db"))}}, // tier 2: refused
		remediationDone("not_fixed"))
	db3 := newScripted(
		fakeapi.Turn{Text: "Redeploy db.", Tools: []fakeapi.ToolUse{opsCall("redeploy_service", svc("db"))}}, // tier 3: done
		remediationDone("fixed"))
	api := fakeapi.Start(t, func(r *fakeapi.Request) fakeapi.Turn {
		switch {
		case strings.Contains(r.Model, "haiku"):
			return tier1.script(r)
		case strings.Contains(r.Model, "sonnet") && strings.Contains(r.Prompt, `service "web"`):
			return web.script(r)
		case strings.Contains(r.Model, "sonnet") && strings.Contains(r.Prompt, `service "db"`):
			return db2.script(r)
		case strings.Contains(r.Model, "opus") && strings.Contains(r.Prompt, `service "db"`):
			return db3.script(r)
		}
		t.Errorf("unexpected request: model %s, prompt %.200q", r.Model, r.Prompt)
		return fakeapi.Turn{Status: 400}
	})
	dm := startDaemon(t, api, w.d, "--schedule.interval=1h", "--webhook.no-auth", "--engine.host="+w.pm.Host,
		"--remediation.verify-timeout=2s")
	waitFor(t, 60*time.Second, "the start-up tier 1 run", func() bool {
		ss := dm.sessions(t)
		return len(ss) == 1 && ss[0].Outcome != "running"
	})

	t.Run("tier 1 cannot restart", func(t *testing.T) {
		res := tier1.result(t, 0)
		if !res.IsError || !strings.Contains(res.Content, "No such tool available") {
			t.Errorf("tier 1 restart_service: %+v", res)
		}
		if got := w.startedAt(t, w.web); !got.Equal(webStart) {
			t.Errorf("web restarted by tier 1: %s → %s", webStart, got)
		}
	})

	dm.postAlert(t, "WebDown", "web")
	waitFor(t, 120*time.Second, "the web incident to need a human", func() bool {
		in, ok := dm.incidentOf(t, "web")
		return ok && in.State == "needs_human"
	})
	t.Run("tier 2 on web", func(t *testing.T) {
		for _, tc := range []struct {
			turn    int
			isError bool
			want    string
		}{
			{0, false, "restarted web, verified by the engine: shop-web-1"},
			{1, false, "restarted web, verified by the engine"},
			{2, true, "refused at stage cooldown: cooldown: 2 restart actions on web in the last 4h0m0s (limit 2)"},
			{3, true, "refused at stage tier: redeploy needs tier 3"},
			{4, true, "refused at stage scope: service worker is outside this incident's scope"},
			{5, true, `refused at stage target: unknown service "payments"; known services: db, web, worker`},
			{6, false, `"state": "running"`},
			{7, true, "mcp__ops__restart_service"},
		} {
			res := web.result(t, tc.turn)
			if res.IsError != tc.isError || !strings.Contains(res.Content, tc.want) {
				t.Errorf("turn %d: error %v %q, want error %v and %q", tc.turn, res.IsError, res.Content, tc.isError, tc.want)
			}
		}
		if got := w.startedAt(t, w.web); !got.After(webStart) {
			t.Errorf("web's StartedAt did not move: %s → %s", webStart, got)
		}
	})

	dm.postAlert(t, "DbDown", "db")
	waitFor(t, 180*time.Second, "the db incident's tier 3 session to end", func() bool {
		in, ok := dm.incidentOf(t, "db")
		return ok && len(in.Sessions) == 2 && in.Sessions[1].Outcome != "" && in.Sessions[1].Outcome != "running"
	})
	t.Run("redeploy: tier 2 refused, tier 3 done", func(t *testing.T) {
		if res := db2.result(t, 0); !res.IsError || !strings.Contains(res.Content, "refused at stage tier") {
			t.Errorf("tier 2 redeploy: %+v", res)
		}
		if res := db3.result(t, 0); res.IsError || !strings.Contains(res.Content, "redeployed db, verified by the engine") {
			t.Errorf("tier 3 redeploy: %+v", res)
		}
		c, err := w.eng.Inspect(context.Background(), "db")
		if err != nil {
			t.Fatal(err)
		}
		if c.ID == w.db || c.State != "running" || !c.StartedAt.After(dbStart) {
			t.Errorf("db after the redeploy: %+v (was %s)", c, w.db)
		}
	})

	t.Run("ledger, API and metrics", func(t *testing.T) {
		type key struct{ service, target, action, result, stage, outcome string }
		var got []key
		for _, r := range dm.ledger(t) {
			if r.Stage == "gate" {
				continue // the Bash refusal, recorded by the gate
			}
			got = append(got, key{r.Service, r.Target, r.Action, r.Result, r.Stage, r.Outcome})
			if r.Tier < 2 || r.Session == "" || r.Reason == "" {
				t.Errorf("row %+v lacks tier, session or reason", r)
			}
		}
		want := []key{ // newest first
			{"db", "db", "redeploy", "allowed", "verify", "done"},
			{"db", "db", "redeploy", "refused_tier", "tier", ""},
			{"unknown", "payments", "restart", "refused_target", "target", ""},
			{"worker", "worker", "restart", "refused_scope", "scope", ""},
			{"web", "frontend", "redeploy", "refused_tier", "tier", ""},
			{"web", shortWeb, "restart", "refused_cooldown", "cooldown", ""},
			{"web", "/shop-web-1", "restart", "allowed", "verify", "done"},
			{"web", "web", "restart", "allowed", "verify", "done"},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ledger:\n got %v\nwant %v", got, want)
		}
		scrape := dm.scrape(t)
		for series, v := range map[string]string{
			`claudeops_actions_total{action="restart",result="done",tier="2"}`:                              "2",
			`claudeops_actions_total{action="restart",result="refused",tier="2"}`:                           "3",
			`claudeops_actions_total{action="redeploy",result="done",tier="3"}`:                             "1",
			`claudeops_actions_total{action="container_status",result="done",tier="2"}`:                     "1",
			`claudeops_action_refusals_total{stage="cooldown"}`:                                             "1",
			`claudeops_action_refusals_total{stage="tier"}`:                                                 "2",
			`claudeops_action_refusals_total{stage="scope"}`:                                                "1",
			`claudeops_action_refusals_total{stage="target"}`:                                               "1",
			`claudeops_remediation_actions_total{action="restart",result="allowed",service="web"}`:          "2",
			`claudeops_remediation_actions_total{action="restart",result="refused_cooldown",service="web"}`: "1",
			`claudeops_cooldown_actions{action="restart",service="web"}`:                                    "2",
			`claudeops_cooldown_actions{action="redeploy",service="db"}`:                                    "1",
			`claudeops_gate_refusals_total{result="refused_untyped",tool="Bash"}`:                           "1",
		} {
			if got := sampleValue(scrape, series); got != v {
				t.Errorf("%s = %q, want %s", series, got, v)
			}
		}
		if in, _ := dm.incidentOf(t, "web"); in.Reason != "cooldown" {
			t.Errorf("web incident reason %q, want cooldown", in.Reason)
		}
	})
}

// TestTypedActionsDryRun: in dry-run the chain decides and records the
// change as proposed; the container is not touched.
func TestTypedActionsDryRun(t *testing.T) {
	w := newTypedWorld(t)
	webStart := w.startedAt(t, w.web)
	web := newScripted(
		fakeapi.Turn{Text: "Restart.", Tools: []fakeapi.ToolUse{opsCall("restart_service", svc("frontend"))}},
		remediationDone("fixed"))
	api := fakeapi.Start(t, func(r *fakeapi.Request) fakeapi.Turn {
		if strings.Contains(r.Model, "haiku") {
			return tier1Healthy
		}
		return web.script(r)
	})
	dm := startDaemon(t, api, w.d, "--schedule.interval=1h", "--webhook.no-auth", "--engine.host="+w.pm.Host, "--dry-run",
		"--remediation.verify-timeout=2s")
	dm.postAlert(t, "WebDown", "web")
	waitFor(t, 120*time.Second, "the dry-run restart's answer", func() bool { return web.has(1) })
	res := web.result(t, 0)
	if res.IsError || !strings.Contains(res.Content, "dry run: would restart web") {
		t.Errorf("dry-run restart: %+v", res)
	}
	rows := dm.ledger(t)
	if len(rows) != 1 || rows[0].Result != "dry_run" || rows[0].Stage != "dry_run" || rows[0].Service != "web" {
		t.Errorf("ledger = %+v", rows)
	}
	if got := w.startedAt(t, w.web); !got.Equal(webStart) {
		t.Errorf("dry run restarted web: %s → %s", webStart, got)
	}
}

// BenchmarkTypedRestart measures, with the real CLI in its sandbox, the
// daemon and Podman, the time from the model's restart_service call to the
// next model request carrying its result (the CLI's own overhead included),
// and the daemon's part of it (claudeops_action_duration_seconds).
//
//	go test -run '^$' -bench BenchmarkTypedRestart -benchtime 10x ./e2e/
func BenchmarkTypedRestart(b *testing.B) {
	pm := podmantest.Start(b)
	d := newDirs(b)
	// A container that stops on SIGTERM: the restart measures the engine,
	// not a stop timeout (sleep as PID 1 ignores SIGTERM for 10 s).
	pm.Run(b, "web", nil, "sh", "-c", `trap "exit 0" TERM; sleep 100000 & wait`)
	writeFile(b, filepath.Join(d.Repos, "shop", ".claude-ops", "services.yaml"), "services:\n  - name: web\n")
	var (
		mu    sync.Mutex
		sent  = map[int]time.Time{}
		total time.Duration
		n     int
	)
	api := fakeapi.Start(b, func(r *fakeapi.Request) fakeapi.Turn {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(r.Model, "haiku") {
			return tier1Healthy
		}
		if at, ok := sent[r.Turn-1]; ok && r.Turn <= b.N {
			total += time.Since(at)
			n++
		}
		if r.Turn >= b.N {
			return remediationDone("needs_human")
		}
		sent[r.Turn] = time.Now()
		return fakeapi.Turn{Tools: []fakeapi.ToolUse{opsCall("restart_service", svc("web"))}}
	})
	dm := startDaemon(b, api, d, "--schedule.interval=1h", "--webhook.no-auth", "--engine.host="+pm.Host,
		"--cooldown.max-restarts=1000000", "--log.level=info")
	b.ResetTimer()
	dm.postAlert(b, "WebDown", "web")
	waitFor(b, 600*time.Second, "the restarts", func() bool {
		in, ok := dm.incidentOf(b, "web")
		return ok && len(in.Sessions) > 0 && in.Sessions[0].Outcome != "" && in.Sessions[0].Outcome != "running"
	})
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if n == 0 {
		b.Fatal("no restart measured")
	}
	scrape := dm.scrape(b)
	sum := sampleValue(scrape, `claudeops_action_duration_seconds_sum{action="restart"}`)
	count := sampleValue(scrape, `claudeops_action_duration_seconds_count{action="restart"}`)
	s, _ := strconv.ParseFloat(sum, 64)
	c, _ := strconv.ParseFloat(count, 64)
	b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms/call-to-result")
	if c > 0 {
		b.ReportMetric(s/c*1000, "ms/daemon")
	}
}
