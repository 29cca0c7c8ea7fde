package app

import (
	"log/slog"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

func parse(t *testing.T, env map[string]string, args ...string) (*Options, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	app := kingpin.New("claude-ops", "")
	app.Terminate(nil)
	var o Options
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
		o.serviceLabel != "service,container,job" || o.reposDir != "data/repos" || o.inboxFsync {
		t.Errorf("defaults differ from SPEC.md §5: %+v", o)
	}

	o, err = parse(t, map[string]string{
		"CLAUDEOPS_INTERVAL": "90", "CLAUDEOPS_TIER2_MODEL": "claude-sonnet-x", "CLAUDEOPS_DRY_RUN": "true",
		"CLAUDEOPS_LISTEN_ADDRESS": "127.0.0.1:1", "CLAUDEOPS_DAILY_BUDGET_USD": "2.5", "CLAUDEOPS_REPOS_DIR": "/repos",
		"CLAUDEOPS_WEBHOOK_INBOX_FSYNC": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.interval != 90*time.Second || o.models[1] != "claude-sonnet-x" || !o.dryRun || o.listen[0] != "127.0.0.1:1" ||
		o.budgetUSD != 2.5 || o.reposDir != "/repos" || !o.inboxFsync {
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

// TestValidateFlags: every limit, timeout and URL is checked before the
// daemon starts, and the error names the flag.
func TestValidateFlags(t *testing.T) {
	o, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(nil); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string // in the error; "" means accepted
	}{
		{[]string{"--cooldown.max-restarts=-1"}, "--cooldown.max-restarts must be ≥ 0"},
		{[]string{"--cooldown.max-restarts=0"}, ""}, // every restart goes to a human
		{[]string{"--cooldown.max-redeploys=-2"}, "--cooldown.max-redeploys must be ≥ 0"},
		{[]string{"--cooldown.max-redeploys=0"}, ""},
		{[]string{"--cooldown.restart-window=0s"}, "--cooldown.restart-window must be > 0"},
		{[]string{"--cooldown.redeploy-window=-1h"}, "--cooldown.redeploy-window must be > 0"},
		{[]string{"--remediation.concurrency=0"}, "--remediation.concurrency must be ≥ 1"},
		{[]string{"--remediation.concurrency=-3"}, "--remediation.concurrency must be ≥ 1"},
		{[]string{"--remediation.queue-size=0"}, "--remediation.queue-size must be ≥ 1"},
		{[]string{"--remediation.verify-timeout=0s"}, "--remediation.verify-timeout must be > 0"},
		{[]string{"--remediation.max-services-per-hour=0"}, "--remediation.max-services-per-hour must be ≥ 1"},
		{[]string{"--remediation.max-services-per-hour=-1"}, "--remediation.max-services-per-hour must be ≥ 1"},
		{[]string{"--session.timeout=0s"}, "--session.timeout must be > 0"},
		{[]string{"--session.grace=-1s"}, "--session.grace must be > 0"},
		{[]string{"--session.max-requests=-1"}, "--session.max-requests must be ≥ 0"},
		{[]string{"--session.max-requests=0"}, ""}, // no runaway guard
		{[]string{"--webhook.max-body-bytes=0"}, "--webhook.max-body-bytes must be ≥ 1"},
		{[]string{"--budget.daily-usd=-1"}, "--budget.daily-usd must be ≥ 0"},
		{[]string{"--budget.daily-usd=NaN"}, "--budget.daily-usd must be ≥ 0"},
		{[]string{"--budget.daily-usd=0"}, ""}, // no budget
		{[]string{"--alertmanager.url=alertmanager:9093"}, "--alertmanager.url"},
		{[]string{"--alertmanager.url=http://"}, "--alertmanager.url"},
		{[]string{"--alertmanager.url=http://alertmanager:9093"}, ""},
		{[]string{"--prometheus.url=localhost:9090"}, "--prometheus.url"},
		{[]string{"--prometheus.url=ftp://prometheus"}, "--prometheus.url"},
		{[]string{"--prometheus.url=https://prometheus.example/prefix"}, ""},
		{[]string{"--claude.base-url=/v1"}, "--claude.base-url"},
		{[]string{"--claude.base-url=http://litellm:4000"}, ""},
		{[]string{"--web.listen-address=9847"}, "--web.listen-address"},
		{[]string{"--session.listen-address=localhost"}, "--session.listen-address"},
		{[]string{"--web.telemetry-path=metrics"}, "--web.telemetry-path"},
		{[]string{"--tier2.model="}, "--tier2.model must not be empty"},
		{[]string{"--webhook.service-labels= , "}, "--webhook.service-labels"},
		{[]string{"--state.dir="}, "--state.dir must not be empty"},
		{[]string{"--session.pass-env=ANTHROPIC_API_KEY"}, "looks like a secret"},
		{[]string{"--session.pass-env=GITHUB_TOKEN"}, "looks like a secret"},
		{[]string{"--session.pass-env=DB_PASSWORD"}, "looks like a secret"},
		{[]string{"--session.pass-env=AWS_SECRET_ACCESS_KEY"}, "looks like a secret"},
		{[]string{"--session.pass-env=GOOGLE_APPLICATION_CREDENTIALS"}, "looks like a secret"},
		{[]string{"--session.pass-env=PATH"}, "the daemon sets it"},
		{[]string{"--session.pass-env=CLAUDE_CONFIG_DIR"}, "the daemon sets it"},
		{[]string{"--session.pass-env=NOT A NAME"}, "not an environment variable name"},
		{[]string{"--session.pass-env=SSH_AUTH_SOCK", "--session.pass-env=LANG"}, ""},
	} {
		o, err := parse(t, nil, tc.args...)
		if err != nil {
			t.Errorf("%v: parse: %v", tc.args, err)
			continue
		}
		err = o.Validate(nil)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v refused: %v", tc.args, err)
		case tc.want != "" && err == nil:
			t.Errorf("%v accepted", tc.args)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%v: %q, want it to say %q", tc.args, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%v: not one line: %q", tc.args, err)
		}
	}
}

func TestPassEnvDefaults(t *testing.T) {
	o, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "KUBECONFIG", "SSH_AUTH_SOCK"}
	if !slices.Equal(o.passEnv, want) {
		t.Errorf("--session.pass-env defaults %q, want %q", o.passEnv, want)
	}
	spec, err := os.ReadFile("../docs/SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range append([]string{"--session.pass-env"}, want...) {
		if !strings.Contains(string(spec), "`"+w+"`") {
			t.Errorf("docs/SPEC.md §5 does not name `%s`", w)
		}
	}
	if o, err = parse(t, nil, "--session.pass-env=LANG", "--session.pass-env=TZ"); err != nil || !slices.Equal(o.passEnv, []string{"LANG", "TZ"}) {
		t.Errorf("--session.pass-env given: %q, %v", o.passEnv, err)
	}
}

func TestPassEnv(t *testing.T) {
	environ := map[string]string{
		"KUBECONFIG": "/etc/kube/config", "SSH_AUTH_SOCK": "/run/agent.sock", "LANG": "C.UTF-8",
		"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "corp.example,localhost",
		"http_proxy": "http://bob:hunter2@proxy.corp:3128", "EMPTY": "",
	}
	lookup := func(k string) (string, bool) { v, ok := environ[k]; return v, ok }
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	got := passEnv(append(slices.Clone(defaultPassEnv), "EMPTY"), lookup, logger)
	want := map[string]string{
		"KUBECONFIG": "/etc/kube/config", "SSH_AUTH_SOCK": "/run/agent.sock", "EMPTY": "",
		"HTTPS_PROXY": "http://proxy.corp:3128",
		// The CLI reaches the daemon's endpoint on loopback, not through the proxy.
		"NO_PROXY": "corp.example,localhost,127.0.0.1,::1", "no_proxy": "127.0.0.1,localhost,::1",
	}
	if !maps.Equal(got, want) {
		t.Errorf("passEnv =\n%q, want\n%q", got, want)
	}
	if !strings.Contains(logs.String(), "var=http_proxy") || strings.Contains(logs.String(), "hunter2") {
		t.Errorf("a proxy URL with credentials must be left out with a warning that does not show them: %s", logs.String())
	}
	// No proxy passed: NO_PROXY is passed as it is, or not at all.
	got = passEnv([]string{"LANG", "NO_PROXY", "no_proxy"}, lookup, logger)
	if !maps.Equal(got, map[string]string{"LANG": "C.UTF-8", "NO_PROXY": "corp.example,localhost"}) {
		t.Errorf("passEnv without proxies = %q", got)
	}
}

func TestFillVersion(t *testing.T) {
	saved := [4]string{version.Version, version.Revision, version.BuildDate, version.Branch}
	t.Cleanup(func() {
		version.Version, version.Revision, version.BuildDate, version.Branch = saved[0], saved[1], saved[2], saved[3]
	})
	settings := []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-03-01T12:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tc := range []struct {
		ldflags, mainVersion string
		settings             []debug.BuildSetting
		wantVersion, wantRev string
	}{
		// go build of a checkout: Go stamps a pseudo-version.
		{"", "v0.0.0-20260301120000-0123456789ab+dirty", settings, "v0.0.0-20260301120000-0123456789ab+dirty", "0123456789abcdef0123-modified"},
		{"", "v1.2.3", nil, "v1.2.3", ""},
		// -buildvcs=false or no VCS: the revision, else "devel".
		{"", "(devel)", settings, "devel-0123456789ab+dirty", "0123456789abcdef0123-modified"},
		{"", "(devel)", nil, "devel", ""},
		// ldflags win.
		{"1.0.0", "v0.0.0-x", settings, "1.0.0", "0123456789abcdef0123-modified"},
	} {
		version.Version, version.Revision, version.BuildDate = tc.ldflags, "", ""
		fillVersion(&debug.BuildInfo{Main: debug.Module{Path: "github.com/claude-ops/claude-ops", Version: tc.mainVersion}, Settings: tc.settings})
		if version.Version != tc.wantVersion || version.Revision != tc.wantRev {
			t.Errorf("%+v: version %q revision %q", tc, version.Version, version.Revision)
		}
	}
	// What a plain `go build` (and go test) records is enough for a version.
	version.Version, version.Revision = "", ""
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info")
	}
	fillVersion(bi)
	if version.Version == "" {
		t.Errorf("no version from %+v", bi.Main)
	}
}
