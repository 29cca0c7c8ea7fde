package remediator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/webhook"
)

const verify = 10 * time.Minute

// (1) Two firing alerts for one service make one incident and one session;
// an alert firing while Tier 2 runs joins it too.
func TestJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, setup{}).start()
		h.send(alert("db", "Down", "firing"), alert("db", "SlowQueries", "firing"))
		in := h.waitState("db", StateTier2)
		h.waitCalls(1)
		h.fire("db", "DiskFull")
		eventually(t, "third alert joined", func() bool {
			in, _ = h.incident("db")
			return len(in.Alerts) == 3
		})
		calls, _, _ := h.ses.snapshot()
		if len(calls) != 1 || len(h.st.all()) != 1 {
			t.Fatalf("sessions %d, incidents %d; want 1, 1", len(calls), len(h.st.all()))
		}
		c := calls[0]
		if c.Spec.Tier != session.Tier2 || c.Spec.IncidentID != in.ID || c.Spec.Service != "db" || c.Spec.Trigger != session.TriggerAlert {
			t.Errorf("spec = %+v", c.Spec)
		}
		ho := h.handoff(0)
		if len(ho.H.Alerts) != 2 || ho.H.Alerts[0].Annotations["runbook_url"] == "" || ho.H.Alerts[0].GeneratorURL == "" {
			t.Errorf("handoff alerts = %+v", ho.H.Alerts)
		}
		if ho.H.RepoRules != "rules of db" || ho.H.Previous != nil {
			t.Errorf("handoff = %+v", ho.H)
		}
		if in.Alerts[0].RunbookURL != "https://runbooks/Down" {
			t.Errorf("runbook url = %q", in.Alerts[0].RunbookURL)
		}
		h.wantMetric(1, "claudeops_incidents_open")
	})
}

// Our own alerts and resolved alerts without an incident are ignored.
func TestIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, setup{}).start()
		ours := alert("db", AlertNeedsHuman, "firing")
		ours.Labels = labels.NewBuilder(ours.Labels).Set("claudeops", "true").Labels()
		h.send(ours, alert("web", "Down", "resolved"))
		h.fire("api", "Down") // a marker processed after the others
		h.waitState("api", StateTier2)
		if n := len(h.st.all()); n != 1 {
			t.Fatalf("incidents = %d, want 1", n)
		}
	})
}

// (2) A resolved webhook while Tier 2 runs cancels the session.
func TestCancelOnResolve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, setup{}).start()
		h.send(alert("db", "Down", "firing"), alert("db", "Slow", "firing"))
		id := h.waitCalls(1)[0].Spec.ID
		h.resolve("db", "Down") // one of two: nothing happens
		h.fire("web", "Down")   // marker
		h.waitCalls(2)
		if _, cancels, _ := h.ses.snapshot(); len(cancels) != 0 {
			t.Fatalf("cancelled after one of two alerts resolved: %v", cancels)
		}
		h.resolve("db", "Slow")
		in := h.waitState("db", StateClosed)
		if in.Outcome != session.OutcomeResolved || in.Sessions[0].Outcome != session.OutcomeResolved {
			t.Errorf("outcome %s, session %s", in.Outcome, in.Sessions[0].Outcome)
		}
		_, cancels, _ := h.ses.snapshot()
		if len(cancels) != 1 || cancels[0] != (cancelCall{id, session.OutcomeResolved}) {
			t.Errorf("cancels = %v", cancels)
		}
		h.wantMetric(1, "claudeops_incidents_total", "outcome", "resolved")
		// The service is free again: a new alert opens a new incident.
		h.fire("db", "Down")
		eventually(t, "second db incident", func() bool { in2, _ := h.incident("db"); return in2.ID != in.ID })
	})
}

