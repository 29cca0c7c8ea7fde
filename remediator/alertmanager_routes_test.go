package remediator

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const ownReceiver = `
  - name: claude-ops
    webhook_configs:
      - url: http://claude-ops:9847/api/v1/webhook
        send_resolved: true
`

// routeCases are Alertmanager configurations and the receivers the
// needs-human alert reaches with them; TestNeedsHumanRouteLikeAmtool asks
// amtool the same.
var routeCases = []struct {
	name, config string
	receivers    []string
	paged        bool
	warning      string // "" when paged
}{
	{
		name: "the old shipped config: humans without notifier",
		config: `route:
  receiver: claude-ops
  routes:
    - receiver: claude-ops
      continue: true
    - receiver: humans
      matchers: ['severity="critical"']
    - receiver: humans
      matchers: ['claudeops="true"']
receivers:` + ownReceiver + `
  - name: humans
`,
		receivers: []string{"claude-ops", "humans"},
		warning:   "needs-human alerts route to receiver humans, which has no notifier configured: nobody will be paged",
	},
	{
		name: "only the webhook",
		config: `route:
  receiver: claude-ops
receivers:` + ownReceiver,
		receivers: []string{"claude-ops"},
		warning:   "needs-human alerts route to receiver claude-ops, which only notifies Claude Ops itself: nobody will be paged",
	},
	{
		name: "a pager behind a nested route, match and match_re, receiver inherited",
		config: `route:
  receiver: default
  routes:
    - receiver: claude-ops
      continue: true
    - match_re: {service: 'db|cache'}
      receiver: dba
    - match: {claudeops: "true"}
      routes:
        - matchers: ['severity=~"warn.*"']
          receiver: chat
        - matchers: ['alertname!="ClaudeOpsRemediated"']
    - receiver: never
receivers:` + ownReceiver + `
  - name: default
    webhook_configs: [{url: 'https://pager.corp.internal/hook'}]
  - name: dba
  - name: chat
  - name: never
`,
		// The claudeops route's second child matches without a receiver:
		// it has its parent's, which has the root's.
		receivers: []string{"claude-ops", "default"},
		paged:     true,
	},
	{
		name: "continue on a matching route that is not the last",
		config: `route:
  receiver: nobody
  routes:
    - receiver: claude-ops
      continue: true
    - receiver: mail
      matchers: ['{claudeops="true", severity="critical"}']
      continue: true
    - receiver: nobody
      matchers: [service=x]
receivers:` + ownReceiver + `
  - name: nobody
  - name: mail
    email_configs:
      - to: oncall@corp.internal
        from: am@corp.internal
        smarthost: mail.corp.internal:25
`,
		receivers: []string{"claude-ops", "mail", "nobody"},
		paged:     true,
	},
	{
		name: "the placeholders of the shipped email receiver",
		config: `global:
  smtp_smarthost: smtp.example.com:587
  smtp_from: alertmanager@example.com
route:
  receiver: claude-ops
  routes:
    - receiver: claude-ops
      continue: true
    - receiver: humans
      matchers: ['claudeops="true"']
receivers:` + ownReceiver + `
  - name: humans
    email_configs:
      - to: oncall@example.com
        smarthost: smtp.example.com:587
        from: alertmanager@example.com
`,
		receivers: []string{"claude-ops", "humans"},
		warning:   "needs-human alerts route to receiver humans, whose notifiers still hold the shipped placeholders (alertmanager@example.com, oncall@example.com, smtp.example.com:587): nobody will be paged",
	},
	{
		name: "a real address but the placeholder mail relay",
		config: `route:
  receiver: humans
receivers:
  - name: humans
    email_configs:
      - to: oncall@corp.internal
        smarthost: smtp.example.com:587
        from: am@corp.internal
`,
		receivers: []string{"humans"},
		warning:   "needs-human alerts route to receiver humans, whose notifiers still hold the shipped placeholders (smtp.example.com:587): nobody will be paged",
	},
	{
		name: "a placeholder webhook beside a real one",
		config: `route:
  receiver: humans
receivers:
  - name: humans
    webhook_configs:
      - url: https://hooks.invalid/CHANGE-ME
      - url: https://chat.corp.internal/hooks/oncall
`,
		receivers: []string{"humans"},
		paged:     true,
	},
}

