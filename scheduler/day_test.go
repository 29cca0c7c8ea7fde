package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/collector"
	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/probes"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/store"
)

// The simulated day of issue 16's benchmark: the same 10-service repo and
// the same scripted model, the hourly agent check against the probe plan,
// the clock driven by the test.

const (
	dayServices   = 10
	planMarker    = "This run makes the probe plan"
	probeInterval = 30 * time.Second
	simDay        = 24 * time.Hour
)

// dayWorld is the 10 services (real HTTP servers), their repo, and the
// scripted model behind the fake Messages API.
type dayWorld struct {
	reposDir string
	servers  []*httptest.Server
	down     []atomic.Bool
	api      *fakeapi.Server
	mgr      *sessions.Manager
}

func newDayWorld(tb testing.TB) *dayWorld {
	tb.Helper()
	w := &dayWorld{reposDir: filepath.Join(tb.TempDir(), "repos"), down: make([]atomic.Bool, dayServices)}
	var manifest, overview strings.Builder
	manifest.WriteString("services:\n")
	overview.WriteString("# shop\nTen services behind the shop, run with docker compose. Each answers GET /healthz with 200 when healthy.\n\n")
	for i := range dayServices {
		i := i
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if w.down[i].Load() {
				http.Error(rw, "down", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(rw, "ok")
		}))
		tb.Cleanup(srv.Close)
		w.servers = append(w.servers, srv)
		name := fmt.Sprintf("svc%02d", i)
		fmt.Fprintf(&manifest, "  - name: %s\n    hosts: [%q]\n", name, strings.TrimPrefix(srv.URL, "http://"))
		fmt.Fprintf(&overview, "- %s: %s/healthz\n", name, srv.URL)
		writeTestFile(tb, filepath.Join(w.reposDir, "shop", ".claude-ops", "checks", name+".md"),
			fmt.Sprintf("# %s\nGET %s/healthz answers 200 with body ok within 2s.\n", name, srv.URL))
	}
	writeTestFile(tb, filepath.Join(w.reposDir, "shop", "CLAUDE-OPS.md"), overview.String())
	writeTestFile(tb, filepath.Join(w.reposDir, "shop", ".claude-ops", "services.yaml"), manifest.String())

	w.api = fakeapi.Start(tb, w.script, fakeapi.EstimateUsage())
	rn := runner.New(runner.Config{
		ClaudePath: fakeapi.CLIPath(tb), ResultsDir: tb.TempDir(), APIKey: "sk-ant-fake-key-0123456789",
		BaseURL: w.api.URL(), Timeout: 120 * time.Second, Grace: 2 * time.Second,
		ExtraEnv: map[string]string{"HOME": tb.TempDir(), "CLAUDE_CODE_MAX_RETRIES": "1"},
	})
	w.mgr = sessions.New(sessions.Config{
		Models: map[session.Tier]string{session.Tier1: "haiku"}, ReposDir: w.reposDir,
		MCPConfig: func() json.RawMessage { inv, _ := repos.Load(w.reposDir, nil); return inv.MCPConfig() },
	}, rn, nopSessionStore{}, collector.NewSessionMetrics(prometheus.NewRegistry()))
	return w
}

// script is the one scripted model of both modes. Asked for a plan, it
// reads the manifest once and returns an http probe per service. Asked to
// check, it makes one call per service, then reports every service ok.
func (w *dayWorld) script(r *fakeapi.Request) fakeapi.Turn {
	if strings.Contains(r.Prompt, planMarker) {
		if r.Turn == 0 {
			return fakeapi.Turn{Text: "Reading the services.", Tools: []fakeapi.ToolUse{fakeapi.Bash("cat shop/.claude-ops/services.yaml")}}
		}
		res := session.Tier1Result{Summary: "10 services, one http probe each"}
		for i, srv := range w.servers {
			res.Services = append(res.Services, session.Service{Name: fmt.Sprintf("svc%02d", i), Checks: []session.Check{},
				Probes: []session.Probe{{Name: "http", Type: session.ProbeTypeHTTP, TimeoutSeconds: 2,
					HTTP: &session.HTTPProbeSpec{URL: srv.URL + "/healthz", ValidStatusCodes: []int{200}, BodyRegexp: "ok"}}}})
		}
		return fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(res)}}
	}
	if r.Turn < dayServices {
		name := fmt.Sprintf("svc%02d", r.Turn)
		return fakeapi.Turn{Text: "Checking " + name + ".", Tools: []fakeapi.ToolUse{fakeapi.Bash("cat shop/.claude-ops/checks/" + name + ".md")}}
	}
	res := session.Tier1Result{Summary: "10 services, all ok"}
	for i := range dayServices {
		res.Services = append(res.Services, session.Service{Name: fmt.Sprintf("svc%02d", i),
			Checks: []session.Check{{Name: "http", Type: "http", Status: "ok", LatencyMS: 2, Detail: "200 OK"}}})
	}
	return fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(res)}}
}