// (3) Tier 2 fixed and the alerts resolve within the verify timeout.
func TestFixedAndVerified(t *testing.T) {
	for _, tc := range []struct {
		name    string
		resolve func(h *harness)
	}{
		{"resolved webhook", func(h *harness) { h.resolve("db", "Down") }},
		{"alertmanager no longer lists it", func(h *harness) {
			h.am.setActive("db-Down", false)
			advance(DefaultPollInterval)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				am := newFakeAM()
				am.setActive("db-Down", true)
				h := newHarness(t, setup{am: am}).start()
				h.fire("db", "Down")
				h.waitCalls(1)[0].finish(record(session.OutcomeRemediated, "restarted db", "oom",
					session.RemediationAction{Service: "db", Action: "restart", Target: "db", Result: "ok"}))
				in := h.waitState("db", StateVerify2)
				if !in.VerifyDeadline.Equal(time.Now().Add(verify)) {
					t.Errorf("deadline %v", in.VerifyDeadline)
				}
				// Still listed at the first poll: nothing happens.
				advance(DefaultPollInterval)
				eventually(t, "a poll", func() bool { am.mu.Lock(); defer am.mu.Unlock(); return am.polls > 0 })
				tc.resolve(h)
				in = h.waitState("db", StateClosed)
				if in.Outcome != session.OutcomeRemediated {
					t.Errorf("outcome = %s", in.Outcome)
				}
				var p []PostableAlert
				eventually(t, "remediated alert", func() bool { p = am.pushed(AlertRemediated); return len(p) == 1 })
				a := p[0]
				if a.Labels["severity"] != "info" || a.Labels["claudeops"] != "true" || a.Labels["service"] != "db" ||
					!strings.Contains(a.Annotations["summary"], "restarted db") || !strings.Contains(a.Annotations["description"], "restart db db: ok") ||
					a.EndsAt.Sub(a.StartsAt) != AlertTTL {
					t.Errorf("remediated alert = %+v", a)
				}
				h.wantMetric(1, "claudeops_incidents_total", "outcome", "remediated")
				h.wantMetric(0, "claudeops_escalations_total", "from", "2", "to", "3")
				h.wantMetric(0, "claudeops_incidents_open")
				if n := len(h.ses.calls); n != 1 {
					t.Errorf("sessions = %d", n)
				}
			})
		})
	}
}

// (4) Tier 2's fix does not make the alert resolve in time: Tier 3 runs
// with Tier 2's findings and actions.
func TestVerifyTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, setup{}).start()
		h.fire("db", "Down")
		rec := record(session.OutcomeRemediated, "restarted db", "connection pool exhausted",
			session.RemediationAction{Service: "db", Action: "restart", Target: "db", Result: "ok"})
		rec.Actions = []session.Action{{Service: "db", Action: "restart", Result: "allowed", Command: "docker restart db"}}
		h.waitCalls(1)[0].finish(rec)
		h.waitState("db", StateVerify2)
		advance(verify - time.Second)
		h.fire("web", "Down") // marker: the loop went round
		h.waitCalls(2)
		if in, _ := h.incident("db"); in.State != StateVerify2 {
			t.Fatalf("state before the deadline = %s", in.State)
		}
		advance(time.Second)
		calls := h.waitCalls(3)
		if calls[2].Spec.Tier != session.Tier3 || calls[2].Spec.Service != "db" {
			t.Fatalf("third session = %+v", calls[2].Spec)
		}
		ho := h.handoff(2)
		if ho.Tier != session.Tier3 || ho.H.Previous == nil {
			t.Fatalf("handoff = %+v", ho)
		}
		if ho.H.Previous.Summary != "restarted db" || !strings.Contains(ho.H.Previous.Findings, "connection pool exhausted") ||
			!strings.Contains(ho.H.Previous.Findings, "still firing") || len(ho.H.Previous.Actions) != 1 {
			t.Errorf("previous = %+v", ho.H.Previous)
		}
		if len(ho.H.PreviousActions) != 1 || ho.H.PreviousActions[0].Command != "docker restart db" {
			t.Errorf("previous actions = %+v", ho.H.PreviousActions)
		}
		in := h.waitState("db", StateTier3)
		if !in.Sessions[0].NotVerified {
			t.Error("tier 2 session not marked not verified")
		}
		h.wantMetric(1, "claudeops_escalations_total", "from", "2", "to", "3")
	})
}

// apiError is the record of a session whose CLI gave up on the model API,
// as the runner reports it (runner/outcome.go).
func apiError(reason string) session.Record {
	return session.Record{Outcome: session.OutcomeError, ErrorSubtype: "api_error", Reason: reason}
}

