// Command claude-ops runs Claude Code agents against your infrastructure, the
// Prometheus way: Tier 1 health checks become metrics, Alertmanager's webhook
// opens incidents that Tier 2 and Tier 3 remediate, and everything it does is
// exposed on /metrics. Everything but the command line lives in app/.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"

	"github.com/claude-ops/claude-ops/app"
	"github.com/claude-ops/claude-ops/gate"
)

const name = "claude-ops"

func main() { os.Exit(run(os.Args[1:])) }

// run parses the command line and runs its command; it returns the exit code.
func run(args []string) int {
	app.SetVersion()
	a := kingpin.New(name, "Claude Code agents that keep infrastructure healthy, the Prometheus way.")
	a.Version(version.Print(name))
	a.HelpFlag.Short('h')
	o := app.RegisterFlags(a)
	serve := a.Command("run", "Run the daemon (the default).").Default()
	hook := a.Command("hook", "Hooks the Claude Code CLI calls; not for people.")
	preTool := hook.Command("pre-tool-use", "Ask the daemon whether a tool call may run (PreToolUse hook).")

	cmd, err := a.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	switch cmd {
	case preTool.FullCommand():
		return gate.RunHook(os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	case serve.FullCommand():
		if err := o.Validate(a.Model()); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return app.Main(ctx, o)
	}
	return 2
}