type nopSessionStore struct{}

func (nopSessionStore) SaveSession(context.Context, session.Record) error { return nil }

// simRun is one Tier 1 run of the simulated day.
type simRun struct {
	start, end       time.Time
	plan             bool
	requests, tokens int
	sessionID        string
}

// cliRun is what one real CLI run of a mode cost.
type cliRun struct {
	rec              session.Record
	requests, tokens int
	took             time.Duration
}

// replaySessions runs each mode's first session with the real CLI against
// the scripted model and replays its record (and cost) for later runs of
// the same mode: the script is deterministic, so every run of a mode sends
// the same requests. The run takes its real duration of the fake clock.
type replaySessions struct {
	tb    testing.TB
	w     *dayWorld
	clock *fakeClock

	mu    sync.Mutex
	cache map[bool]cliRun
	runs  []simRun
}

func (s *replaySessions) Run(ctx context.Context, spec sessions.Spec) (session.Record, error) {
	plan := strings.Contains(spec.Prompt, planMarker)
	start := s.clock.Now()
	s.mu.Lock()
	c, ok := s.cache[plan]
	s.mu.Unlock()
	if !ok {
		before := len(s.w.api.Requests())
		t0 := time.Now()
		rec, err := s.w.mgr.Run(ctx, spec)
		if err != nil || (rec.Outcome != session.OutcomeHealthy && rec.Outcome != session.OutcomeIssuesFound) {
			s.tb.Fatalf("tier 1 run (plan %v): %v, outcome %s (%s: %s); transcript %s", plan, err, rec.Outcome, rec.ErrorSubtype, rec.Reason, rec.Transcript)
		}
		c = cliRun{rec: rec, took: time.Since(t0)}
		for _, q := range s.w.api.Requests()[before:] {
			c.requests++
			c.tokens += q.EstimatedInputTokens
		}
		s.mu.Lock()
		s.cache[plan] = c
		s.mu.Unlock()
	}
	s.clock.Advance(c.took)
	rec := c.rec
	rec.ID, rec.Trigger, rec.Start, rec.End = spec.ID, spec.Trigger, start, s.clock.Now()
	s.mu.Lock()
	s.runs = append(s.runs, simRun{start: start, end: rec.End, plan: plan, requests: c.requests, tokens: c.tokens, sessionID: spec.ID})
	s.mu.Unlock()
	return rec, nil
}

func (s *replaySessions) all() []simRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]simRun(nil), s.runs...)
}

// dayResult is one mode's simulated day.
type dayResult struct {
	runs             []simRun
	requests, tokens int
	// detect is the time from the failure (at failAt) to its check series
	// failing; worst is the longest a failure can go unseen.
	detect, worst time.Duration
	rounds        int
}

// The failure of the day: svc03 fails at 13:00:05 and comes back at 13:05.
var (
	failAt    = day0.Add(13*time.Hour + 5*time.Second)
	recoverAt = day0.Add(13*time.Hour + 5*time.Minute)
)

const failingService = 3