// What each Tier 2 outcome leads to.
func TestTier2Outcomes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rec    session.Record
		err    error
		want   State
		reason string // Incident.Reason
		retry  bool   // waits to run Tier 2 again
	}{
		{rec: record(session.OutcomeRemediated, "s", "f"), want: StateVerify2},
		{rec: record(session.OutcomeNotFixed, "s", "f"), want: StateTier3},
		{rec: record(session.OutcomeNeedsHuman, "s", "f"), want: StateTier3},
		{rec: session.Record{Outcome: session.OutcomeError, Reason: "no structured output"}, want: StateTier3},
		{rec: session.Record{Outcome: session.OutcomeTimeout}, want: StateTier3},
		{rec: record(session.OutcomeDryRun, "would restart", "f"), want: StateTier3},
		{rec: session.Record{}, want: StateTier3},
		// The model API, not Tier 2, failed: Tier 2 again later.
		{name: "api 529", rec: apiError("api_error: 529 overloaded"), want: StateTier2, retry: true},
		{name: "api 500", rec: apiError("api_error: 500 internal server error"), want: StateTier2, retry: true},
		{name: "api 429", rec: apiError("api_error: 429 rate limited"), want: StateTier2, retry: true},
		{name: "api timeout", rec: apiError("API Error: Request timed out."), want: StateTier2, retry: true},
		{name: "proxy unreachable upstream", rec: apiError("api_error: 502 claude-ops proxy: upstream unreachable"), want: StateTier2, retry: true},
		// A request the API refuses as such is Tier 2's failure.
		{name: "api 400", rec: apiError("api_error: 400 prompt is too long"), want: StateTier3},
		// No point in Tier 3: a human.
		{rec: session.Record{Outcome: session.OutcomeBudgetExhausted, Reason: "the budget was spent"}, want: StateNeedsHuman, reason: ReasonBudget},
		{name: "api 402", rec: apiError("api_error: 402 budget spent"), want: StateNeedsHuman, reason: ReasonBudget},
		{rec: session.Record{Outcome: session.OutcomeAuthFailed, Reason: "invalid x-api-key"}, want: StateNeedsHuman, reason: ReasonAuthFailed},
		{name: "api 401", rec: apiError("api_error: 401 invalid x-api-key"), want: StateNeedsHuman, reason: ReasonAuthFailed},
	} {
		name := tc.name
		if name == "" {
			name = string(tc.rec.Outcome)
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, setup{}).start()
				h.fire("db", "Down")
				h.waitCalls(1)[0].finish(tc.rec)
				if tc.want == StateTier2 {
					eventually(t, "the session's end", func() bool { in, _ := h.incident("db"); return in.Sessions[0].Outcome != session.OutcomeRunning })
				}
				in := h.waitState("db", tc.want)
				if in.Reason != tc.reason {
					t.Errorf("reason = %q, want %q", in.Reason, tc.reason)
				}
				if tc.retry != !in.RetryAt.IsZero() || tc.retry && (in.APIFailures != 1 || in.APIError != tc.rec.Reason) {
					t.Errorf("retry at %v, api failures %d, api error %q", in.RetryAt, in.APIFailures, in.APIError)
				}
				if tc.want == StateTier3 {
					h.waitCalls(2)
					if p := h.handoff(1).H.Previous; p == nil || p.Summary == "" {
						t.Errorf("tier 3 previous = %+v", p)
					}
				}
				if tc.want == StateNeedsHuman {
					if calls, _, _ := h.ses.snapshot(); len(calls) != 1 {
						t.Errorf("sessions = %d, want 1 (no Tier 3)", len(calls))
					}
					h.wantMetric(0, "claudeops_escalations_total", "from", "2", "to", "3")
					h.wantMetric(1, "claudeops_escalations_total", "from", "2", "to", "human")
				}
			})
		})
	}
}

// (5) Tier 3 fails: a human is paged until the alert resolves.
func TestNeedsHuman(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		am := newFakeAM()
		am.setActive("db-Down", true)
		h := newHarness(t, setup{am: am}).start()
		h.fire("db", "Down")
		h.waitCalls(1)[0].finish(record(session.OutcomeNotFixed, "t2 summary", "t2 findings"))
		h.waitCalls(2)[1].finish(record(session.OutcomeNotFixed, "t3 summary", "disk is full "+strings.Repeat("x", 10000)))
		in := h.waitState("db", StateNeedsHuman)
		if in.Reason != ReasonNotFixed {
			t.Errorf("reason = %q", in.Reason)
		}
		h.wantMetric(1, "claudeops_needs_human_attention", "service", "db")
		h.wantMetric(1, "claudeops_escalations_total", "from", "3", "to", "human")
		var p []PostableAlert
		eventually(t, "needs-human alert", func() bool { p = am.pushed(AlertNeedsHuman); return len(p) == 1 })
		a := p[0]
		now := time.Now()
		if a.Labels["severity"] != "critical" || a.Labels["claudeops"] != "true" || a.Labels["service"] != "db" ||
			!a.EndsAt.Equal(now.Add(AlertTTL)) || !strings.Contains(a.Annotations["description"], "t2 findings") ||
			!strings.Contains(a.Annotations["description"], "disk is full") || len(a.Annotations["description"]) > maxDescription {
			t.Errorf("needs-human alert = %+v", a)
		}
		// Kept alive.
		advance(AlertResendInterval)
		eventually(t, "re-posted", func() bool { p = am.pushed(AlertNeedsHuman); return len(p) == 2 })
		if !p[1].EndsAt.Equal(time.Now().Add(AlertTTL)) || !p[1].StartsAt.Equal(a.StartsAt) {
			t.Errorf("re-post = %+v", p[1])
		}
		// A firing alert joins without a session.
		h.fire("db", "Slow")
		h.resolve("db", "Slow")
		h.resolve("db", "Down")
		in = h.waitState("db", StateClosed)
		if in.Outcome != session.OutcomeNeedsHuman {
			t.Errorf("outcome = %s", in.Outcome)
		}
		if _, ok := h.metric("claudeops_needs_human_attention", "service", "db"); ok {
			t.Error("needs-human series still present")
		}
		eventually(t, "ended", func() bool { p = am.pushed(AlertNeedsHuman); return len(p) == 3 })
		if !p[2].EndsAt.Equal(time.Now()) {
			t.Errorf("end = %+v, now %v", p[2], time.Now())
		}
		if n := len(h.ses.calls); n != 2 {
			t.Errorf("sessions = %d", n)
		}
		h.wantMetric(1, "claudeops_incidents_total", "outcome", "needs_human")
	})
}

