package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// parsedOptions parses args as the daemon does, with kingpin's model kept.
func parsedOptions(t *testing.T, args ...string) *Options {
	t.Helper()
	app := kingpin.New("claude-ops", "")
	app.Terminate(nil)
	var o Options
	addFlags(app, &o)
	if _, err := app.Parse(args); err != nil {
		t.Fatal(err)
	}
	o.flags = app.Model()
	return &o
}

// TestStatusRedacted: /api/v1/status shows the effective flags from
// kingpin's model, the password of a URL redacted, the secrets as <secret>.
func TestStatusRedacted(t *testing.T) {
	o := parsedOptions(t, "--claude.base-url=https://gw-user:gw-pass@litellm.example/v1",
		"--alertmanager.url=http://am:s3cret@am.example:9093", "--prometheus.url=http://prom:9090")
	b, err := json.Marshal(statusView(o, true, false))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, leak := range []string{"gw-pass", "s3cret"} {
		if strings.Contains(s, leak) {
			t.Errorf("status shows %q: %s", leak, s)
		}
	}
	var v struct {
		Config map[string]string `json:"config"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"claude.base-url":   "https://gw-user:xxxxx@litellm.example/v1",
		"alertmanager.url":  "http://am:xxxxx@am.example:9093",
		"prometheus.url":    "http://prom:9090",
		"anthropic.api-key": "<secret>",
		"webhook.token":     "",
		"retention.period":  "30d",
		"schedule.interval": "1h0m0s",
	} {
		if got, ok := v.Config[flag]; !ok || got != want {
			t.Errorf("config[%s] = %q, want %q", flag, got, want)
		}
	}
}

func TestRetentionFlag(t *testing.T) {
	if o := parsedOptions(t); time.Duration(o.retention) != 30*24*time.Hour {
		t.Errorf("--retention.period defaults to %v, want 30d", o.retention)
	}
	if o := parsedOptions(t, "--retention.period=1w"); time.Duration(o.retention) != 7*24*time.Hour {
		t.Errorf("--retention.period=1w: %v", o.retention)
	}
}
