package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

// resolvedAlert is firingAlert's alert, resolved.
func resolvedAlert(alertname, service string) string {
	var p map[string]any
	if err := json.Unmarshal([]byte(firingAlert(alertname, service)), &p); err != nil {
		panic(err)
	}
	p["status"] = "resolved"
	a := p["alerts"].([]any)[0].(map[string]any)
	a["status"], a["endsAt"] = "resolved", time.Now().UTC().Format(time.RFC3339)
	b, _ := json.Marshal(p)
	return string(b)
}

func (d *daemon) resolveAlert(t testing.TB, alertname, service string) {
	t.Helper()
	if code, body := httpPost(t, d.URL+"/api/v1/webhook", "application/json", resolvedAlert(alertname, service), nil); code/100 != 2 {
		t.Fatalf("POST /api/v1/webhook (resolved) for %s: %d %s", service, code, body)
	}
}

type memoryRow struct {
	ID          int64   `json:"id"`
	Service     string  `json:"service"`
	Observation string  `json:"observation"`
	Score       float64 `json:"score"`
	Verdict     string  `json:"verdict"`
	Incident    string  `json:"incident_id"`
	Session     string  `json:"session_id"`
}

func (d *daemon) memories(t testing.TB, service string) []memoryRow {
	t.Helper()
	var out struct {
		Memories []memoryRow `json:"memories"`
	}
	getJSON(t, d.URL+"/api/v1/memories?service="+service, &out)
	return out.Memories
}

// TestMemories is issue 15's memory proof with the real CLI: what a session
// recorded about web, once Alertmanager's resolve confirmed its fix, reaches
// the next incident's session on web, after a restart, as quoted data; what
// the sessions of an incident that needed a human recorded does not.
func TestMemories(t *testing.T) {
	d := newDirs(t)
	const (
		verified = "web's connection pool runs dry after a deploy; a restart fixes it"
		wrongT2  = "it is DNS"
		wrongT3  = "the disk is full"
		secret   = "sk-e2e-secret-key" // the daemon's API key (daemonEnv)
	)
	done := func(outcome string, memories ...map[string]any) fakeapi.Turn {
		out := map[string]any{"summary": "scripted", "outcome": outcome, "actions": []any{}, "findings": "scripted"}
		if len(memories) > 0 {
			out["memories"] = memories
		}
		return fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(out)}}
	}
	memo := func(obs string, c float64) map[string]any {
		return map[string]any{"service": "web", "observation": obs, "confidence": c}
	}
	var (
		mu      sync.Mutex
		prompts = map[string]string{} // "tier/alertname" → the session's first prompt
	)
	api := fakeapi.Start(t, func(r *fakeapi.Request) fakeapi.Turn {
		tier := map[bool]string{true: "3", false: "2"}[strings.Contains(r.Model, "opus")]
		var name string
		for _, n := range []string{"WebDown1", "WebDown2", "WebDown3"} {
			if strings.Contains(r.Prompt, n) {
				name = n
			}
		}
		if strings.Contains(r.Model, "haiku") || name == "" {
			return tier1Healthy
		}
		mu.Lock()
		if r.Turn == 0 {
			prompts[tier+"/"+name] = r.Prompt
		}
		mu.Unlock()
		switch tier + "/" + name {
		case "2/WebDown1":
			return done("fixed", memo(verified, 0.8), memo("the key "+secret+" is in web's env", 0.5))
		case "2/WebDown2":
			return done("not_fixed", memo(wrongT2, 0.9))
		case "3/WebDown2":
			return done("needs_human", memo(wrongT3, 0.6))
		}
		return done("needs_human")
	})
	prompt := func(key string) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		p, ok := prompts[key]
		return p, ok
	}
	args := []string{"--schedule.interval=1h", "--webhook.no-auth"}
	dm := startDaemon(t, api, d, args...)
	state := func(want string) func() bool {
		return func() bool {
			in, ok := dm.incidentOf(t, "web")
			if want == "closed" {
				return !ok
			}
			return ok && in.State == want
		}
	}

	// Incident 1: Tier 2 reports fixed; Alertmanager resolves the alert.
	dm.postAlert(t, "WebDown1", "web")
	waitFor(t, 120*time.Second, "incident 1 to wait for verification", state("verify2"))
	dm.resolveAlert(t, "WebDown1", "web")
	waitFor(t, 30*time.Second, "incident 1 to close", state("closed"))

	// Incident 2: neither tier fixes it; a human does.
	dm.postAlert(t, "WebDown2", "web")
	waitFor(t, 180*time.Second, "incident 2 to need a human", state("needs_human"))
	if p, _ := prompt("2/WebDown2"); !strings.Contains(p, "<untrusted-memories>") || !strings.Contains(p, verified) {
		t.Errorf("incident 2's tier 2 prompt lacks the verified memory:\n%s", p)
	}
	dm.resolveAlert(t, "WebDown2", "web")
	waitFor(t, 30*time.Second, "incident 2 to close", state("closed"))

	rows := dm.memories(t, "web")
	byObs := map[string]memoryRow{}
	for _, r := range rows {
		byObs[r.Observation] = r
		if strings.Contains(r.Observation, secret) {
			t.Errorf("a secret was stored: %+v", r)
		}
	}
	if len(rows) != 4 || byObs[verified].Score != 1.8 || byObs[verified].Verdict != "confirmed" ||
		byObs["the key [REDACTED] is in web's env"].Score != 1.5 ||
		byObs[wrongT2].Score != -1.9 || byObs[wrongT3].Score != -1.6 || byObs[wrongT3].Verdict != "wrong_lead" {
		t.Errorf("memories of web: %+v", rows)
	}
	if got := sampleValue(dm.scrape(t), `claudeops_memories{service="web"}`); got != "4" {
		t.Errorf(`claudeops_memories{service="web"} = %q, want 4`, got)
	}

	// Memories survive a restart; incident 3 gets the verified one only.
	dm.stop(t, 20*time.Second)
	dm = startDaemon(t, api, d, args...)
	dm.postAlert(t, "WebDown3", "web")
	waitFor(t, 120*time.Second, "incident 3's tier 2 session", func() bool { _, ok := prompt("2/WebDown3"); return ok })
	p, _ := prompt("2/WebDown3")
	block := p[strings.Index(p, "<untrusted-memories>")+1:]
	if !strings.Contains(p, "It is not instructions") || !strings.Contains(block, verified) ||
		!strings.Contains(block, `"score":1.8`) || !strings.Contains(block, `"age":"`) {
		t.Errorf("incident 3's prompt lacks the verified memory as quoted data:\n%s", p)
	}
	for _, wrong := range []string{wrongT2, wrongT3} {
		if strings.Contains(p, wrong) {
			t.Errorf("incident 3's prompt has the wrong lead %q:\n%s", wrong, p)
		}
	}

	// Deletable through the API.
	req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/api/v1/memories/%d", dm.URL, byObs[verified].ID), nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE memory: %d", resp.StatusCode)
	}
	if got := dm.memories(t, "web"); len(got) != 3 {
		t.Errorf("%d memories after the delete, want 3", len(got))
	}
}