// (6) Restart in the middle of an incident: a new remediator over the same
// store resumes it and finishes it.
func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before func(h *harness)               // first process, until shutdown
		after  func(t *testing.T, h *harness) // second process
	}{
		{
			name: "tier 2 interrupted runs again",
			before: func(h *harness) {
				h.fire("db", "Down")
				h.waitCalls(1)
			},
			after: func(t *testing.T, h *harness) {
				h.waitCalls(1)
				in := h.waitState("db", StateTier2)
				if in.Sessions[0].Outcome != session.OutcomeInterrupted {
					t.Errorf("first session = %+v", in.Sessions[0])
				}
				h.waitCalls(1)[0].finish(record(session.OutcomeRemediated, "fixed", ""))
				h.waitState("db", StateVerify2)
				h.resolve("db", "Down")
				if in := h.waitState("db", StateClosed); in.Outcome != session.OutcomeRemediated || len(in.Sessions) != 2 {
					t.Errorf("closed = %+v", in)
				}
			},
		},
		{
			name: "verify keeps its remaining time",
			before: func(h *harness) {
				h.fire("db", "Down")
				h.waitCalls(1)[0].finish(record(session.OutcomeRemediated, "fixed", ""))
				h.waitState("db", StateVerify2)
				advance(4 * time.Minute)
			},
			after: func(t *testing.T, h *harness) {
				advance(5 * time.Minute)
				h.fire("web", "Down") // marker
				h.waitCalls(1)
				if in, _ := h.incident("db"); in.State != StateVerify2 {
					t.Fatalf("state = %s before the deadline", in.State)
				}
				advance(time.Minute)
				calls := h.waitCalls(2)
				if calls[1].Spec.Tier != session.Tier3 || calls[1].Spec.Service != "db" {
					t.Errorf("spec = %+v", calls[1].Spec)
				}
			},
		},
		{
			name: "tier 3 waiting runs",
			before: func(h *harness) {
				h.fire("db", "Down")
				h.waitCalls(1)[0].finish(record(session.OutcomeNotFixed, "no", "t2 found"))
				h.waitCalls(2)
			},
			after: func(t *testing.T, h *harness) {
				c := h.waitCalls(1)[0]
				if c.Spec.Tier != session.Tier3 || h.handoff(0).H.Previous.Findings != "t2 found" {
					t.Errorf("resumed %+v", c.Spec)
				}
			},
		},
		{
			name: "a retry after a model API error keeps its time",
			before: func(h *harness) {
				h.fire("db", "Down")
				h.waitCalls(1)[0].finish(apiError("api_error: 529 overloaded"))
				eventually(h.t, "the retry planned", func() bool { in, _ := h.incident("db"); return !in.RetryAt.IsZero() })
				advance(30 * time.Second)
			},
			after: func(t *testing.T, h *harness) {
				h.fire("web", "Down") // marker
				h.waitCalls(1)
				if calls, _, _ := h.ses.snapshot(); len(calls) != 1 || calls[0].Spec.Service != "web" {
					t.Fatalf("db ran again before its retry time")
				}
				advance(30 * time.Second)
				calls := h.waitCalls(2)
				if calls[1].Spec.Service != "db" || calls[1].Spec.Tier != session.Tier2 {
					t.Errorf("spec = %+v", calls[1].Spec)
				}
				if in := h.waitState("db", StateTier2); in.APIFailures != 1 || !in.RetryAt.IsZero() {
					t.Errorf("incident = %+v", in)
				}
			},
		},
		{
			name: "needs human stays paged",
			before: func(h *harness) {
				h.fire("db", "Down")
				h.waitCalls(1)[0].finish(record(session.OutcomeNotFixed, "", ""))
				h.waitCalls(2)[1].finish(record(session.OutcomeNotFixed, "", ""))
				h.waitState("db", StateNeedsHuman)
			},
			after: func(t *testing.T, h *harness) {
				eventually(t, "metric", func() bool { v, _ := h.metric("claudeops_needs_human_attention", "service", "db"); return v == 1 })
				eventually(t, "re-posted at start", func() bool { return len(h.am.pushed(AlertNeedsHuman)) == 1 })
				advance(AlertResendInterval)
				eventually(t, "kept alive", func() bool { return len(h.am.pushed(AlertNeedsHuman)) == 2 })
				h.resolve("db", "Down")
				h.waitState("db", StateClosed)
				if _, ok := h.metric("claudeops_needs_human_attention", "service", "db"); ok {
					t.Error("series still present")
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newFakeStore()
				am := newFakeAM()
				am.setActive("db-Down", true)
				h1 := newHarness(t, setup{st: st, am: am}).start()
				tc.before(h1)
				before, _ := h1.incident("db")
				h1.stop()
				after, _ := h1.incident("db")
				if after.State != before.State || !after.Closed.IsZero() {
					t.Fatalf("shutdown moved the incident: %s → %s", before.State, after.State)
				}
				h1.ses.mu.Lock()
				for _, c := range h1.ses.calls {
					if o := h1.ses.ended[c.Spec.ID]; o != session.OutcomeInterrupted && o != session.OutcomeNotFixed && o != session.OutcomeRemediated && o != session.OutcomeError {
						t.Errorf("session %s ended %q at shutdown, want interrupted", c.Spec.ID, o)
					}
				}
				h1.ses.mu.Unlock()
				h2 := newHarness(t, setup{st: st, am: newFakeAM()})
				h2.am.setActive("db-Down", true)
				h2.start()
				tc.after(t, h2)
				if n := len(st.all()); n > 2 {
					t.Errorf("incidents = %d", n)
				}
			})
		})
	}
}

