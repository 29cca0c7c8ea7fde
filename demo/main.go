// Command demo is the keyless demo of Claude Ops (`make demo`, demo/run.sh):
// it plays everything around the daemon so that a newcomer watches one
// incident from a failing service to its remediation, with no API key, no
// Docker and no Prometheus:
//
//   - the model: a scripted stand-in for the Messages API (internal/fakeapi).
//     Tier 1 (haiku) writes a probe plan for the demo service; Tier 2
//     (sonnet) runs the playbook the repo declares, through the typed action
//     mcp__ops__run_playbook, and reports "fixed";
//   - the service "web": an HTTP server on 127.0.0.1 that answers 500 until
//     its playbook (a shell script writing a file) has run;
//   - the demo repo: CLAUDE-OPS.md and .claude-ops/services.yaml declaring
//     web, its host and its restart-web playbook (min_tier 2);
//   - Alertmanager: a tiny stand-in that reads the daemon's own /metrics and
//     posts an Alertmanager webhook when web's probe fails, and the resolved
//     alert when it passes again.
//
// demo -dir D prepares D (repos/, the playbook) and writes D/demo.env (the
// daemon's address and the model's URL) for run.sh, which starts the daemon;
// then it waits for the daemon, prints each step, and exits 0 once the
// incident is closed as remediated, 1 after -timeout.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

const (
	webCheck   = `claudeops_check_success{check="http",service="web",type="http"}`
	remediated = `claudeops_incidents_total{outcome="remediated"}`
	alertName  = "DemoWebDown"
)

func main() {
	dir := flag.String("dir", "", "working directory of the demo (repos, playbook, demo.env); required")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up (exit 1) after this long")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "demo: -dir is required")
		os.Exit(2)
	}
	if err := run(*dir, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "demo: FAILED:", err)
		os.Exit(1)
	}
}

