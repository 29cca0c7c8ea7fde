package app

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

// noSeriesAtStart are the families that have no series before their first
// event, each because its label values are not known before it: a service,
// a repo, a probe, a path. Every other family has a series for each known
// label value (tier, outcome, result, stage) from the start.
var noSeriesAtStart = map[string]string{
	"claudeops_repo_errors":               "per repo with errors",
	"claudeops_repo_mcp_conflicts":        "per repo with conflicts",
	"claudeops_cooldown_actions":          "per service that acted",
	"claudeops_remediation_actions_total": "per service that acted",
	"claudeops_memories":                  "per service with memories",
	"claudeops_needs_human_attention":     "per service that needs a human",
	"claudeops_needs_human_alert_pushed":  "per service that needs a human",
	// The API's model id (claude-haiku-4-5-…, the same on both) is known
	// only from the first answer; the flags name aliases (haiku).
	"claudeops_cost_usd_total": "per model id the API answered with",
	"claudeops_tokens_total":   "per model id the API answered with",
}

// TestEveryFamilyHasSeriesAtStart builds the whole daemon on throwaway dirs
// and gathers its registry once: every family registered has series before
// any event, but those of noSeriesAtStart.
func TestEveryFamilyHasSeriesAtStart(t *testing.T) {
	a := newTestApp(t)
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gathered := map[string]bool{}
	for _, mf := range mfs {
		gathered[mf.GetName()] = true
	}
	var missing []string
	for name := range a.reg.names {
		if !gathered[name] && noSeriesAtStart[name] == "" {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	for _, name := range missing {
		t.Errorf("%s has no series at start: initialise its known label values (or say in noSeriesAtStart why none are known)", name)
	}
	for name := range noSeriesAtStart {
		if !a.reg.names[name] {
			t.Errorf("noSeriesAtStart names %s, which is not registered", name)
		}
	}
	if len(a.reg.names) < 40 {
		t.Errorf("only %d families registered: the registry misses some", len(a.reg.names))
	}
}

// TestEveryFamilyInSpec: the contract names every family the daemon
// registers, so that none is emitted undocumented.
func TestEveryFamilyInSpec(t *testing.T) {
	a := newTestApp(t)
	spec, err := os.ReadFile("../docs/SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range a.reg.names {
		if strings.HasPrefix(name, "claudeops_") && !strings.Contains(string(spec), name) {
			t.Errorf("docs/SPEC.md does not name %s", name)
		}
	}
}

// newTestApp builds the whole daemon on throwaway dirs, without an engine
// or a sandbox; nothing runs.
func newTestApp(t *testing.T) *App {
	t.Helper()
	dir := t.TempDir()
	ka := kingpin.New("claude-ops", "")
	ka.Terminate(nil)
	o := RegisterFlags(ka)
	if _, err := ka.Parse([]string{
		"--state.dir=" + filepath.Join(dir, "state"), "--results.dir=" + filepath.Join(dir, "results"),
		"--repos.dir=" + filepath.Join(dir, "repos"), "--web.listen-address=127.0.0.1:0",
		"--engine.host=unix://" + filepath.Join(dir, "no-engine.sock"), "--sandbox.disable", "--webhook.no-auth",
	}); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(ka.Model()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ANTHROPIC_API_KEY", "sk-test")
	a, err := New(o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}
