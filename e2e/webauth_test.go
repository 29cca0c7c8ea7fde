package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

// TestWebConfigBasicAuthWithAlertmanager is the working combination of
// docs/SPEC.md §6: --web.config.file's basic auth guards everything,
// --webhook.no-auth, and a real Alertmanager sends the web config's user
// and password to the webhook: its alert opens an incident. Nothing answers
// without the credentials, the healthcheck's /-/ready included.
func TestWebConfigBasicAuthWithAlertmanager(t *testing.T) {
	bin := requireTool(t, "prometheus-alertmanager", "apt-get install prometheus-alertmanager")
	d := newDirs(t)
	const user, password = "claude", "webauth-e2e-password"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(d.State, "web.yml")
	writeFile(t, webConfig, "basic_auth_users:\n  "+user+": "+string(hash)+"\n")
	passwordFile := filepath.Join(t.TempDir(), "password")
	writeFile(t, passwordFile, password)

	addr := freePort(t)
	amDir := t.TempDir()
	amAddr := freePort(t)
	writeFile(t, filepath.Join(amDir, "alertmanager.yml"), `route:
  receiver: claude-ops
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: claude-ops
    webhook_configs:
      - url: http://`+addr+`/api/v1/webhook
        send_resolved: true
        http_config:
          basic_auth:
            username: `+user+`
            password_file: `+passwordFile+`
`)
	am := &alertmanager{URL: "http://" + amAddr}
	am.proc = start(t, "alertmanager", []string{"PATH=" + os.Getenv("PATH")}, bin,
		"--config.file="+filepath.Join(amDir, "alertmanager.yml"), "--storage.path="+filepath.Join(amDir, "data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--log.level=debug")
	am.waitReady(t, am.URL, 20*time.Second)

	api := fakeapi.Start(t, func(r *fakeapi.Request) fakeapi.Turn {
		if strings.Contains(r.Model, "haiku") {
			return fakeapi.Sequence(tier1Healthy)(r)
		}
		return remediationDone("not_fixed")
	})
	p := start(t, "claude-ops", daemonEnv(t, api, d),
		daemonArgs(addr, d, "--schedule.interval=1h", "--web.config.file="+webConfig, "--webhook.no-auth")...)
	url := "http://" + addr
	basic := map[string]string{"Authorization": "Basic " + basicAuth(user, password)}
	waitFor(t, 30*time.Second, "the daemon to be ready (with the credentials)", func() bool {
		if p.exited() {
			t.Fatalf("claude-ops exited:\n%s", p.Output())
		}
		code, _ := httpGetWith(t, url+"/-/ready", basic)
		return code == 200
	})

	// Without the credentials: nothing, the webhook included.
	for _, path := range []string{"/-/ready", "/metrics", "/api/v1/sessions", "/api/v1/incidents", "/sessions"} {
		if code, _ := httpGet(t, url+path); code != 401 {
			t.Errorf("GET %s without credentials = %d, want 401", path, code)
		}
	}
	if code, _ := httpPost(t, url+"/api/v1/webhook", "application/json", firingAlert("WebDown", "web"), nil); code != 401 {
		t.Errorf("the webhook without credentials = %d, want 401", code)
	}

	// Alertmanager's one credential is enough for the webhook.
	am.post(t, map[string]any{"labels": map[string]string{"alertname": "WebDown", "service": "web", "severity": "critical"},
		"annotations": map[string]string{"summary": "web answers 502"}})
	waitFor(t, 30*time.Second, "Alertmanager's alert to open web's incident", func() bool {
		var ins []incidentView
		httpGetJSON(t, url+"/api/v1/incidents?state=all", basic, &ins)
		for _, in := range ins {
			if in.Service == "web" {
				return true
			}
		}
		return false
	})
	if code, body := httpGetWith(t, url+"/api/v1/sessions", basic); code != 200 {
		t.Errorf("GET /api/v1/sessions with the credentials = %d %s", code, body)
	}
}