func run(dir string, timeout time.Duration) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	fixed := filepath.Join(dir, "web.restarted")
	_ = os.Remove(fixed)

	// The failing service.
	webLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	webAddr := webLn.Addr().String()
	go http.Serve(webLn, //nolint:errcheck // ends with the demo
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := os.Stat(fixed); err != nil {
				http.Error(w, "web: connection pool exhausted", http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "ok")
		}))

	// The demo repo and its playbook.
	playbook := filepath.Join(dir, "restart-web.sh")
	files := map[string]string{
		playbook: fmt.Sprintf("#!/bin/sh\n# The demo's \"restart\" of web: web answers 200 once this file exists.\ndate > %q\necho \"web restarted\"\n", fixed),
		filepath.Join(dir, "repos", "demo", "CLAUDE-OPS.md"): "# demo\n" +
			"One service, web, an HTTP server on " + webAddr + " that must answer 200 on /healthz.\n" +
			"When it answers 500, its connection pool is exhausted: run its restart-web playbook.\n",
		filepath.Join(dir, "repos", "demo", ".claude-ops", "services.yaml"): fmt.Sprintf(`services:
  - name: web
    hosts: [%q]
    playbooks:
      - name: restart-web
        description: "Restart web (the demo's stand-in, a script that makes web answer 200 again)."
        argv: [%q]
        timeout: 10s
        min_tier: 2
        cooldown: restart
`, webAddr, playbook),
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(playbook, 0o755); err != nil {
		return err
	}

	// The scripted model.
	api := fakeapi.New(script(webAddr))
	defer api.Close()

	// The daemon's address, for run.sh.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	daemonAddr := ln.Addr().String()
	ln.Close()
	env := fmt.Sprintf("DEMO_DAEMON_ADDR=%s\nDEMO_MODEL_URL=%s\nDEMO_REPOS=%s\n", daemonAddr, api.URL(), filepath.Join(dir, "repos"))
	if err := os.WriteFile(filepath.Join(dir, "demo.env.tmp"), []byte(env), 0o644); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(dir, "demo.env.tmp"), filepath.Join(dir, "demo.env")); err != nil {
		return err
	}

	w := &watcher{url: "http://" + daemonAddr, deadline: time.Now().Add(timeout)}
	say("the scripted model (no API key) serves the Messages API on %s", api.URL())
	say("the demo service web answers 500 on http://%s/healthz (its connection pool is \"exhausted\")", webAddr)
	say("the demo repo is %s: web, its host and its restart-web playbook", filepath.Join(dir, "repos", "demo"))

	if err := w.until("the daemon to answer", func() (bool, error) {
		code, _, err := w.get("/-/ready")
		return err == nil && code == 200, nil
	}); err != nil {
		return err
	}
	say("1. the daemon is up: %s  (metrics: %s/metrics)", w.url, w.url)

	var tier1 string
	if err := w.until("Tier 1's probe plan", func() (bool, error) {
		id, ok := w.session(1, "")
		tier1 = id
		return ok, nil
	}); err != nil {
		return err
	}
	say("2. Tier 1 read the repo and wrote a probe plan: %s/api/v1/plan, transcript %s/sessions/%s", w.url, w.url, tier1)

	if err := w.until("web's probe to fail", func() (bool, error) { return w.metric(webCheck) == "0", nil }); err != nil {
		return err
	}
	say("3. the metric moved: %s 0 — the daemon's probe sees web fail", webCheck)

	if err := w.post(alertPayload("firing")); err != nil {
		return err
	}
	say("4. alert %s fired: posted to %s/api/v1/webhook (this demo's stand-in for Alertmanager, which would fire it from that metric)", alertName, w.url)

	var inc, tier2 string
	if err := w.until("Tier 2 to run", func() (bool, error) {
		in, ok := w.incident()
		if ok {
			inc = in.ID
			for _, s := range in.Sessions {
				if s.Tier == 2 {
					tier2 = s.ID
				}
			}
		}
		return tier2 != "", nil
	}); err != nil {
		return err
	}
	say("5. incident %s opened; Tier 2 is on it: %s/api/v1/incidents, transcript %s/sessions/%s", inc, w.url, w.url, tier2)

	if err := w.until("web's probe to pass", func() (bool, error) { return w.metric(webCheck) == "1", nil }); err != nil {
		return err
	}
	var act string
	if err := w.until("the ledger to record Tier 2's action", func() (bool, error) {
		var out struct {
			Actions []struct{ Service, Action, Result, Outcome, Command, Reason string } `json:"actions"`
		}
		code, b, err := w.get("/api/v1/actions")
		if err != nil || code != 200 || json.Unmarshal(b, &out) != nil {
			return false, nil
		}
		for _, a := range out.Actions {
			if a.Service == "web" && a.Outcome == "done" {
				act = fmt.Sprintf("%s %s: %s, %s", a.Action, a.Result, a.Command, a.Reason)
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	say("6. Tier 2 called the typed action mcp__ops__run_playbook {service: web, playbook: restart-web}; ledger (%s/api/v1/actions): %s", w.url, act)
	say("   and the metric moved back: %s 1", webCheck)

	if err := w.until("Tier 2 to report", func() (bool, error) {
		in, ok := w.incident()
		if ok && (in.State == "needs_human" || in.State == "tier3") {
			return false, fmt.Errorf("incident %s is %s: Tier 2 did not fix web", in.ID, in.State)
		}
		return ok && in.State == "verify2", nil
	}); err != nil {
		return err
	}
	if err := w.post(alertPayload("resolved")); err != nil {
		return err
	}
	say("7. alert %s resolved (the stand-in posted the resolved alert once the probe passed)", alertName)

	if err := w.until("the incident to close as remediated", func() (bool, error) { return w.metric(remediated) == "1", nil }); err != nil {
		return err
	}
	say("8. incident %s closed as remediated: %s 1", inc, remediated)
	say("done. Read what Tier 2 did at %s/sessions/%s", w.url, tier2)
	return nil
}

func say(format string, a ...any) {
	fmt.Printf("demo | "+format+"\n", a...)
}

// script is the demo's model: Tier 1 plans a probe of web, Tier 2 runs
// web's playbook and reports it fixed, anything else hands over to a human.
func script(webAddr string) fakeapi.Script {
	ops := func(tool string, in map[string]any) fakeapi.ToolUse {
		return fakeapi.ToolUse{Name: "mcp__ops__" + tool, Input: in}
	}
	done := func(v any) fakeapi.Turn {
		return fakeapi.Turn{Tools: []fakeapi.ToolUse{fakeapi.StructuredOutput(v)}}
	}
	return func(r *fakeapi.Request) fakeapi.Turn {
		switch {
		case strings.Contains(r.Model, "haiku"):
			if r.Turn == 0 {
				return fakeapi.Turn{Text: "Listing the services the repos declare.", Tools: []fakeapi.ToolUse{ops("list_services", map[string]any{})}}
			}
			if strings.Contains(r.Prompt, "makes the probe plan") {
				return done(map[string]any{"summary": "1 service planned: web's /healthz over HTTP", "services": []any{
					map[string]any{"name": "web", "checks": []any{}, "probes": []any{
						map[string]any{"name": "http", "type": "http", "timeout_seconds": 1,
							"http": map[string]any{"url": "http://" + webAddr + "/healthz", "valid_status_codes": []int{200}}},
					}},
				}})
			}
			return done(map[string]any{"summary": "web answers 500", "services": []any{
				map[string]any{"name": "web", "checks": []any{map[string]any{"name": "http", "type": "http", "status": "down", "latency_ms": 1, "detail": "500 Internal Server Error"}}},
			}})
		case strings.Contains(r.Model, "sonnet"):
			if r.Turn == 0 {
				return fakeapi.Turn{Text: "web answers 500: its connection pool is exhausted. Running its declared restart-web playbook.",
					Tools: []fakeapi.ToolUse{ops("run_playbook", map[string]any{"service": "web", "playbook": "restart-web"})}}
			}
			return done(map[string]any{
				"summary": "web answered 500; ran its restart-web playbook; it answers 200 again", "outcome": "fixed",
				"actions":  []any{map[string]any{"service": "web", "action": "restart", "target": "web", "result": "playbook restart-web done"}},
				"findings": "web's connection pool was exhausted; the restart playbook fixed it",
			})
		}
		return done(map[string]any{"summary": "the demo scripts only tiers 1 and 2", "outcome": "needs_human", "actions": []any{}, "findings": "none"})
	}
}

func alertPayload(status string) []byte {
	labels := map[string]string{"alertname": alertName, "service": "web", "severity": "critical"}
	alert := map[string]any{"status": status, "labels": labels,
		"annotations": map[string]string{"summary": "web's /healthz probe fails"},
		"startsAt":    time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "fingerprint": "00000000000d3e01"}
	if status == "resolved" {
		alert["endsAt"] = time.Now().UTC().Format(time.RFC3339)
	}
	b, _ := json.Marshal(map[string]any{
		"version": "4", "status": status, "receiver": "claude-ops", "groupKey": `{}:{alertname="` + alertName + `"}`,
		"alerts": []any{alert}, "groupLabels": map[string]string{"alertname": alertName}, "commonLabels": labels,
		"commonAnnotations": map[string]string{}, "externalURL": "http://demo-alertmanager-stand-in",
	})
	return b
}

// watcher polls the daemon.
type watcher struct {
	url      string
	deadline time.Time
}

var client = &http.Client{Timeout: 5 * time.Second}

func (w *watcher) get(path string) (int, []byte, error) {
	resp, err := client.Get(w.url + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (w *watcher) post(body []byte) error {
	resp, err := client.Post(w.url+"/api/v1/webhook", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST /api/v1/webhook: %d %s", resp.StatusCode, b)
	}
	return nil
}

func (w *watcher) until(what string, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(w.deadline) {
			return errors.New("timed out waiting for " + what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// metric is the value of one series of /metrics, "" when absent.
func (w *watcher) metric(series string) string {
	code, b, err := w.get("/metrics")
	if err != nil || code != 200 {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// session returns the newest ended session of a tier.
func (w *watcher) session(tier int, _ string) (string, bool) {
	var out struct {
		Sessions []struct {
			ID      string `json:"id"`
			Tier    int    `json:"tier"`
			Outcome string `json:"outcome"`
		} `json:"sessions"`
	}
	code, b, err := w.get("/api/v1/sessions")
	if err != nil || code != 200 || json.Unmarshal(b, &out) != nil {
		return "", false
	}
	for _, s := range out.Sessions {
		if s.Tier == tier && s.Outcome != "" && s.Outcome != "running" {
			return s.ID, true
		}
	}
	return "", false
}

type incident struct {
	ID       string `json:"id"`
	Service  string `json:"service"`
	State    string `json:"state"`
	Sessions []struct {
		ID   string `json:"id"`
		Tier int    `json:"tier"`
	} `json:"sessions"`
}

// incident returns web's open incident.
func (w *watcher) incident() (incident, bool) {
	code, b, err := w.get("/api/v1/incidents")
	if err != nil || code != 200 {
		return incident{}, false
	}
	var list []incident
	if json.Unmarshal(b, &list) != nil {
		var wrapped struct {
			Incidents []incident `json:"incidents"`
		}
		if json.Unmarshal(b, &wrapped) != nil {
			return incident{}, false
		}
		list = wrapped.Incidents
	}
	for _, in := range list {
		if in.Service == "web" {
			return in, true
		}
	}
	return incident{}, false
}
