package runner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/session"
)

// BenchmarkSandboxBash measures what the sandbox costs: one op is a session
// of n sequential Bash `true` calls (one per turn), with and without the
// sandbox (both layers), with one layer ("outer": bwrap around the CLI;
// "inner": the CLI's own sandbox), and without. ms/call is (time of n calls - time of 0 calls) / n.
//
//	go test -run '^$' -bench SandboxBash -benchtime 5x ./runner/
func BenchmarkSandboxBash(b *testing.B) {
	needSandbox(b)
	base := map[string]float64{}
	for _, mode := range []string{"unsandboxed", "outer", "inner", "both"} {
		for _, n := range []int{0, 10} {
			b.Run(fmt.Sprintf("%s/calls=%d", mode, n), func(b *testing.B) {
				var turns []fakeapi.Turn
				for range n {
					turns = append(turns, fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.Bash("true")}})
				}
				turns = append(turns, fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(tier1OK())}})
				srv := fakeapi.Start(b, fakeapi.Sequence(turns...))
				br := startBridge(b, srv)
				run, _ := sandboxRunner(b, srv, br, func(s *Sandbox) {
					if mode != "both" {
						s.only = mode
					}
				})
				switch mode {
				case "unsandboxed":
					run.cfg.Sandbox, run.cfg.BaseURL = nil, srv.URL()
					// A HOME of its own: the login shell sources its profile.
					run.cfg.ExtraEnv["HOME"] = b.TempDir()
				case "inner":
					run.cfg.BaseURL = srv.URL()
				}
				dir := b.TempDir()
				req := session.Request{Tier: session.Tier1, Model: "haiku", Prompt: "bench", Dir: dir,
					Policy: session.Policy{Tools: []string{"Bash"}, Allow: []string{"Bash"}, MaxTurns: 30}}
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					rec := run.Run(context.Background(), req)
					if rec.Outcome != session.OutcomeHealthy || rec.Turns != n+2 || len(rec.Denials) > 0 {
						b.Fatalf("outcome %q (%s: %s), %d turns", rec.Outcome, rec.ErrorSubtype, rec.Reason, rec.Turns)
					}
				}
				per := float64(time.Since(start).Milliseconds()) / float64(b.N)
				b.ReportMetric(per, "ms/session")
				if n == 0 {
					base[mode] = per
				} else if b0, ok := base[mode]; ok {
					b.ReportMetric((per-b0)/float64(n), "ms/call")
				}
			})
		}
	}
}