// checkDay is the hourly agent check (--tier1.mode=check) over the day.
func checkDay(tb testing.TB, w *dayWorld) dayResult {
	clock := newFakeClock(day0)
	st := openStore(tb)
	job := &Tier1Job{Inventory: func() *repos.Inventory { inv, _ := repos.Load(w.reposDir, nil); return inv },
		Store: st, Collector: collector.NewTier1Collector(0), Logger: discard()}
	rs := &replaySessions{tb: tb, w: w, clock: clock, cache: map[bool]cliRun{}}
	s := New(time.Hour, rs, job, nil)
	s.clock = clock
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	clock.runUntil(tb, day0.Add(simDay-time.Nanosecond))
	cancel()
	<-done

	var r dayResult
	r.runs = rs.all()
	prevEnd := day0
	for _, run := range r.runs {
		r.requests += run.requests
		r.tokens += run.tokens
		// A failure just after a run ended is seen when the next one ends.
		r.worst = max(r.worst, run.end.Sub(prevEnd))
		prevEnd = run.end
		if r.detect == 0 && !run.start.Before(failAt) {
			r.detect = run.end.Sub(failAt)
		}
	}
	return r
}

// planDay is the probe plan (--tier1.mode=plan) over the day: the real
// scheduler with the plan policy, the real Tier1Job, keeper and runner;
// a probe round every 30s of the fake clock from roundsFrom to roundsTo (the
// whole day for the benchmark; the failure's two hours for the test, which
// CI runs with -race).
func planDay(tb testing.TB, w *dayWorld, roundsFrom, roundsTo time.Time) dayResult {
	clock := newFakeClock(day0)
	st := openStore(tb)
	inventory := func() *repos.Inventory { inv, _ := repos.Load(w.reposDir, nil); return inv }
	catalog := func(context.Context) (*services.Catalog, error) {
		return services.Build(services.FromInventory(inventory()), nil), nil
	}
	tier1 := collector.NewTier1Collector(0)
	var unforeseen atomic.Int32
	pr := probes.New(probes.Config{Interval: probeInterval, Catalog: catalog, Sink: tier1, Now: clock.Now,
		OnUnforeseen: func(string) { unforeseen.Add(1) }})
	keeper := &probes.Keeper{Store: st, Runner: pr, Catalog: catalog}
	hash := func() (string, error) { return probes.ReposHash(w.reposDir) }
	policy := NewPlanPolicy(PlanPolicyConfig{Plans: keeper, Hash: hash, Discovery: 24 * time.Hour, Retry: time.Hour, Recheck: probeInterval})
	job := &Tier1Job{Inventory: inventory, Store: st, Collector: tier1, Logger: discard(), Plans: keeper, Hash: hash, ProbeInterval: probeInterval}
	rs := &replaySessions{tb: tb, w: w, clock: clock, cache: map[bool]cliRun{}}
	s := New(time.Hour, rs, job, nil)
	s.SetPolicy(policy)
	s.clock = clock
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()

	var r dayResult
	series := fmt.Sprintf("svc%02d", failingService)
	var lastRound time.Time
	for t := day0; t.Before(day0.Add(simDay)); t = t.Add(probeInterval) {
		clock.runUntil(tb, t) // Tier 1 runs due by now, if any
		now := clock.Now()
		w.down[failingService].Store(!now.Before(failAt) && now.Before(recoverAt))
		if now.Before(roundsFrom) || now.After(roundsTo) {
			continue
		}
		pr.Round(ctx)
		r.rounds++
		if !now.Before(failAt) && lastRound.Before(failAt) {
			if got := success(tb, tier1, series); got != 0 {
				tb.Errorf("the round after %s failed did not fail its series (%v)", series, got)
			}
			r.detect = now.Sub(failAt)
		}
		if !now.Before(recoverAt) && lastRound.Before(recoverAt) && success(tb, tier1, series) != 1 {
			tb.Errorf("the round after %s came back did not pass", series)
		}
		lastRound = now
	}
	cancel()
	<-done
	if n := unforeseen.Load(); n != 0 {
		tb.Errorf("%d unforeseen failures on a day where one service failed cleanly", n)
	}
	r.runs = rs.all()
	for _, run := range r.runs {
		r.requests += run.requests
		r.tokens += run.tokens
	}
	r.worst = probeInterval // a failure just after a round is seen by the next
	return r
}

func success(tb testing.TB, c *collector.Tier1Collector, service string) float64 {
	tb.Helper()
	mfs, _ := c.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "claudeops_check_success" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" && l.GetValue() == service {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	tb.Fatalf("no claudeops_check_success of %s", service)
	return -1
}

