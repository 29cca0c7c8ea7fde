package remediator

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

func restartDone(svc string) session.Action {
	return session.Action{Service: svc, Action: "restart", Target: svc, Result: "done", Stage: "verify", Tier: session.Tier2,
		Reason: "restarted " + svc + ", running again"}
}

// The alerts resolve while the session still runs (writing its report, say):
// a session that did a change fixed it, one that did nothing did not.
func TestResolvedWhileRunning(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dryRun  bool
		blind   bool // the remediator cannot look at the running session
		actions []session.Action
		want    session.Outcome
	}{
		{name: "restart done", actions: []session.Action{
			{Service: "db", Action: "container_logs", Target: "db", Result: "done", Stage: "execute"},
			restartDone("db"),
		}, want: session.OutcomeRemediated},
		{name: "redeploy done", actions: []session.Action{{Service: "db", Action: "redeploy", Target: "db", Result: "done"}}, want: session.OutcomeRemediated},
		{name: "playbook done", actions: []session.Action{{Service: "db", Action: "playbook", Target: "db", Result: "done"}}, want: session.OutcomeRemediated},
		{name: "nothing done", want: session.OutcomeResolved},
		{name: "probes only", actions: []session.Action{
			{Service: "db", Action: "container_status", Target: "db", Result: "done", Stage: "execute"},
		}, want: session.OutcomeResolved},
		{name: "restart refused, failed or unverified", actions: []session.Action{
			{Service: "db", Action: "restart", Target: "db", Result: "refused", Stage: "cooldown"},
			{Service: "db", Action: "restart", Target: "db", Result: "failed", Stage: "execute"},
			{Service: "db", Action: "restart", Target: "db", Result: "unverified", Stage: "verify"},
			{Service: "db", Action: "restart", Result: "refused_untyped", Stage: "gate", Command: "docker restart db"},
		}, want: session.OutcomeResolved},
		{name: "dry run proposal", dryRun: true, actions: []session.Action{
			{Service: "db", Action: "restart", Target: "db", Result: "proposed", Stage: "dry_run"},
		}, want: session.OutcomeResolved},
		{name: "blind, restart done", blind: true, actions: []session.Action{restartDone("db")}, want: session.OutcomeRemediated},
		{name: "blind, nothing done", blind: true, want: session.OutcomeResolved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				am := newFakeAM()
				h := newHarness(t, setup{am: am, blind: tc.blind, cfg: Config{DryRun: tc.dryRun}}).start()
				h.fire("db", "Down")
				id := h.waitCalls(1)[0].Spec.ID
				for _, a := range tc.actions {
					h.ses.act(id, a)
				}
				h.resolve("db", "Down")
				in := h.waitState("db", StateClosed)
				if in.Outcome != tc.want {
					t.Errorf("incident outcome %s, want %s", in.Outcome, tc.want)
				}
				_, cancels, _ := h.ses.snapshot()
				if len(cancels) != 1 || cancels[0].ID != id {
					t.Fatalf("cancels = %v", cancels)
				}
				if !tc.blind {
					// The session ends with the same outcome (claudeops_sessions_total{outcome}).
					if cancels[0].Outcome != tc.want || in.Sessions[0].Outcome != tc.want || len(in.Sessions[0].Actions) != len(tc.actions) {
						t.Errorf("session cancelled as %s, recorded %+v", cancels[0].Outcome, in.Sessions[0])
					}
				}
				other := session.OutcomeResolved
				if tc.want == other {
					other = session.OutcomeRemediated
				}
				h.wantMetric(1, "claudeops_incidents_total", "outcome", string(tc.want))
				h.wantMetric(0, "claudeops_incidents_total", "outcome", string(other))
				if tc.want == session.OutcomeRemediated {
					var p []PostableAlert
					eventually(t, "remediated alert", func() bool { p = am.pushed(AlertRemediated); return len(p) == 1 })
					a := p[0]
					if a.Labels["severity"] != "info" || a.Labels["service"] != "db" ||
						!strings.Contains(a.Annotations["summary"], "Claude Ops remediated db (Tier 2): ") ||
						!strings.Contains(a.Annotations["summary"], " db") ||
						!strings.Contains(a.Annotations["description"], "resolved after the Tier 2 session") {
						t.Errorf("remediated alert = %+v", a)
					}
				} else {
					h.fire("web", "Down") // marker: the pusher had its chance
					h.waitCalls(2)
					if p := am.pushed(AlertRemediated); len(p) != 0 {
						t.Errorf("remediated alert pushed for a resolved incident: %+v", p)
					}
				}
			})
		})
	}
}