// (7) Never more sessions than Concurrency; waiting incidents start in
// arrival order.
func TestConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, setup{cfg: Config{Concurrency: 2}}).start()
		for i := range 5 {
			h.fire(fmt.Sprintf("svc%d", i), "Down")
		}
		for i := range 5 {
			h.waitState(fmt.Sprintf("svc%d", i), map[bool]State{true: StateTier2, false: StateOpen}[i < 2])
		}
		// Each finished session frees a slot for the next service in arrival
		// order. (The first two start together, in either order.)
		callFor := func(calls []*fakeCall, svc string) *fakeCall {
			for _, c := range calls {
				if c.Spec.Service == svc {
					return c
				}
			}
			t.Fatalf("no session for %s", svc)
			return nil
		}
		for i := range 5 {
			want := min(i+2, 5)
			calls := h.waitCalls(want)
			if len(calls) > want {
				t.Fatalf("%d sessions started, want %d", len(calls), want)
			}
			if i+2 <= 5 && i >= 1 {
				if got := calls[want-1].Spec.Service; got != fmt.Sprintf("svc%d", want-1) {
					t.Errorf("session %d for %s, want svc%d", want-1, got, want-1)
				}
			}
			svc := fmt.Sprintf("svc%d", i)
			callFor(calls, svc).finish(record(session.OutcomeRemediated, "", ""))
			h.waitState(svc, StateVerify2)
		}
		calls, _, maxRunning := h.ses.snapshot()
		if maxRunning > 2 || len(calls) != 5 {
			t.Errorf("max running = %d, sessions %d", maxRunning, len(calls))
		}
	})
}

// (8) The budget forbids a session: needs human, no session ran.
func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tier     session.Tier // the first tier refused
		from     string
		sessions int
	}{
		{"tier 2", session.Tier2, "2", 0},
		{"tier 3", session.Tier3, "3", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ses := &fakeSessions{budget: func(s sessions.Spec) bool { return s.Tier >= tc.tier }}
				h := newHarness(t, setup{ses: ses}).start()
				h.fire("db", "Down")
				if tc.tier == session.Tier3 {
					h.waitCalls(1)[0].finish(record(session.OutcomeNotFixed, "", ""))
				}
				in := h.waitState("db", StateNeedsHuman)
				if in.Reason != ReasonBudget || len(in.Sessions) != tc.sessions {
					t.Errorf("incident = %+v", in)
				}
				if calls, _, _ := ses.snapshot(); len(calls) != tc.sessions {
					t.Errorf("sessions = %d", len(calls))
				}
				h.wantMetric(1, "claudeops_needs_human_attention", "service", "db")
				h.wantMetric(1, "claudeops_escalations_total", "from", tc.from, "to", "human")
			})
		})
	}
}

