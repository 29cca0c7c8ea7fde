package scheduler

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/collector"
	"github.com/claude-ops/claude-ops/probes"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// TestTier1JobPlanMode: the plan mode asks the model for a plan and why,
// with the refusals of the current plan, and keeps the result as the plan,
// versioned with the repos' hash taken when the run was prepared.
func TestTier1JobPlanMode(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("shop/CLAUDE-OPS.md", "# shop\nweb serves the shop.\n")
	write("shop/.claude-ops/services.yaml", "services:\n  - name: web\n    hosts: [\"web.internal:8080\"]\n")
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inventory := func() *repos.Inventory { inv, _ := repos.Load(dir, nil); return inv }
	catalog := func(context.Context) (*services.Catalog, error) {
		return services.Build(services.FromInventory(inventory()), nil), nil
	}
	c := collector.NewTier1Collector(0)
	r := probes.New(probes.Config{Catalog: catalog, Sink: c})
	keeper := &probes.Keeper{Store: st, Runner: r, Catalog: catalog}
	hash := func() (string, error) { return probes.ReposHash(dir) }
	job := &Tier1Job{Inventory: inventory, Store: st, Collector: c, Logger: discard(), Plans: keeper, Hash: hash,
		ProbeInterval: 30 * time.Second}

	ctx := context.WithValue(context.Background(), reasonKey{}, "there is no probe plan yet")
	spec, err := job.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(spec.Prompt, "web serves the shop") ||
		!strings.Contains(spec.Prompt, "This run makes the probe plan (why now: there is no probe plan yet). The daemon runs your probes itself every 30s") {
		t.Errorf("plan-mode prompt:\n%s", spec.Prompt)
	}
	before, _ := hash()
	write("shop/CLAUDE-OPS.md", "# shop\nweb serves the shop; edited while the run ran.\n")

	result := `{"summary":"planned","services":[{"name":"web","checks":[],"probes":[
	  {"name":"http","type":"http","http":{"url":"http://web.internal:8080/healthz"}},
	  {"name":"admin","type":"http","http":{"url":"http://admin.internal/"}}]}]}`
	end := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	job.Record(context.Background(), session.Record{ID: "s1", Tier: session.Tier1, Outcome: session.OutcomeHealthy,
		End: end, StructuredOutput: json.RawMessage(result)})
	p := keeper.Current()
	if p == nil || p.Version != 1 || p.SessionID != "s1" || !p.MadeAt.Equal(end) || p.ReposHash != before ||
		len(p.Accepted()) != 1 || len(p.Refusals()) != 1 {
		t.Fatalf("plan after the run: %+v", p)
	}
	if now, _ := hash(); now == p.ReposHash {
		t.Error("the plan has the hash of the repos after the run, not before it: a change during the run would be missed")
	}
	if stt, err := st.LoadTier1(context.Background()); err != nil || !stt.Success || stt.SessionID != "s1" {
		t.Errorf("tier 1 state: %+v, %v", stt, err)
	}

	// The next request carries the refusals, for the model to mend.
	spec, _ = job.Prepare(context.WithValue(context.Background(), reasonKey{}, "the repos changed since plan 1 was made"))
	if !strings.Contains(spec.Prompt, "- service web, probe admin (http): http: admin.internal:80 is not a host of the inventory") {
		t.Errorf("the refusals are not in the next request:\n%s", spec.Prompt)
	}

	// A failed run keeps the plan.
	job.Record(context.Background(), session.Record{ID: "s2", Tier: session.Tier1, Outcome: session.OutcomeError, End: end.Add(time.Hour)})
	if p2 := keeper.Current(); p2 != p {
		t.Errorf("a failed run replaced the plan: %+v", p2)
	}

	// The check mode asks for no plan.
	check := &Tier1Job{Inventory: inventory, Store: st, Collector: c, Logger: discard()}
	spec, _ = check.Prepare(context.Background())
	if strings.Contains(spec.Prompt, "probe plan") {
		t.Errorf("check-mode prompt asks for a plan:\n%s", spec.Prompt)
	}
}