// A model API outage: Tier 2 runs again after 1, 5 and 15 minutes; one more
// outage and a human is paged with the cause; Tier 3 never runs.
func TestAPIOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		am := newFakeAM()
		am.setActive("db-Down", true)
		h := newHarness(t, setup{am: am, cfg: Config{Concurrency: 10, MaxServicesPerHour: -1}}).start()
		h.fire("db", "Down")
		errs := []string{"api_error: 529 overloaded", "api_error: 500 internal server error", "API Error: Request timed out.", "api_error: 529 overloaded"}
		for i, delay := range []time.Duration{APIRetryFirst, APIRetrySecond, APIRetryThird} {
			c := h.waitFor("db", i+1)
			if c.Spec.Tier != session.Tier2 {
				t.Fatalf("session %d: tier %d, want 2", i+1, c.Spec.Tier)
			}
			c.finish(apiError(errs[i]))
			var in Incident
			eventually(t, "the retry planned", func() bool { in, _ = h.incident("db"); return in.APIFailures == i+1 })
			if in.State != StateTier2 || !in.RetryAt.Equal(time.Now().Add(delay)) || in.APIError != errs[i] {
				t.Fatalf("after outage %d: %+v", i+1, in)
			}
			// Not a second early.
			advance(delay - time.Second)
			marker := "probe" + string(rune('a'+i))
			h.fire(marker, "Marker")
			h.waitFor(marker, 1)
			if calls, _, _ := h.ses.snapshot(); countService(calls, "db") != i+1 {
				t.Fatalf("db ran again before its retry")
			}
			advance(time.Second)
		}
		last := h.waitFor("db", 4)
		if last.Spec.Tier != session.Tier2 {
			t.Fatalf("last db session %+v", last.Spec)
		}
		last.finish(apiError(errs[3]))
		in := h.waitState("db", StateNeedsHuman)
		if in.Reason != ReasonAPIUnavailable || !strings.HasPrefix(in.Detail, "model API unavailable: 4 Tier 2 sessions") ||
			in.APIError != "api_error: 529 overloaded" || in.APIFailures != 4 {
			t.Errorf("incident = %+v", in)
		}
		for _, s := range in.Sessions {
			if s.Tier != session.Tier2 || s.ErrorSubtype != "api_error" {
				t.Errorf("session %+v", s)
			}
		}
		var p []PostableAlert
		eventually(t, "needs-human alert", func() bool { p = am.pushed(AlertNeedsHuman); return len(p) == 1 })
		ann := p[0].Annotations
		if !strings.Contains(ann["summary"], "model API unavailable") || ann["reason"] != ReasonAPIUnavailable ||
			ann["api_error"] != "api_error: 529 overloaded" || !strings.Contains(ann["description"], "Model API error (4 session(s) in a row)") {
			t.Errorf("annotations = %v", ann)
		}
		views, _ := json.Marshal(h.r.Incidents())
		if !strings.Contains(string(views), `"api_error":"api_error: 529 overloaded"`) || !strings.Contains(string(views), `"reason":"model_api_unavailable"`) {
			t.Errorf("GET /api/v1/incidents = %s", views)
		}
		h.wantMetric(3, "claudeops_remediation_api_retries_total", "tier", "2")
		h.wantMetric(0, "claudeops_remediation_api_retries_total", "tier", "3")
		h.wantMetric(0, "claudeops_escalations_total", "from", "2", "to", "3")
		h.wantMetric(1, "claudeops_escalations_total", "from", "2", "to", "human")
	})
}

func countService(calls []*fakeCall, svc string) int {
	n := 0
	for _, c := range calls {
		if c.Spec.Service == svc {
			n++
		}
	}
	return n
}

// waitFor waits for the n-th session of a service and returns it.
func (h *harness) waitFor(svc string, n int) *fakeCall {
	h.t.Helper()
	var c *fakeCall
	eventually(h.t, fmt.Sprintf("session %d of %s", n, svc), func() bool {
		calls, _, _ := h.ses.snapshot()
		k := 0
		for _, x := range calls {
			if x.Spec.Service == svc {
				if k++; k == n {
					c = x
					return true
				}
			}
		}
		return false
	})
	return c
}