// (9) Blast radius: sessions for at most MaxServicesPerHour distinct
// services in a sliding hour.
func TestBlastRadius(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, setup{cfg: Config{Concurrency: 10, MaxServicesPerHour: 5}}).start()
		for i := range 7 {
			h.fire(fmt.Sprintf("svc%d", i), "Down")
		}
		for i := range 5 {
			h.waitState(fmt.Sprintf("svc%d", i), StateTier2)
		}
		for i := 5; i < 7; i++ {
			if in := h.waitState(fmt.Sprintf("svc%d", i), StateNeedsHuman); in.Reason != ReasonBlastRadius || len(in.Sessions) != 0 {
				t.Errorf("incident = %+v", in)
			}
		}
		calls := h.waitCalls(5)
		if len(calls) != 5 {
			t.Fatalf("sessions = %d", len(calls))
		}
		// An already admitted service escalates to Tier 3 within the limit.
		calls[0].finish(record(session.OutcomeNotFixed, "", ""))
		h.waitCalls(6)
		// The window slides.
		advance(time.Hour)
		h.fire("svc7", "Down")
		h.waitState("svc7", StateTier2)
		h.wantMetric(1, "claudeops_needs_human_attention", "service", "svc5")
		h.wantMetric(1, "claudeops_needs_human_attention", "service", "svc6")
		h.wantMetric(2, "claudeops_escalations_total", "from", "2", "to", "human")
	})
}

// The blast radius survives a restart: the services that got a session in
// the last hour count, their incidents closed, still open, or never saved
// (the session rows say so: each is saved before its session starts).
func TestBlastRadiusSurvivesRestart(t *testing.T) {
	for _, unsaved := range []bool{false, true} {
		t.Run(map[bool]string{false: "incidents saved", true: "incidents never saved"}[unsaved], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := Config{Concurrency: 10, MaxServicesPerHour: 3}
				st := newFakeStore()
				st.setFail(unsaved) // a crash before any save
				h := newHarness(t, setup{st: st, cfg: cfg}).start()
				h.fire("svc0", "Down")
				h.fire("svc1", "Down")
				h.fire("human", "Down") // stays open, waiting for a human
				for _, c := range h.waitCalls(3) {
					if c.Spec.Service == "human" {
						c.finish(record(session.OutcomeNotFixed, "", ""))
					}
				}
				h.waitCalls(4)[3].finish(record(session.OutcomeNotFixed, "", "")) // its Tier 3
				settled := func(service string, want State) {
					if unsaved { // nothing to read back: the loop's work done
						synctest.Wait()
					} else {
						h.waitState(service, want)
					}
				}
				settled("human", StateNeedsHuman)
				h.resolve("svc0", "Down")
				h.resolve("svc1", "Down")
				settled("svc0", StateClosed)
				settled("svc1", StateClosed)
				h.stop()
				if got := len(st.all()); unsaved && got != 0 {
					t.Fatalf("%d incidents saved, want none", got)
				}
				st.setFail(false)
				advance(time.Minute)

				h = newHarness(t, setup{st: st, cfg: cfg}).start()
				h.fire("svc2", "Down")
				if in := h.waitState("svc2", StateNeedsHuman); in.Reason != ReasonBlastRadius {
					t.Errorf("a third service after the restart: %+v, want refused by the blast radius", in)
				}
				h.fire("svc0", "Down") // counted already: admitted
				h.waitState("svc0", StateTier2)
			})
		})
	}
}