func TestCheckNeedsHumanRoute(t *testing.T) {
	for _, tc := range routeCases {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := CheckNeedsHumanRoute(tc.config, NeedsHumanRouteLabels)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range rc.Receivers {
				names = append(names, r.Name)
			}
			if !slices.Equal(names, tc.receivers) {
				t.Errorf("receivers = %q, want %q", names, tc.receivers)
			}
			if rc.Paged() != tc.paged || rc.Warning() != tc.warning {
				t.Errorf("paged %v, warning %q; want %v, %q", rc.Paged(), rc.Warning(), tc.paged, tc.warning)
			}
		})
	}
}

// Alertmanager 0.26 and later show a webhook's URL as <secret>: the
// receiver's name tells Claude Ops' own.
func TestCheckNeedsHumanRouteHiddenURL(t *testing.T) {
	cfg := `route:
  receiver: claude-ops
  routes:
    - receiver: claude-ops
      continue: true
    - receiver: pager
      matchers: ['claudeops="true"']
receivers:
  - name: claude-ops
    webhook_configs:
      - url: <secret>
  - name: pager
    webhook_configs:
      - url: <secret>
`
	rc, err := CheckNeedsHumanRoute(cfg, NeedsHumanRouteLabels)
	if err != nil || !rc.Paged() || !rc.Receivers[0].Own || rc.Receivers[1].Own {
		t.Errorf("check = %+v, %v; want claude-ops own and pager paging", rc, err)
	}
	rc, _ = CheckNeedsHumanRoute(strings.ReplaceAll(cfg, "name: pager", "name: other")+"", NeedsHumanRouteLabels)
	if rc.Warning() == "" || !strings.Contains(rc.Warning(), "receiver pager, which is not defined") {
		t.Errorf("an undefined receiver: %q", rc.Warning())
	}
	for _, bad := range []string{"route: [", "receivers: []", "route: {receiver: a, matchers: ['a=~\"(\"']}\n"} {
		if _, err := CheckNeedsHumanRoute(bad, NeedsHumanRouteLabels); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestNeedsHumanRouteLikeAmtool asks Alertmanager's own route tree
// (`amtool config routes test`) where each configuration sends the
// needs-human alert, and compares.
func TestNeedsHumanRouteLikeAmtool(t *testing.T) {
	amtool, err := exec.LookPath("amtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("amtool is not installed; CI must install it (apt-get install prometheus-alertmanager)")
		}
		t.Skip("amtool is not installed: apt-get install prometheus-alertmanager")
	}
	var args []string
	for n, v := range NeedsHumanRouteLabels {
		args = append(args, string(n)+"="+string(v))
	}
	for _, tc := range routeCases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "alertmanager.yml")
			if err := os.WriteFile(file, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(amtool, append([]string{"config", "routes", "test", "--config.file=" + file}, args...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("amtool: %v\n%s%s", err, out, stderr.Bytes())
			}
			got := strings.Split(strings.TrimSpace(string(out)), ",")
			if !slices.Equal(got, tc.receivers) {
				t.Errorf("amtool says %q, the test %q", got, tc.receivers)
			}
		})
	}
}

type configSource struct {
	calls int
	fail  int // the first fail calls fail
	cfg   string
}

func (s *configSource) Config(context.Context) (string, error) {
	s.calls++
	if s.calls <= s.fail {
		return "", errors.New("connection refused")
	}
	return s.cfg, nil
}

func TestWarnUnroutedNeedsHuman(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	src := &configSource{fail: 2, cfg: routeCases[0].config}
	WarnUnroutedNeedsHuman(context.Background(), src, time.Millisecond, logger)
	if src.calls != 3 || !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), routeCases[0].warning) {
		t.Errorf("%d calls, log %s", src.calls, buf.String())
	}

	buf.Reset()
	WarnUnroutedNeedsHuman(context.Background(), &configSource{cfg: routeCases[2].config}, time.Millisecond, logger)
	if strings.Contains(buf.String(), "WARN") || !strings.Contains(buf.String(), "receivers=claude-ops,default") {
		t.Errorf("paged: log %s", buf.String())
	}

	buf.Reset()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	WarnUnroutedNeedsHuman(ctx, &configSource{fail: 1 << 30}, time.Millisecond, logger)
	if !strings.Contains(buf.String(), "where needs-human alerts go is unchecked") {
		t.Errorf("unreachable: log %s", buf.String())
	}
}