// pushedFor returns the pushes of an alertname for a service.
func (a *fakeAM) pushedFor(alertname, svc string) []PostableAlert {
	var out []PostableAlert
	for _, p := range a.pushed(alertname) {
		if p.Labels["service"] == svc {
			out = append(out, p)
		}
	}
	return out
}

// The API comes back: the retried Tier 2 fails on its own, Tier 3 runs with
// a fresh count, and an outage there is retried at Tier 3.
func TestAPIOutageThenTier3(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, setup{}).start()
		h.fire("db", "Down")
		h.waitCalls(1)[0].finish(apiError("api_error: 503 service unavailable"))
		eventually(t, "the retry planned", func() bool { in, _ := h.incident("db"); return in.APIFailures == 1 })
		advance(APIRetryFirst)
		h.waitCalls(2)[1].finish(record(session.OutcomeNotFixed, "t2", "disk full"))
		c := h.waitCalls(3)[2]
		if c.Spec.Tier != session.Tier3 {
			t.Fatalf("third session tier %d", c.Spec.Tier)
		}
		if in := h.waitState("db", StateTier3); in.APIFailures != 0 || in.APIError != "" {
			t.Errorf("api failures carried to Tier 3: %+v", in)
		}
		if p := h.handoff(2).H.Previous; p == nil || p.Findings != "disk full" {
			t.Errorf("tier 3 previous = %+v", p)
		}
		c.finish(apiError("api_error: 529 overloaded"))
		eventually(t, "the tier 3 retry planned", func() bool { in, _ := h.incident("db"); return in.APIFailures == 1 })
		advance(APIRetryFirst)
		if c := h.waitCalls(4)[3]; c.Spec.Tier != session.Tier3 {
			t.Errorf("retry tier %d, want 3", c.Spec.Tier)
		}
		h.wantMetric(1, "claudeops_remediation_api_retries_total", "tier", "2")
		h.wantMetric(1, "claudeops_remediation_api_retries_total", "tier", "3")
		// Resolved while waiting for a retry: closed as resolved.
		h.waitCalls(4)[3].finish(apiError("api_error: 529 overloaded"))
		eventually(t, "the second tier 3 retry planned", func() bool { in, _ := h.incident("db"); return in.APIFailures == 2 })
		h.resolve("db", "Down")
		if in := h.waitState("db", StateClosed); in.Outcome != session.OutcomeResolved || !in.RetryAt.IsZero() {
			t.Errorf("closed = %+v", in)
		}
		advance(APIRetrySecond)
		h.fire("web", "Down") // marker
		h.waitCalls(5)
		if calls, _, _ := h.ses.snapshot(); len(calls) != 5 {
			t.Errorf("a closed incident ran again")
		}
	})
}

func TestClassifyAPI(t *testing.T) {
	for _, tc := range []struct {
		o       session.Outcome
		subtype string
		reason  string
		want    apiFailure
	}{
		{session.OutcomeError, "api_error", "api_error: 529 overloaded", apiUnavailable},
		{session.OutcomeError, "api_error", "api_error: 500", apiUnavailable},
		{session.OutcomeError, "api_error", "api_error: 503 upstream connect error", apiUnavailable},
		{session.OutcomeError, "api_error", "api_error: 429 rate_limit_error", apiUnavailable},
		{session.OutcomeError, "api_error", "api_error: 408 request timeout", apiUnavailable},
		{session.OutcomeError, "api_error", "API Error: Request timed out.", apiUnavailable},
		{session.OutcomeError, "api_error", "API Error: Connection error.", apiUnavailable},
		{session.OutcomeError, "api_error", "", apiUnavailable},
		{session.OutcomeError, "is_error", "api_error: 529 overloaded", apiUnavailable},
		{session.OutcomeError, "api_error", "api_error: 400 bad request", apiOK},
		{session.OutcomeError, "api_error", "api_error: 404 model not found", apiOK},
		{session.OutcomeError, "api_error", "api_error: 401 invalid x-api-key", apiAuth},
		{session.OutcomeError, "api_error", "api_error: 403 forbidden", apiAuth},
		{session.OutcomeError, "api_error", "api_error: 402 budget", apiBilling},
		{session.OutcomeBudgetExhausted, "", "the budget was spent", apiBilling},
		{session.OutcomeAuthFailed, "authentication_error", "the model API rejected the key: api_error: 401 invalid x-api-key", apiAuth},
		{session.OutcomeError, "no_api_key", "no API key", apiAuth},
		{session.OutcomeError, "no_result", "exited without a result line", apiOK},
		{session.OutcomeError, "exit_status", "exit status 1 overloaded", apiOK},
		{session.OutcomeTimeout, "", "timed out after 10m", apiOK},
		{session.OutcomeNotFixed, "", "api_error: 529", apiOK},
	} {
		if got := classifyAPI(tc.o, tc.subtype, tc.reason); got != tc.want {
			t.Errorf("classifyAPI(%s, %s, %q) = %d, want %d", tc.o, tc.subtype, tc.reason, got, tc.want)
		}
	}
}

