// Command stormload replays an Alertmanager notification storm against a
// webhook receiver that is already running, and prints requests per second,
// latency percentiles, status codes and, given the receiver's pid, its CPU
// time per request and peak RSS (VmHWM).
//
//	stormload -url http://127.0.0.1:9099/api/v1/webhook -token "$(cat token)" -pid "$(pidof claude-ops)"
//
// It starts no process: the side-by-side run, which builds and starts the
// daemon and prometheus-am-executor, is e2e's BenchmarkWebhookStorm.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/claude-ops/claude-ops/internal/stormload"
)

func main() {
	var (
		s           stormload.Storm
		t           stormload.Target
		concurrency int
		rounds      int
		warmup      int
	)
	flag.IntVar(&s.Alerts, "alerts", 10000, "firing alerts per round")
	flag.IntVar(&s.Services, "services", 500, "services the alerts are spread over")
	flag.IntVar(&s.PerRequest, "per-request", 1, "most alerts per notification (alerts of one service)")
	flag.Float64Var(&s.ResolvedShare, "resolved", 0.1, "share of notifications with a resolved twin racing them")
	flag.Uint64Var(&s.Seed, "seed", 1, "seed of the storm")
	flag.IntVar(&concurrency, "concurrency", 32, "requests in flight")
	flag.IntVar(&rounds, "rounds", 1, "rounds (a new storm each: its alerts start an hour after the last round's)")
	flag.IntVar(&warmup, "warmup", 0, "notifications sent before the first round, not measured")
	flag.StringVar(&t.URL, "url", "", "the webhook's URL (required)")
	flag.StringVar(&t.Token, "token", "", "bearer token sent with every request (empty: none)")
	flag.IntVar(&t.PID, "pid", 0, "the receiver's pid, to read its CPU time and memory from /proc (0: not read)")
	flag.StringVar(&t.Name, "name", "target", "the receiver's name in the output")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, s, t, concurrency, rounds, warmup)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stormload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, s stormload.Storm, t stormload.Target, concurrency, rounds, warmup int) error {
	if t.URL == "" {
		return errors.New("-url is required")
	}
	fmt.Printf("storm: %d alerts over %d services, at most %d per notification, %.0f%% with a resolved twin; concurrency %d; %d rounds\n",
		s.Alerts, s.Services, s.PerRequest, 100*s.ResolvedShare, concurrency, rounds)
	fmt.Printf("machine: %d CPUs; load average %s\n", runtime.NumCPU(), stormload.LoadAvg())
	if warmup > 0 {
		ws := s
		ws.Alerts = min(s.Alerts, warmup*max(s.PerRequest, 1))
		if _, err := stormload.Run(ctx, t, ws.Build(0), concurrency); err != nil {
			return err
		}
	}
	fmt.Println(stormload.Header)
	for r := 1; r <= rounds; r++ {
		ns := s.Build(r)
		if r == 1 {
			fmt.Printf("round: %s\n", stormload.Describe(ns))
		}
		before := stormload.LoadAvg()
		res, err := stormload.Run(ctx, t, ns, concurrency)
		if err != nil {
			return err
		}
		fmt.Println(res.Row(r, before, stormload.LoadAvg()))
		if res.FirstError != "" {
			fmt.Printf("first transport error: %s\n", res.FirstError)
		}
	}
	return nil
}
