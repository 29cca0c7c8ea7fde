package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/internal/stormload"
)

// BenchmarkWebhookStorm is issue 14's side-by-side run: the same
// Alertmanager storm (internal/stormload: 10,000 firing alerts over 500
// services, one alert per notification, 10% of them with a resolved twin
// racing them, 32 requests in flight, a bearer token) against
// prometheus-am-executor with a command that never matches (HTTP + JSON and
// nothing else) and against the daemon as a user runs it beside
// Alertmanager (--webhook.token-file, default flags; sessions run a stub CLI
// that answers after a second). Both are plain builds made here; the
// targets take turns, each round a new storm, the first target of each
// round alternating, each run only once all are idle (3 s without CPU).
//
//	go test -run '^$' -bench BenchmarkWebhookStorm -benchtime 1x ./e2e/
//
// It prints the table (Markdown), when each run's requests over its p99
// were sent, and the ratios, with what the daemons allocated a request and
// their GC cycles during each run (their /metrics; am-executor's registry
// has no Go collector). Knobs:
// $CLAUDEOPS_AM_EXECUTOR_SRC (default ../../shared/peers/prometheus-am-executor),
// $CLAUDEOPS_STORM_ROUNDS (3), $CLAUDEOPS_STORM_ALERTS (10,000 a round; more
// make a sustained storm, longer than the daemon's save interval),
// $CLAUDEOPS_STORM_CPUPROFILE (a file: the
// daemon's CPU profile over its rounds, from a build with a profiling hook
// added for the run; its numbers carry the profiler's cost),
// $CLAUDEOPS_STORM_BASELINE (another claude-ops binary, e.g. an older
// commit's, measured in the same rounds as claude-ops-baseline),
// $CLAUDEOPS_STORM_FLAGS (more flags for claude-ops, not the baseline,
// separated by spaces, e.g. --webhook.inbox-fsync), $CLAUDEOPS_STORM_WARMUP
// (the alerts of the warm-up storm each target takes first, 500: one a
// service), $CLAUDEOPS_STORM_ENV (more environment for claude-ops, not the
// baseline, e.g. GODEBUG=gctrace=1 GOGC=200), $CLAUDEOPS_STORM_OUTPUT (a
// file: claude-ops' log and stderr, written at the end),
// $CLAUDEOPS_STORM_CONTROL (when set, a second am-executor, am-executor-2,
// takes every round too and is compared with the first like claude-ops:
// how often the peer "loses" to itself is the machine's noise).
func BenchmarkWebhookStorm(b *testing.B) {
	src := os.Getenv("CLAUDEOPS_AM_EXECUTOR_SRC")
	if src == "" {
		src = filepath.Join("..", "..", "shared", "peers", "prometheus-am-executor")
	}
	if _, err := os.Stat(filepath.Join(src, "main.go")); err != nil {
		b.Fatalf("prometheus-am-executor's source: %v (set $CLAUDEOPS_AM_EXECUTOR_SRC)", err)
	}
	rounds := 3
	if s := os.Getenv("CLAUDEOPS_STORM_ROUNDS"); s != "" {
		var err error
		if rounds, err = strconv.Atoi(s); err != nil || rounds < 1 {
			b.Fatalf("$CLAUDEOPS_STORM_ROUNDS=%q", s)
		}
	}
	profile := os.Getenv("CLAUDEOPS_STORM_CPUPROFILE")
	baseline := os.Getenv("CLAUDEOPS_STORM_BASELINE")
	if profile != "" {
		var err error
		if profile, err = filepath.Abs(profile); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	ours, peer := filepath.Join(dir, "claude-ops"), filepath.Join(dir, "am-executor")
	goBuild(b, "..", ours, profile != "")
	goBuild(b, src, peer, false)
	stub := filepath.Join(dir, "claude")
	writeFile(b, stub, stormStub)
	if err := os.Chmod(stub, 0o755); err != nil {
		b.Fatal(err)
	}
	storm := stormload.Storm{Alerts: 10000, Services: 500, PerRequest: 1, ResolvedShare: 0.1, Seed: 1}
	if s := os.Getenv("CLAUDEOPS_STORM_ALERTS"); s != "" {
		var err error
		if storm.Alerts, err = strconv.Atoi(s); err != nil || storm.Alerts < storm.Services {
			b.Fatalf("$CLAUDEOPS_STORM_ALERTS=%q", s)
		}
	}
	const concurrency, token = 32, "s3cret-storm-token"

	for b.Loop() {
		api := fakeapi.Start(b, healthyTier1)
		dm, pprofAddr := startStormDaemon(b, ours, api, stub, token, profile, strings.Fields(os.Getenv("CLAUDEOPS_STORM_ENV")), strings.Fields(os.Getenv("CLAUDEOPS_STORM_FLAGS"))...)
		am := startAMExecutor(b, peer)
		daemons := []*daemon{dm}
		targets := []stormload.Target{
			{Name: "claude-ops", URL: dm.URL + "/api/v1/webhook", Token: token, PID: dm.cmd.Process.Pid},
			{Name: "am-executor", URL: am.url, Token: token, PID: am.cmd.Process.Pid},
		}
		if os.Getenv("CLAUDEOPS_STORM_CONTROL") != "" {
			am2 := startAMExecutor(b, peer)
			targets = append(targets, stormload.Target{Name: "am-executor-2", URL: am2.url, Token: token, PID: am2.cmd.Process.Pid})
		}
		if baseline != "" {
			base, _ := startStormDaemon(b, baseline, api, stub, token, "", nil)
			daemons = append(daemons, base)
			targets = append(targets, stormload.Target{Name: "claude-ops-baseline", URL: base.URL + "/api/v1/webhook", Token: token, PID: base.cmd.Process.Pid})
		}
		for _, d := range daemons {
			waitFor(b, 30*time.Second, "the start-up tier 1 run", func() bool {
				ss := d.sessions(b)
				return len(ss) == 1 && ss[0].Outcome != "running"
			})
		}
		_, idleBefore := stormload.Memory(dm.cmd.Process.Pid)
		ctx := context.Background()
		warm := storm
		warm.Alerts = 500
		if s := os.Getenv("CLAUDEOPS_STORM_WARMUP"); s != "" {
			if n, err := strconv.Atoi(s); err != nil || n < storm.Services {
				b.Fatalf("$CLAUDEOPS_STORM_WARMUP=%q", s)
			} else {
				warm.Alerts = n
			}
		}
		for _, t := range targets {
			if _, err := stormload.Run(ctx, t, warm.Build(0), concurrency); err != nil {
				b.Fatal(err)
			}
		}
		var stopProfile func()
		if profile != "" {
			stopProfile = cpuProfile(b, pprofAddr)
		}
		var lines, slow []string
		byName := map[string]*daemon{"claude-ops": dm}
		if len(daemons) > 1 {
			byName["claude-ops-baseline"] = daemons[1]
		}
		gcs := map[string][]goMem{}                // by target, by round - 1: bytes allocated a request, GC cycles
		results := map[string][]stormload.Result{} // by target, by round - 1
		fmt.Printf("storm: %s; concurrency %d; %d CPUs; load average %s\n", stormload.Describe(storm.Build(1)), concurrency, runtime.NumCPU(), stormload.LoadAvg())
		for r := 1; r <= rounds; r++ {
			ns := storm.Build(r)
			// Each round starts with another target.
			k := (r - 1) % len(targets)
			order := append(slices.Clone(targets[k:]), targets[:k]...)
			for _, t := range order {
				// The load generator collects its own garbage first (the
				// round's storm was just built): its GC, on the same CPUs,
				// would otherwise fall into the first target's run.
				runtime.GC()
				// What the last run wrote goes to disk now: the kernel's
				// writeback and journal commits of claude-ops' inbox and
				// database run in kernel threads, which no target's CPU
				// counts and no idle wait sees, seconds later: in the next
				// target's run.
				syscall.Sync()
				// Idle for 3 s: the daemon saves what a storm changed up
				// to 2.5 s after its last alert (remediator.Config.SaveEvery
				// and the last save's duration), which must not fall into
				// the next target's run.
				for _, u := range targets {
					stormload.WaitIdle(u.PID, 3*time.Second, 60*time.Second)
				}
				before := stormload.LoadAvg()
				d := byName[t.Name] // nil for am-executor, whose registry has no Go collector
				var mem0 goMem
				if d != nil {
					mem0 = d.goMem(b)
				}
				res, err := stormload.Run(ctx, t, ns, concurrency)
				if err != nil {
					b.Fatal(err)
				}
				if d != nil {
					m := d.goMem(b)
					gcs[t.Name] = append(gcs[t.Name], goMem{alloc: (m.alloc - mem0.alloc) / float64(res.Requests), cycles: m.cycles - mem0.cycles})
				}
				lines = append(lines, res.Row(r, before, stormload.LoadAvg()))
				slow = append(slow, fmt.Sprintf("round %d, %s (from %s): requests over p99, by when they were sent (ms:count): %s", r, t.Name, res.Start.UTC().Format("15:04:05.000"), res.Slow(.99, 20*time.Millisecond)))
				results[t.Name] = append(results[t.Name], res)
				if res.Non2xx() > 0 {
					b.Errorf("round %d, %s: answers %s (first transport error: %q)", r, t.Name, res.CodesString(), res.FirstError)
				}
			}
		}
		if stopProfile != nil {
			stopProfile()
		}
		// Memory once the storm is over: idle, then 10 s later.
		stormload.WaitIdle(dm.cmd.Process.Pid, 3*time.Second, 60*time.Second)
		idle1, _ := stormload.Memory(dm.cmd.Process.Pid)
		time.Sleep(10 * time.Second)
		idle2, peak := stormload.Memory(dm.cmd.Process.Pid)
		_, peerPeak := stormload.Memory(am.cmd.Process.Pid)

		var out strings.Builder
		fmt.Fprintf(&out, "\n%s\n%s\n\n%s\n\n", stormload.Header, strings.Join(lines, "\n"), strings.Join(slow, "\n"))
		var worst float64 = -1
		compare := func(label, name string, o, t stormload.Result) string {
			return fmt.Sprintf("%s: %s/am-executor req/s = %.2f; p99 %.2f ms vs %.2f ms (%s); CPU a request %.0f vs %.0f µs", label, name, o.ReqPerSec()/t.ReqPerSec(),
				stormload.Millis(o.Quantile(.99)), stormload.Millis(t.Quantile(.99)), map[bool]string{true: "≤ theirs", false: "> theirs"}[o.Quantile(.99) <= t.Quantile(.99)],
				float64(o.CPUPerRequest().Nanoseconds())/1e3, float64(t.CPUPerRequest().Nanoseconds())/1e3)
		}
		for _, name := range []string{"claude-ops", "claude-ops-baseline", "am-executor-2"} {
			for r, o := range results[name] {
				t := results["am-executor"][r]
				ratio := o.ReqPerSec() / t.ReqPerSec()
				if name == "claude-ops" && (worst < 0 || ratio < worst) {
					worst = ratio
				}
				out.WriteString(compare(fmt.Sprintf("round %d", r+1), name, o, t))
				if g := gcs[name]; g != nil {
					fmt.Fprintf(&out, "; %s allocated %.1f KiB a request, %.0f GC cycles", name, g[r].alloc/1024, g[r].cycles)
				}
				out.WriteString("\n")
			}
			if rs := results[name]; len(rs) > 1 {
				fmt.Fprintf(&out, "%s\n", compare("all rounds, pooled", name, stormload.Pool(rs...), stormload.Pool(results["am-executor"]...)))
			}
		}
		fmt.Fprintf(&out, "claude-ops RSS: %s before the storm; peak (VmHWM) %s; idle after it %s, 10 s later %s; am-executor peak %s\n",
			stormload.MiB(idleBefore), stormload.MiB(peak), stormload.MiB(idle1), stormload.MiB(idle2), stormload.MiB(peerPeak))
		for i, d := range daemons {
			most, open := oneIncidentPerService(b, d)
			fmt.Fprintf(&out, "%s: %d open incidents over %d services; most for one service: %d\n", []string{"claude-ops", "claude-ops-baseline"}[i], open, storm.Services, most)
			if most != 1 || open != storm.Services {
				b.Errorf("%d open incidents, at most %d for one service; want %d, one each", open, most, storm.Services)
			}
		}
		fmt.Print(out.String()) // b.Log would cut the table
		if f := os.Getenv("CLAUDEOPS_STORM_OUTPUT"); f != "" {
			if err := os.WriteFile(f, []byte(dm.Output()), 0o644); err != nil {
				b.Error(err)
			}
		}
		b.ReportMetric(worst, "worst-ratio")
		b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		for _, d := range daemons {
			d.stop(b, 20*time.Second)
		}
	}
}

// goBuild builds the main package in dir into out (a plain build). With
// pprof, the build writes a CPU profile to $CLAUDEOPS_CPUPROFILE between
// GET /start and GET /stop on $CLAUDEOPS_PPROF_ADDR, and at the stop a heap
// profile to the same name with ".heap" appended: a file added by
// -overlay, so no production build carries it.
func goBuild(b *testing.B, dir, out string, pprof bool) {
	b.Helper()
	args := []string{"build", "-o", out}
	if pprof {
		tmp := b.TempDir()
		file, overlay := filepath.Join(tmp, "pprof.go"), filepath.Join(tmp, "overlay.json")
		writeFile(b, file, pprofOverlay)
		target, err := filepath.Abs(filepath.Join(dir, "zz_pprof_overlay.go"))
		if err != nil {
			b.Fatal(err)
		}
		o, err := json.Marshal(map[string]map[string]string{"Replace": {target: file}})
		if err != nil {
			b.Fatal(err)
		}
		writeFile(b, overlay, string(o))
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build in %s: %v\n%s", dir, err, msg)
	}
}

const pprofOverlay = `package main

import (
	"net/http"
	"os"
	"runtime/pprof"
)

// A CPU profile into $CLAUDEOPS_CPUPROFILE between GET /start and GET /stop.
func init() {
	addr, file := os.Getenv("CLAUDEOPS_PPROF_ADDR"), os.Getenv("CLAUDEOPS_CPUPROFILE")
	if addr == "" || file == "" {
		return
	}
	var f *os.File
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		var err error
		if f, err = os.Create(file); err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("/stop", func(w http.ResponseWriter, r *http.Request) {
		pprof.StopCPUProfile()
		err := f.Close()
		if err == nil {
			err = writeHeap(file + ".heap")
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	go http.ListenAndServe(addr, mux) //nolint:errcheck
}

// writeHeap writes the heap profile (in use and allocated since start).
func writeHeap(name string) error {
	h, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(h, 0); err != nil {
		h.Close()
		return err
	}
	return h.Close()
}
`

// startStormDaemon starts the plain build bin with a token, as beside
// Alertmanager, with flags added; sessions run the stub CLI.
func startStormDaemon(b *testing.B, bin string, api *fakeapi.Server, stub, token, profile string, extraEnv []string, flags ...string) (*daemon, string) {
	b.Helper()
	d := newDirs(b)
	tf := filepath.Join(filepath.Dir(d.State), "webhook.token")
	writeFile(b, tf, token+"\n")
	if err := os.Chmod(tf, 0o600); err != nil {
		b.Fatal(err)
	}
	addr := freePort(b)
	env := append(daemonEnv(b, api, d), extraEnv...)
	var pprofAddr string
	if profile != "" {
		pprofAddr = freePort(b)
		env = append(env, "CLAUDEOPS_PPROF_ADDR="+pprofAddr, "CLAUDEOPS_CPUPROFILE="+profile)
	}
	p := start(b, "claude-ops", env, append([]string{bin, "--web.listen-address=" + addr,
		"--state.dir=" + d.State, "--results.dir=" + d.Results, "--repos.dir=" + d.Repos,
		"--webhook.token-file=" + tf, "--claude.path=" + stub, "--schedule.interval=1h"}, flags...)...)
	dm := &daemon{proc: p, URL: "http://" + addr, Dirs: d, Token: token}
	p.waitReady(b, dm.URL, 30*time.Second)
	return dm, pprofAddr
}

type amExecutor struct {
	*proc
	url string
}

// startAMExecutor starts the peer with one command that never matches: it
// decodes each notification and does nothing else.
func startAMExecutor(b *testing.B, bin string) amExecutor {
	b.Helper()
	cfg := filepath.Join(b.TempDir(), "am-executor.yml")
	writeFile(b, cfg, "commands:\n  - cmd: /bin/true\n    match_labels:\n      service: no-such-service\n")
	addr := freePort(b)
	p := start(b, "am-executor", []string{"PATH=" + os.Getenv("PATH")}, bin, "-f", cfg, "-l", addr)
	waitFor(b, 30*time.Second, "am-executor /_health", func() bool {
		code, _ := httpGet(b, "http://"+addr+"/_health")
		return code == http.StatusOK
	})
	return amExecutor{p, "http://" + addr + "/"}
}

// cpuProfile starts a CPU profile of the daemon; the function returned
// stops it (the daemon writes the file).
func cpuProfile(b *testing.B, addr string) func() {
	b.Helper()
	get := func(path string) {
		code, body := httpGet(b, "http://"+addr+path)
		if code != http.StatusOK {
			b.Fatalf("cpu profile %s: %d %s", path, code, body)
		}
	}
	get("/start")
	return func() { get("/stop") }
}

// oneIncidentPerService returns the most open incidents of one service and
// how many are open.
func oneIncidentPerService(b *testing.B, dm *daemon) (most, open int) {
	b.Helper()
	code, body := dm.get(b, "/api/v1/incidents?state=open&limit=1000")
	if code != http.StatusOK {
		b.Fatalf("incidents: %d %s", code, body)
	}
	var list []incidentView
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		b.Fatalf("incidents: %v", err)
	}
	per := map[string]int{}
	for _, in := range list {
		if in.State == "closed" {
			continue
		}
		per[in.Service]++
	}
	for _, n := range per {
		most = max(most, n)
		open += n
	}
	return most, open
}

// goMem is what the daemon's Go runtime reports of its heap: bytes
// allocated and GC cycles, both since it started (or per request and during
// a run, as the benchmark subtracts them).
type goMem struct{ alloc, cycles float64 }

// goMem scrapes the daemon's /metrics for go_memstats_alloc_bytes_total and
// go_gc_duration_seconds_count.
func (d *daemon) goMem(t testing.TB) goMem {
	t.Helper()
	body := d.scrape(t)
	var m goMem
	for _, f := range []struct {
		series string
		v      *float64
	}{{"go_memstats_alloc_bytes_total", &m.alloc}, {"go_gc_duration_seconds_count", &m.cycles}} {
		v, err := strconv.ParseFloat(sampleValue(body, f.series), 64)
		if err != nil {
			t.Fatalf("%s in /metrics: %v", f.series, err)
		}
		*f.v = v
	}
	return m
}