// Dry-run pages nobody: one info report per incident, never a needs-human
// alert, and the incident closes as dry_run when its alerts resolve.
func TestDryRun(t *testing.T) {
	proposal := session.Action{Service: "db", Action: "restart", Target: "db", Result: "proposed", Stage: "dry_run",
		Reason: "dry run: would restart db"}
	for _, tc := range []struct {
		name     string
		cfg      Config
		run      func(h *harness)
		sessions int
		reason   string
		proposed string // in the proposed_actions annotation, "" for none
	}{
		{
			name: "tier 2 proposes",
			run: func(h *harness) {
				rec := record(session.OutcomeDryRun, "would restart db", "oom")
				rec.Actions = []session.Action{proposal}
				h.waitCalls(1)[0].finish(rec)
			},
			sessions: 1, reason: ReasonProposed, proposed: "Tier 2: restart db: dry run: would restart db",
		},
		{
			name: "tier 3 proposes",
			run: func(h *harness) {
				h.waitCalls(1)[0].finish(record(session.OutcomeDryRun, "looked", ""))
				rec := record(session.OutcomeDryRun, "would restart db", "oom")
				rec.Actions = []session.Action{proposal}
				h.waitCalls(2)[1].finish(rec)
			},
			sessions: 2, reason: ReasonProposed, proposed: "Tier 3: restart db",
		},
		{
			name: "no tier proposes",
			run: func(h *harness) {
				h.waitCalls(1)[0].finish(record(session.OutcomeDryRun, "looked", ""))
				h.waitCalls(2)[1].finish(record(session.OutcomeDryRun, "looked harder", ""))
			},
			sessions: 2, reason: ReasonNoProposal,
		},
		{
			name: "cooldown refused",
			run: func(h *harness) {
				c := h.waitCalls(1)[0]
				h.r.CooldownRefused(c.Spec.IncidentID, "restart: 2 in the last 4h")
				c.finish(record(session.OutcomeDryRun, "", ""))
			},
			sessions: 1, reason: ReasonCooldown,
		},
		{
			name:     "blast radius",
			cfg:      Config{MaxServicesPerHour: 1},
			run:      func(h *harness) {},
			sessions: 0, reason: ReasonBlastRadius,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				am := newFakeAM()
				am.setActive("db-Down", true)
				cfg := tc.cfg
				cfg.DryRun = true
				h := newHarness(t, setup{am: am, cfg: cfg}).start()
				if tc.cfg.MaxServicesPerHour == 1 {
					h.fire("web", "Down") // takes the only slot
					h.waitCalls(1)
				}
				h.fire("db", "Down")
				tc.run(h)
				in := h.waitState("db", StateDryRun)
				if in.Reason != tc.reason {
					t.Errorf("reason %q, want %q", in.Reason, tc.reason)
				}
				var p []PostableAlert
				eventually(t, "the dry-run report", func() bool { p = am.pushedFor(AlertDryRunProposal, "db"); return len(p) == 1 })
				a := p[0]
				if a.Labels["severity"] != "info" || a.Labels["claudeops"] != "true" || a.Labels["service"] != "db" ||
					a.Annotations["incident_id"] != in.ID || !strings.HasPrefix(a.Annotations["summary"], "Dry run: ") ||
					!strings.Contains(a.Annotations["description"], "nothing was changed") {
					t.Errorf("report = %+v", a)
				}
				if got := a.Annotations["proposed_actions"]; tc.proposed == "" && got != "" || !strings.Contains(got, tc.proposed) {
					t.Errorf("proposed_actions = %q, want %q", got, tc.proposed)
				}
				// Nothing more: no re-post, no page, no further session.
				advance(AlertResendInterval)
				advance(verify)
				h.fire("api", "Down") // marker
				eventually(t, "marker", func() bool { _, ok := h.incident("api"); return ok })
				h.resolve("db", "Down")
				closed := h.waitState("db", StateClosed)
				if closed.Outcome != session.OutcomeDryRun || len(closed.Sessions) != tc.sessions {
					t.Errorf("closed = %+v", closed)
				}
				if n := len(am.pushedFor(AlertDryRunProposal, "db")); n != 1 {
					t.Errorf("%d dry-run reports, want 1", n)
				}
				if n := len(am.pushed(AlertNeedsHuman)); n != 0 {
					t.Errorf("%d needs-human alerts in dry-run", n)
				}
				if _, ok := h.metric("claudeops_needs_human_attention", "service", "db"); ok {
					t.Error("needs-human series in dry-run")
				}
				h.wantMetric(1, "claudeops_incidents_total", "outcome", "dry_run")
				h.wantMetric(0, "claudeops_escalations_total", "from", "2", "to", "human")
				h.wantMetric(0, "claudeops_escalations_total", "from", "3", "to", "human")
			})
		})
	}
}