func openStore(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(filepath.Join(tb.TempDir(), "claude-ops.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func writeTestFile(tb testing.TB, path, text string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func simulateDay(tb testing.TB, roundsFrom, roundsTo time.Time) (check, plan dayResult) {
	w := newDayWorld(tb)
	check = checkDay(tb, w)
	plan = planDay(tb, w, roundsFrom, roundsTo)
	return check, plan
}

func logDay(tb testing.TB, check, plan dayResult) {
	tb.Helper()
	for _, m := range []struct {
		name string
		r    dayResult
	}{{"check", check}, {"plan", plan}} {
		per := 0
		if len(m.r.runs) > 0 {
			per = m.r.runs[0].requests
		}
		tb.Logf("%-5s %2d tier 1 runs (%d requests each), %4d model requests, %8d input tokens; failure seen after %s, worst case %s; %d probe rounds",
			m.name, len(m.r.runs), per, m.r.requests, m.r.tokens, m.r.detect.Round(time.Second), m.r.worst.Round(time.Second), m.r.rounds)
	}
	if plan.tokens > 0 {
		tb.Logf("check/plan: %.1f× the input tokens, %.1f× the requests", float64(check.tokens)/float64(plan.tokens),
			float64(check.requests)/float64(plan.requests))
	}
}

// TestPlanDayCostsLessThanCheckDay is issue 16's goal over a simulated
// healthy day with one clean failure: at least 20× fewer input tokens with
// the plan than with the hourly check, one model run, and the failure seen
// within one probe interval instead of up to an hour later. The scheduler
// and its repos checks run the whole day; the probes run from 12:00 to
// 14:00 (BenchmarkTier1PlanVsCheckDay runs all 2,880 rounds).
func TestPlanDayCostsLessThanCheckDay(t *testing.T) {
	from, to := day0.Add(12*time.Hour), day0.Add(14*time.Hour)
	check, plan := simulateDay(t, from, to)
	logDay(t, check, plan)
	if len(check.runs) != 24 {
		t.Errorf("%d check-mode runs in a day, want 24", len(check.runs))
	}
	if len(plan.runs) != 1 || !plan.runs[0].plan {
		t.Errorf("plan-mode runs: %+v, want the start-up plan only", plan.runs)
	}
	if plan.tokens*20 > check.tokens {
		t.Errorf("plan %d input tokens, check %d: want at least 20× fewer", plan.tokens, check.tokens)
	}
	if plan.detect <= 0 || plan.detect > probeInterval {
		t.Errorf("plan saw the failure after %s, want within one probe interval (%s)", plan.detect, probeInterval)
	}
	if check.worst < time.Hour {
		t.Errorf("hourly check's worst case %s, want over an hour", check.worst)
	}
	if want := int(to.Sub(from)/probeInterval) + 1; plan.rounds != want {
		t.Errorf("%d probe rounds, want %d", plan.rounds, want)
	}
}

// BenchmarkTier1PlanVsCheckDay reports both modes' simulated day:
//
//	go test ./scheduler -run '^$' -bench Tier1PlanVsCheckDay -benchtime 1x
func BenchmarkTier1PlanVsCheckDay(b *testing.B) {
	var check, plan dayResult
	for b.Loop() {
		check, plan = simulateDay(b, day0, day0.Add(simDay))
	}
	logDay(b, check, plan)
	b.ReportMetric(float64(len(check.runs)), "check-runs/day")
	b.ReportMetric(float64(len(plan.runs)), "plan-runs/day")
	b.ReportMetric(float64(check.requests), "check-requests/day")
	b.ReportMetric(float64(plan.requests), "plan-requests/day")
	b.ReportMetric(float64(check.tokens), "check-input-tokens/day")
	b.ReportMetric(float64(plan.tokens), "plan-input-tokens/day")
	b.ReportMetric(float64(check.tokens)/float64(plan.tokens), "check/plan-tokens")
	b.ReportMetric(check.worst.Seconds(), "check-worst-detect-s")
	b.ReportMetric(check.detect.Seconds(), "check-detect-s")
	b.ReportMetric(plan.detect.Seconds(), "plan-detect-s")
	b.ReportMetric(plan.worst.Seconds(), "plan-worst-detect-s")
	b.ReportMetric(float64(plan.rounds), "probe-rounds/day")
}
