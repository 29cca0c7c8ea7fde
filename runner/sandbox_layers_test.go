package runner

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/session"
)

// TestSandboxLayers runs the attacks with no sandbox, each layer alone and
// both, and logs which layer blocks which attack (the table in
// docs/SPEC.md). It asserts that the attacks are real (without a sandbox
// they reach planted secrets) and that both layers together block all of
// them: no planted value comes back and no listener sees a connection.
// hostAttacks read the host's own secrets (other processes' environments,
// /etc/shadow); they run only inside a sandbox layer.
var hostAttacks = map[string]bool{"all environ": true, "perl environ": true, "shadow": true}

func TestSandboxLayers(t *testing.T) {
	needSandbox(t)
	leaks := map[string]int{}
	modes := []string{"none", "outer", "inner", "both"}
	table := map[string][]string{}
	var names []string
	for _, mode := range modes {
		srv := fakeapi.Start(t, nil)
		b := startBridge(t, srv)
		w := newAttackWorld(t, b)
		run, sb := sandboxRunner(t, srv, b, func(sb *Sandbox) {
			sb.SecretPaths = append(DefaultSecretPaths(), w.repos+"/state", w.repos+"/run", w.repos+"/app/config/webhook.tok")
			if extra := os.Getenv("CLAUDEOPS_SANDBOX_SECRETS"); extra != "" {
				sb.SecretPaths = strings.Split(extra, ",")
				sb.SecretPaths = append(sb.SecretPaths, w.repos+"/state", w.repos+"/run", w.repos+"/app/config/webhook.tok")
			}
			sb.Sockets = []string{w.gateSock}
			sb.only = mode
		})
		switch mode {
		case "none":
			run.cfg.Sandbox = nil
			run.cfg.BaseURL = srv.URL()
		case "inner":
			run.cfg.BaseURL = srv.URL()
		}
		as := attacks(w, b, sb)
		if len(names) == 0 {
			for _, a := range as {
				names = append(names, a.name)
			}
		}
		if mode == "none" {
			// Unsandboxed, an attack runs on the host itself: keep to the
			// ones aimed at this test's throwaway state, never the host's
			// processes or /etc/shadow.
			as = slices.DeleteFunc(as, func(a attack) bool { return hostAttacks[a.name] })
		}
		var tools []fakeapi.ToolUse
		for _, a := range as {
			tools = append(tools, a.tool)
		}
		srv.SetScript(fakeapi.Sequence(fakeapi.Turn{Tools: tools},
			fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(tier1OK())}}))
		req := tierRequest(t, session.Tier1, "haiku")
		req.Dir = w.repos
		req.Policy = session.Policy{Tools: []string{"Bash", "Read", "Grep", "Glob"}, Allow: []string{"Bash", "Read", "Grep", "Glob"}}
		req.Env = map[string]string{"CLAUDEOPS_GATE_TOKEN": plantedGateTok, "CLAUDEOPS_GATE_SOCKET": w.gateSock}
		rec := run.Run(context.Background(), req)
		reqs := srv.Requests()
		if len(reqs) < 2 {
			t.Fatalf("%s: outcome %q (%s: %s), %d requests", mode, rec.Outcome, rec.ErrorSubtype, rec.Reason, len(reqs))
		}
		res := resultsInOrder(t, reqs[1])
		for i, a := range as {
			var leaked []string
			for _, s := range planted {
				if strings.Contains(res[i].Content, s) {
					leaked = append(leaked, strings.TrimPrefix(s, "PLANTED-"))
				}
			}
			cell := fmt.Sprintf("%v %.90q", res[i].IsError, res[i].Content)
			leaks[mode] += len(leaked)
			if len(leaked) > 0 {
				cell = "LEAK " + strings.Join(leaked, ",") + " " + cell
			}
			switch a.name {
			case "docker.sock":
				cell += fmt.Sprintf(" [docker conns %d]", w.docker.n.Load())
			case "gate socket":
				cell += fmt.Sprintf(" [gate conns %d]", w.gate.n.Load())
			case "host TCP port":
				cell += fmt.Sprintf(" [tcp conns %d]", w.tcp.n.Load())
			case "API port", "bridge socket":
				cell += fmt.Sprintf(" [foreign API requests %d]", b.foreign.Load())
			}
			table[a.name] = append(table[a.name], mode+": "+cell)
		}
		if mode == "both" {
			if n := w.docker.n.Load() + w.gate.n.Load() + w.tcp.n.Load() + b.foreign.Load(); n != 0 {
				t.Errorf("both layers: %d connections reached a listener the sandbox must hide", n)
			}
		}
	}
	if leaks["none"] == 0 {
		t.Error("no attack leaked without a sandbox: the attacks test nothing")
	}
	if leaks["both"] != 0 {
		t.Errorf("%d planted values leaked through both layers", leaks["both"])
	}
	for _, n := range names {
		t.Logf("%s\n\t%s", n, strings.Join(table[n], "\n\t"))
	}
}