// A dry-run incident waiting for its alerts survives a restart without a
// second report.
func TestDryRunResumed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, am := newFakeStore(), newFakeAM()
		am.setActive("db-Down", true)
		h1 := newHarness(t, setup{st: st, am: am, cfg: Config{DryRun: true}}).start()
		h1.fire("db", "Down")
		rec := record(session.OutcomeDryRun, "would restart", "")
		rec.Actions = []session.Action{{Service: "db", Action: "restart", Target: "db", Result: "proposed"}}
		h1.waitCalls(1)[0].finish(rec)
		h1.waitState("db", StateDryRun)
		eventually(t, "report", func() bool { return len(am.pushed(AlertDryRunProposal)) == 1 })
		h1.stop()
		h2 := newHarness(t, setup{st: st, am: am, cfg: Config{DryRun: true}}).start()
		h2.fire("web", "Down") // marker: the loop runs
		h2.waitCalls(1)
		am.setActive("db-Down", false)
		advance(DefaultPollInterval)
		if in := h2.waitState("db", StateClosed); in.Outcome != session.OutcomeDryRun {
			t.Errorf("closed = %+v", in)
		}
		if n := len(am.pushed(AlertDryRunProposal)); n != 1 {
			t.Errorf("%d reports", n)
		}
		if calls, _, _ := h2.ses.snapshot(); countService(calls, "db") != 0 {
			t.Errorf("a session ran after the restart")
		}
	})
}

// claudeops_needs_human_alert_pushed says whether the needs-human alert is in
// Alertmanager: the mixin's rule pages only when it is not.
func TestNeedsHumanAlertPushed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		am := newFakeAM()
		am.setActive("db-Down", true)
		h := newHarness(t, setup{am: am}).start()
		h.fire("db", "Down")
		h.waitCalls(1)[0].finish(record(session.OutcomeNotFixed, "", ""))
		h.waitCalls(2)[1].finish(record(session.OutcomeNotFixed, "", ""))
		h.waitState("db", StateNeedsHuman)
		pushed := func(want float64) func() bool {
			return func() bool {
				v, ok := h.metric("claudeops_needs_human_alert_pushed", "service", "db")
				return ok && v == want
			}
		}
		eventually(t, "pushed = 1", pushed(1))
		am.setPushErr(errors.New("connection refused"))
		advance(AlertResendInterval)
		eventually(t, "pushed = 0 after a failed push", pushed(0))
		am.setPushErr(nil)
		advance(AlertResendInterval)
		eventually(t, "pushed = 1 again", pushed(1))
		h.resolve("db", "Down")
		h.waitState("db", StateClosed)
		eventually(t, "series gone", func() bool { _, ok := h.metric("claudeops_needs_human_alert_pushed", "service", "db"); return !ok })
		if n := am.failed(); n != 1 {
			t.Errorf("failed pushes %d", n)
		}
	})
}
