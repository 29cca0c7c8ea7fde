package e2e

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

// served is what the scripted model serves on its first turn: haiku at
// 1 / 5 USD per million input / output tokens, 0.00125 USD.
var served = fakeapi.Usage{InputTokens: 1000, OutputTokens: 50}

const servedUSD = 1000*1.0/1e6 + 50*5.0/1e6

func metricFloat(t *testing.T, scrape, series string) float64 {
	t.Helper()
	v := sampleValue(scrape, series)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("%s = %q", series, v)
	}
	return f
}

// TestMeteringTimedOutSession: a session killed by its timeout is charged
// what the model API served it, live, in the metrics and its record.
func TestMeteringTimedOutSession(t *testing.T) {
	d := newDirs(t)
	api := fakeapi.Start(t, fakeapi.Sequence(
		fakeapi.Turn{Text: "Waiting.", Usage: served, Tools: []fakeapi.ToolUse{fakeapi.Bash("timeout 120 tail -f /dev/null")}},
		tier1Healthy))
	dm := startDaemon(t, api, d, "--schedule.interval=1h", "--session.timeout=4s", "--session.grace=1s")
	var s sessionView
	waitFor(t, 60*time.Second, "the session to time out", func() bool {
		ss := dm.sessions(t)
		if len(ss) == 1 {
			s = ss[0]
		}
		return len(ss) == 1 && s.Outcome != "running"
	})
	if s.Outcome != "timeout" || len(api.Requests()) != 1 {
		t.Fatalf("outcome %q after %d requests, want timeout after 1", s.Outcome, len(api.Requests()))
	}
	var rec struct {
		Session struct {
			CostUSD float64 `json:"total_cost_usd"`
			Metered bool    `json:"metered"`
			Tokens  map[string]struct {
				Input, Output int64
			} `json:"tokens"`
		} `json:"session"`
	}
	getJSON(t, dm.URL+"/api/v1/sessions/"+s.ID, &rec)
	if !rec.Session.Metered || math.Abs(rec.Session.CostUSD-servedUSD) > 1e-9 || rec.Session.Tokens["claude-haiku-5-5"].Input != 1000 {
		t.Errorf("record: %+v, want %v USD and 1000 input tokens, metered", rec.Session, servedUSD)
	}
	scrape := dm.scrape(t)
	if got := metricFloat(t, scrape, `claudeops_cost_usd_total{model="claude-haiku-5-5",tier="1"}`); math.Abs(got-servedUSD) > 1e-9 {
		t.Errorf("cost metric = %v, want %v", got, servedUSD)
	}
	for kind, want := range map[string]float64{"input": 1000, "output": 50} {
		if got := metricFloat(t, scrape, `claudeops_tokens_total{kind="`+kind+`",model="claude-haiku-5-5",tier="1"}`); got != want {
			t.Errorf("%s tokens = %v, want %v", kind, got, want)
		}
	}
}

// TestMeteringBudgetStopsMidSession: a budget worth one request stops the
// session at its second: the proxy refuses it and the session ends as
// budget_exhausted.
func TestMeteringBudgetStopsMidSession(t *testing.T) {
	d := newDirs(t)
	api := fakeapi.Start(t, fakeapi.Sequence(
		fakeapi.Turn{Text: "Looking.", Usage: served, Tools: []fakeapi.ToolUse{fakeapi.Bash("ls")}},
		tier1Healthy))
	dm := startDaemon(t, api, d, "--schedule.interval=1h", "--budget.daily-usd=0.001")
	var s sessionView
	waitFor(t, 60*time.Second, "the session to end", func() bool {
		ss := dm.sessions(t)
		if len(ss) == 1 {
			s = ss[0]
		}
		return len(ss) == 1 && s.Outcome != "running"
	})
	if s.Outcome != "budget_exhausted" {
		t.Errorf("outcome %q (%s), want budget_exhausted", s.Outcome, s.Reason)
	}
	if n := len(api.Requests()); n != 1 {
		t.Errorf("the model API got %d requests, want 1: the second is refused by the proxy", n)
	}
	scrape := dm.scrape(t)
	if got := metricFloat(t, scrape, "claudeops_budget_spent_usd"); math.Abs(got-servedUSD) > 1e-9 {
		t.Errorf("budget spent = %v, want %v", got, servedUSD)
	}
	if got := metricFloat(t, scrape, `claudeops_proxy_refusals_total{reason="budget"}`); got != 1 {
		t.Errorf("proxy budget refusals = %v, want 1", got)
	}
}