// (10) The gate refused an action over a limit: after the session, a human,
// without Tier 3; the reason names the limit, and the alert and the API say
// which action was refused, where and why.
func TestCooldownRefused(t *testing.T) {
	for _, tc := range []struct {
		outcome session.Outcome
		stage   session.Stage // of the refused action in the record, "" for none
		reason  string
	}{
		{session.OutcomeNotFixed, "", ReasonCooldown},
		{session.OutcomeRemediated, "", ReasonCooldown},
		{session.OutcomeNotFixed, session.StageCooldown, ReasonCooldown},
		{session.OutcomeNotFixed, session.StageBlastRadius, ReasonBlastRadius},
		{session.OutcomeRemediated, session.StageBudget, ReasonBudget},
	} {
		t.Run(string(tc.outcome)+"/"+string(tc.stage), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				am := newFakeAM()
				am.setActive("db-Down", true)
				h := newHarness(t, setup{am: am}).start()
				h.fire("db", "Down")
				c := h.waitCalls(1)[0]
				h.r.CooldownRefused(c.Spec.IncidentID, "restart: 2 in the last 4h")
				rec := record(tc.outcome, "", "")
				if tc.stage != "" {
					rec.Actions = []session.Action{
						{Service: "db", Action: "container_logs", Target: "db", Result: "done", Stage: "execute"},
						{Service: "db", Action: "restart", Target: "db", Result: "refused", Stage: string(tc.stage),
							Reason: "refused at stage " + string(tc.stage) + ": restart: 2 in the last 4h"},
					}
				}
				c.finish(rec)
				in := h.waitState("db", StateNeedsHuman)
				if in.Reason != tc.reason || in.Detail != "restart: 2 in the last 4h" || in.CooldownRefusal != "restart: 2 in the last 4h" {
					t.Errorf("incident = %+v", in)
				}
				var p []PostableAlert
				eventually(t, "needs-human alert", func() bool { p = am.pushed(AlertNeedsHuman); return len(p) == 1 })
				ann := p[0].Annotations
				if ann["reason"] != tc.reason || ann["cooldown"] != "restart: 2 in the last 4h" ||
					!strings.Contains(ann["description"], "Blocked by a limit of the action gate: restart: 2 in the last 4h") {
					t.Errorf("annotations = %v", ann)
				}
				if tc.stage != "" {
					want := "Tier 2: restart db refused at stage " + string(tc.stage) + ": refused at stage"
					if len(in.Refused) != 1 || in.Refused[0].Stage != string(tc.stage) || in.Refused[0].Action != "restart" ||
						!strings.Contains(ann["refused_actions"], want) || !strings.Contains(ann["description"], want) {
						t.Errorf("refused = %+v, annotations %v", in.Refused, ann)
					}
					views, _ := json.Marshal(h.r.Incidents())
					if !strings.Contains(string(views), `"stage":"`+string(tc.stage)+`"`) || !strings.Contains(string(views), `"cooldown_refusal":"restart: 2 in the last 4h"`) {
						t.Errorf("GET /api/v1/incidents = %s", views)
					}
				} else if _, ok := ann["refused_actions"]; ok {
					t.Errorf("refused_actions without a refusal: %v", ann)
				}
				h.fire("web", "Down") // marker
				h.waitCalls(2)
				if calls, _, _ := h.ses.snapshot(); len(calls) != 2 || calls[1].Spec.Service != "web" {
					t.Errorf("a further tier ran")
				}
				h.wantMetric(1, "claudeops_escalations_total", "from", "2", "to", "human")
			})
		})
	}
}

// (11) A storm of duplicate alerts: every Enqueue accepted, one incident per
// service, never more sessions than allowed.
func TestStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const services, perService = 500, 20
		ses := &fakeSessions{auto: func(sessions.Spec) session.Record { return record(session.OutcomeRemediated, "", "") }}
		h := newHarness(t, setup{ses: ses, cfg: Config{Concurrency: 2, MaxServicesPerHour: -1, QueueSize: services * perService}}).start()
		var wg sync.WaitGroup
		errs := make(chan error, services*perService)
		for g := range 50 {
			wg.Go(func() {
				for i := range services * perService / 50 / 10 {
					batch := make([]webhook.Alert, 10)
					for j := range batch {
						n := g*services*perService/50 + i*10 + j
						batch[j] = alert(fmt.Sprintf("svc%03d", n%services), fmt.Sprintf("A%d", n%4), "firing")
					}
					errs <- h.r.Enqueue(context.Background(), batch)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
		}
		eventually(t, "queue drained and sessions done", func() bool {
			calls, _, _ := ses.snapshot()
			return len(h.r.Incidents()) == services && len(calls) == services
		})
		perSvc := map[string]int{}
		for _, in := range h.st.all() {
			perSvc[in.Service]++
		}
		if len(perSvc) != services {
			t.Errorf("services with incidents = %d", len(perSvc))
		}
		for s, n := range perSvc {
			if n != 1 {
				t.Errorf("%s: %d incidents", s, n)
			}
		}
		if _, _, m := ses.snapshot(); m > 2 {
			t.Errorf("max running = %d", m)
		}
		h.wantMetric(services, "claudeops_incidents_open")
		h.wantMetric(0, "claudeops_remediation_queue_depth")
	})
}

func TestQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, setup{cfg: Config{QueueSize: 3}}) // loop not running
		h.send(alert("a", "X", "firing"), alert("b", "X", "firing"))
		err := h.r.Enqueue(context.Background(), []webhook.Alert{alert("c", "X", "firing"), alert("d", "X", "firing")})
		if !errors.Is(err, webhook.ErrFull) {
			t.Fatalf("err = %v, want ErrFull", err)
		}
		h.wantMetric(2, "claudeops_remediation_queue_depth")
		h.start()
		h.waitState("b", StateTier2)
		h.wantMetric(0, "claudeops_remediation_queue_depth")
	})
}

func TestGetAndIncidents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, setup{}).start()
		h.fire("db", "Down")
		id := h.waitCalls(1)[0].Spec.IncidentID
		eventually(t, "view", func() bool { return len(h.r.Incidents()) == 1 })
		v, err := h.r.Get(context.Background(), id)
		if err != nil || v.Service != "db" || v.State != StateTier2 {
			t.Fatalf("Get = %+v, %v", v, err)
		}
		h.resolve("db", "Down")
		h.waitState("db", StateClosed)
		eventually(t, "no open", func() bool { return len(h.r.Incidents()) == 0 })
		if v, err = h.r.Get(context.Background(), id); err != nil || v.State != StateClosed {
			t.Fatalf("Get closed = %+v, %v", v, err)
		}
		if recent, err := h.r.Recent(context.Background(), 10); err != nil || len(recent) != 1 {
			t.Fatalf("Recent = %v, %v", recent, err)
		}
	})
}

// BenchmarkEnqueue measures the handler's side alone: a batch of 10 alerts
// appended to the queue (drained outside the timer when full).
func BenchmarkEnqueue(b *testing.B) {
	h := newHarness(b, setup{cfg: Config{QueueSize: 100000}})
	batch := make([]webhook.Alert, 10)
	for i := range batch {
		batch[i] = alert(fmt.Sprintf("svc%03d", i), "Down", "firing")
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := h.r.Enqueue(context.Background(), batch); err != nil {
			b.StopTimer()
			alerts, _, _ := h.r.take()
			h.r.giveBack(alerts)
			b.StartTimer()
		}
	}
}

// BenchmarkEnqueueLoop measures end-to-end intake: batches of 10 alerts over
// 500 services through the running event loop, retrying when the queue is
// full (as Alertmanager would).
func BenchmarkEnqueueLoop(b *testing.B) {
	ses := &fakeSessions{auto: func(sessions.Spec) session.Record { return record(session.OutcomeRemediated, "", "") }}
	h := newHarness(b, setup{ses: ses, cfg: Config{MaxServicesPerHour: -1}}).start()
	batches := make([][]webhook.Alert, 50)
	for i := range batches {
		batches[i] = make([]webhook.Alert, 10)
		for j := range batches[i] {
			batches[i][j] = alert(fmt.Sprintf("svc%03d", (i*10+j)%500), "Down", "firing")
		}
	}
	var full int
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for h.r.Enqueue(context.Background(), batches[i%len(batches)]) != nil {
			full++
			runtime.Gosched()
		}
		i++
	}
	b.ReportMetric(float64(full)/float64(b.N), "retries/op")
}

// Deps.Canonical: alerts naming a service by any of its names (a container
// alias, "/name") join the incident of its canonical name.
func TestCanonicalService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		canon := func(name string) string {
			switch name {
			case "web-1", "/web":
				return "web"
			}
			return name
		}
		h := newHarness(t, setup{canonical: canon}).start()
		h.send(alert("web", "Down", "firing"), alert("web-1", "Slow", "firing"), alert("/web", "Errors", "firing"))
		h.fire("db", "Down")
		in := h.waitState("web", StateTier2)
		if len(in.Alerts) != 3 {
			t.Errorf("web incident has %d alerts, want 3", len(in.Alerts))
		}
		for _, svc := range []string{"web-1", "/web"} {
			if _, ok := h.incident(svc); ok {
				t.Errorf("an incident was opened for %s", svc)
			}
		}
		if calls, _, _ := h.ses.snapshot(); len(calls) != 2 || countService(calls, "web") != 1 {
			t.Errorf("sessions %d (web %d), want 2 (1)", len(calls), countService(calls, "web"))
		}
		// Resolved alerts under the aliases resolve the incident's alerts.
		h.resolve("web", "Down")
		h.resolve("web-1", "Slow")
		if in := h.waitState("web", StateTier2); in.Alerts[2].Status != "firing" || in.Alerts[0].Status != "resolved" {
			t.Errorf("alerts = %+v, want only the one of /web firing", in.Alerts)
		}
		h.resolve("/web", "Errors")
		if in := h.waitState("web", StateClosed); in.Outcome != session.OutcomeResolved {
			t.Errorf("outcome = %s", in.Outcome)
		}
	})
}
