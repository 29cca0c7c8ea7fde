package main

import (
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

func parse(t *testing.T, env map[string]string, args ...string) (*options, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	app := kingpin.New("claude-ops", "")
	app.Terminate(nil)
	var o options
	addFlags(app, &o)
	_, err := app.Parse(args)
	return &o, err
}

func TestFlags(t *testing.T) {
	o, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.interval != time.Hour || o.listen[0] != ":9847" || o.models != [3]string{"haiku", "sonnet", "opus"} ||
		o.maxRestarts != 2 || o.restartWindow != 4*time.Hour || o.maxRedeploys != 1 || o.redeployWindow != 24*time.Hour ||
		o.concurrency != 2 || o.verifyTimeout != 10*time.Minute || o.maxServicesPerHour != 5 || o.sessionTimeout != 15*time.Minute ||
		o.serviceLabel != "service,container,job" || o.reposDir != "data/repos" {
		t.Errorf("defaults differ from SPEC.md §5: %+v", o)
	}

	o, err = parse(t, map[string]string{
		"CLAUDEOPS_INTERVAL": "90", "CLAUDEOPS_TIER2_MODEL": "claude-sonnet-x", "CLAUDEOPS_DRY_RUN": "true",
		"CLAUDEOPS_LISTEN_ADDRESS": "127.0.0.1:1", "CLAUDEOPS_DAILY_BUDGET_USD": "2.5", "CLAUDEOPS_REPOS_DIR": "/repos",
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.interval != 90*time.Second || o.models[1] != "claude-sonnet-x" || !o.dryRun || o.listen[0] != "127.0.0.1:1" ||
		o.budgetUSD != 2.5 || o.reposDir != "/repos" {
		t.Errorf("environment not read: %+v", o)
	}
	if o, err = parse(t, nil, "--schedule.interval=15m"); err != nil || o.interval != 15*time.Minute {
		t.Errorf("--schedule.interval=15m: %v, %v", o.interval, err)
	}
	for _, bad := range []string{"--schedule.interval=0", "--schedule.interval=-5", "--schedule.interval=soon", "--cooldown.max-restarts=two"} {
		if _, err := parse(t, nil, bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestSplitList(t *testing.T) {
	got := splitList(" service, ,container,job ")
	if len(got) != 3 || got[0] != "service" || got[2] != "job" {
		t.Errorf("splitList = %q", got)
	}
}
