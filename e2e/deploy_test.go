package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v2"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
)

// Issue 12, "Deploy": what docker-compose.yaml and deploy/ ship, and what
// the daemon says about them at start.

const (
	composeFile       = "../docker-compose.yaml"
	existingStackFile = "../deploy/existing-stack/docker-compose.claude-ops.yaml"
	// needsHuman are the labels of the needs-human alert, the way `amtool
	// config routes test` is asked (remediator.NeedsHumanRouteLabels).
	needsHuman = "alertname=ClaudeOpsNeedsHumanAttention claudeops=true severity=critical service=x"
)

type composeDoc struct {
	Services map[string]struct {
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		GroupAdd    []string          `yaml:"group_add"`
		ExtraHosts  []string          `yaml:"extra_hosts"`
	} `yaml:"services"`
}

func readCompose(t *testing.T, file string) composeDoc {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c composeDoc
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return c
}

// published is a port published on loopback only, one variable away.
var published = regexp.MustCompile(`^127\.0\.0\.1:\$\{([A-Z_]+_PORT):-(\d+)\}:(\d+)$`)

// TestDeployComposeDefaults: compose publishes every port on 127.0.0.1,
// each port one variable away; Grafana has no default password; the
// Prometheus lifecycle API is off; the engine socket reaches the daemon
// only, with its group and the host gateway.
func TestDeployComposeDefaults(t *testing.T) {
	c := readCompose(t, composeFile)
	wantPorts := map[string]string{
		"claude-ops": "CLAUDEOPS_PORT", "prometheus": "PROMETHEUS_PORT", "alertmanager": "ALERTMANAGER_PORT", "grafana": "GRAFANA_PORT",
	}
	for name, svc := range c.Services {
		for _, p := range svc.Ports {
			m := published.FindStringSubmatch(p)
			if m == nil {
				t.Errorf("%s publishes %q: want 127.0.0.1:${X_PORT:-port}:port", name, p)
				continue
			}
			if m[1] != wantPorts[name] || m[2] != m[3] {
				t.Errorf("%s publishes %q: want the variable %s and the same port inside", name, p, wantPorts[name])
			}
		}
		if len(svc.Ports) == 0 && wantPorts[name] != "" {
			t.Errorf("%s publishes no port", name)
		}
		for _, v := range svc.Volumes {
			if strings.Contains(v, "docker.sock") && name != "claude-ops" {
				t.Errorf("%s mounts the engine socket %q: only claude-ops may", name, v)
			}
		}
	}
	if pw := c.Services["grafana"].Environment["GF_SECURITY_ADMIN_PASSWORD"]; !regexp.MustCompile(`^\$\{GRAFANA_ADMIN_PASSWORD:\?.+\}$`).MatchString(pw) {
		t.Errorf("grafana's GF_SECURITY_ADMIN_PASSWORD = %q: want ${GRAFANA_ADMIN_PASSWORD:?message}, no default", pw)
	}
	for _, arg := range c.Services["prometheus"].Command {
		if strings.Contains(arg, "enable-lifecycle") || strings.Contains(arg, "enable-admin-api") {
			t.Errorf("prometheus runs with %s", arg)
		}
	}
	for _, file := range []string{composeFile, existingStackFile} {
		svc := readCompose(t, file).Services["claude-ops"]
		if !slices.ContainsFunc(svc.Volumes, func(v string) bool {
			return strings.HasSuffix(v, ":/var/run/docker.sock") && strings.Contains(v, "${DOCKER_SOCK:-/var/run/docker.sock}")
		}) {
			t.Errorf("%s: claude-ops does not mount ${DOCKER_SOCK:-/var/run/docker.sock} read-write at /var/run/docker.sock: %q", file, svc.Volumes)
		}
		if len(svc.GroupAdd) != 1 || !strings.HasPrefix(svc.GroupAdd[0], "${DOCKER_GID:?") {
			t.Errorf("%s: claude-ops group_add = %q, want ${DOCKER_GID:?message}", file, svc.GroupAdd)
		}
		if !slices.Equal(svc.ExtraHosts, []string{"host.docker.internal:host-gateway"}) {
			t.Errorf("%s: claude-ops extra_hosts = %q", file, svc.ExtraHosts)
		}
		for _, p := range svc.Ports {
			if m := published.FindStringSubmatch(p); m == nil || m[1] != "CLAUDEOPS_PORT" {
				t.Errorf("%s: claude-ops publishes %q", file, p)
			}
		}
	}

	// docker-compose itself: valid with the variables, a clear refusal
	// without each required one, and a port moved by its variable.
	dc := requireTool(t, "docker-compose", "apt-get install docker-compose")
	abs, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	emptyEnv := filepath.Join(t.TempDir(), "env") // not the checkout's .env
	writeFile(t, emptyEnv, "")
	config := func(file string, env ...string) (string, error) {
		cmd := exec.Command(dc, "--env-file", emptyEnv, "-f", file, "config")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "CLAUDEOPS_SRC=" + abs}, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	required := []string{"GRAFANA_ADMIN_PASSWORD=pw", "DOCKER_GID=999"}
	out, err := config(composeFile, append(required, "GRAFANA_PORT=13000", "CLAUDEOPS_PORT=19847")...)
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for _, want := range []string{"127.0.0.1:13000:3000", "127.0.0.1:19847:9847", "127.0.0.1:9090:9090", "127.0.0.1:9093:9093", "host.docker.internal:host-gateway", "'999'"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker-compose config lacks %s:\n%s", want, out)
		}
	}
	for i, v := range required {
		name, _, _ := strings.Cut(v, "=")
		others := slices.Delete(slices.Clone(required), i, i+1)
		if out, err := config(composeFile, others...); err == nil || !strings.Contains(out, "set "+name+" in .env") {
			t.Errorf("without %s: err %v, output %s", name, err, out)
		}
	}
	if out, err := config(existingStackFile, "DOCKER_GID=999"); err != nil {
		t.Errorf("docker-compose config %s: %v\n%s", existingStackFile, err, out)
	}
}

// TestDeployAlertmanagerRoutesToHumans: the shipped Alertmanager configs
// are valid, and Claude Ops' own alerts reach a receiver with a notifier.
func TestDeployAlertmanagerRoutesToHumans(t *testing.T) {
	amtool := requireTool(t, "amtool", "apt-get install prometheus-alertmanager")
	for _, f := range []string{deployAlertmanager, "../deploy/existing-stack/alertmanager-receiver.yml"} {
		if out, err := exec.Command(amtool, "check-config", f).CombinedOutput(); err != nil {
			t.Errorf("amtool check-config %s: %v\n%s", f, err, out)
		}
	}
	var cfg struct {
		Receivers []map[string]any `yaml:"receivers"`
	}
	b, err := os.ReadFile(deployAlertmanager)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	notifiers := map[string]int{}
	for _, r := range cfg.Receivers {
		for k, v := range r {
			if l, ok := v.([]any); ok && strings.HasSuffix(k, "_configs") {
				notifiers[r["name"].(string)] += len(l)
			}
		}
	}
	for _, labels := range []string{
		needsHuman,
		"alertname=ClaudeOpsRemediated claudeops=true severity=info service=x",
		"alertname=ClaudeOpsDryRunProposal claudeops=true severity=info service=x",
	} {
		cmd := exec.Command(amtool, append([]string{"config", "routes", "test", "--config.file=" + deployAlertmanager}, strings.Fields(labels)...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("amtool config routes test: %v", err)
		}
		recv := strings.Split(strings.TrimSpace(string(out)), ",")
		if !slices.Contains(recv, "claude-ops") || !slices.ContainsFunc(recv, func(r string) bool { return r != "claude-ops" && notifiers[r] > 0 }) {
			t.Errorf("{%s} goes to %q: want claude-ops and a receiver with a notifier (%v)", labels, recv, notifiers)
		}
	}
}

// amWithConfig runs Debian's Alertmanager with the given configuration.
func amWithConfig(t *testing.T, config string, args ...string) *alertmanager {
	t.Helper()
	bin := requireTool(t, "prometheus-alertmanager", "apt-get install prometheus-alertmanager")
	dir := t.TempDir()
	path := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, path, config)
	addr := freePort(t)
	am := &alertmanager{URL: "http://" + addr}
	am.proc = start(t, "alertmanager", []string{"PATH=" + os.Getenv("PATH")}, append([]string{bin,
		"--config.file=" + path, "--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--cluster.listen-address=", "--log.level=debug"}, args...)...)
	waitFor(t, 20*time.Second, "alertmanager to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return am
}

// A bcrypt hash (cost 4) of amPassword, for Alertmanager's web config.
const (
	amPassword = "e2e-am-password"
	amHash     = "$2a$04$bT.9nDgUP1tjf5xN7AGw/.m1WUB1TJzIcht5QOIhkza8NIwXg0BQy"
)

// pager is a webhook receiver standing for a human's pager.
type pager struct {
	URL   string
	mu    sync.Mutex
	pages []string
}

func startPager(t *testing.T) *pager {
	p := &pager{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.pages = append(p.pages, string(b))
		p.mu.Unlock()
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	p.URL = "http://" + l.Addr().String() + "/page"
	return p
}

func (p *pager) got(substr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.pages, func(s string) bool { return strings.Contains(s, substr) })
}

// TestDeployNeedsHumanRouteCheck: at start, with --alertmanager.url, the
// daemon reads Alertmanager's running configuration and warns when its
// needs-human alert reaches nobody; with a pager configured it says where
// the alert goes, reading Alertmanager through
// --alertmanager.http-config-file (basic auth), and the page arrives.
func TestDeployNeedsHumanRouteCheck(t *testing.T) {
	const warnNobody = "nobody will be paged"
	ownReceiver := func(addr, token string) string {
		return `
  - name: claude-ops
    webhook_configs:
      - url: http://` + addr + `/api/v1/webhook
        send_resolved: true
        http_config: {authorization: {type: Bearer, credentials_file: '` + token + `'}}`
	}
	routes := `route:
  receiver: claude-ops
  group_by: [alertname, service]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: claude-ops
      continue: true
    - receiver: humans
      matchers: ['claudeops="true"']
receivers:`

	cases := []struct {
		name   string
		config func(addr, token string, p *pager) (cfg string, amArgs, daemonArgs []string)
		want   *regexp.Regexp
		paged  bool
	}{
		{
			name: "shipped placeholders",
			want: regexp.MustCompile(`level=WARN .*msg="needs-human alerts route to receiver humans, whose notifiers still hold the shipped placeholders \(alertmanager@example.com, oncall@example.com, smtp.example.com:587\): nobody will be paged"`),
		},
		{
			name: "a receiver without notifier",
			config: func(addr, token string, _ *pager) (string, []string, []string) {
				return routes + ownReceiver(addr, token) + "\n  - name: humans\n", nil, nil
			},
			want: regexp.MustCompile(`level=WARN .*msg="needs-human alerts route to receiver humans, which has no notifier configured: nobody will be paged"`),
		},
		{
			name: "a pager behind basic auth",
			config: func(addr, token string, p *pager) (string, []string, []string) {
				dir := t.TempDir()
				web := filepath.Join(dir, "web.yml")
				writeFile(t, web, "basic_auth_users:\n  claude: "+amHash+"\n")
				client := filepath.Join(dir, "am-http.yml")
				writeFile(t, filepath.Join(dir, "am-password"), amPassword+"\n")
				writeFile(t, client, "basic_auth: {username: claude, password_file: am-password}\n")
				return routes + ownReceiver(addr, token) + "\n  - name: humans\n    webhook_configs: [{url: '" + p.URL + "'}]\n",
					[]string{"--web.config.file=" + web}, []string{"--alertmanager.http-config-file=" + client}
			},
			want:  regexp.MustCompile(`level=INFO .*msg="needs-human alerts route to a receiver that pages" .*receivers=claude-ops,humans`),
			paged: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := fakeapi.Start(t, healthyTier1)
			d := newDirs(t)
			token := filepath.Join(d.State, "webhook-token")
			writeFile(t, token, "e2e-webhook-token\n")
			addr := freePort(t)
			p := startPager(t)
			var am *alertmanager
			var extra []string
			if tc.config == nil {
				am = startAlertmanager(t, "http://"+addr+"/api/v1/webhook", token)
			} else {
				cfg, amArgs, daemonArgs := tc.config(addr, token, p)
				am = amWithConfig(t, cfg, amArgs...)
				extra = daemonArgs
			}
			dm := startDaemonAt(t, addr, api, d, append([]string{"--schedule.interval=1h", "--webhook.token-file=" + token,
				"--alertmanager.url=" + am.URL}, extra...)...)
			waitFor(t, 30*time.Second, "the needs-human route check's log line", func() bool {
				return tc.want.MatchString(dm.Output())
			})
			defer waitStartupTier1(t, dm.URL)
			if tc.paged {
				if strings.Contains(dm.Output(), warnNobody) {
					t.Errorf("a pager is configured, yet: %s", warnNobody)
				}
				// The needs-human alert, as the daemon pushes it, reaches the
				// pager through Alertmanager.
				alert, _ := json.Marshal([]map[string]any{{"labels": map[string]string{
					"alertname": "ClaudeOpsNeedsHumanAttention", "claudeops": "true", "severity": "critical", "service": "x"}}})
				req, _ := http.NewRequest(http.MethodPost, am.URL+"/api/v2/alerts", bytes.NewReader(alert))
				req.Header.Set("Content-Type", "application/json")
				req.SetBasicAuth("claude", amPassword)
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("post to alertmanager: %v %v", resp, err)
				}
				resp.Body.Close()
				waitFor(t, 20*time.Second, "the page", func() bool { return p.got("ClaudeOpsNeedsHumanAttention") })
			}
		})
	}
}

// TestDeployEngineUnreachableIsAnError: a daemon without its engine says so
// at error level at start, with what to change.
func TestDeployEngineUnreachableIsAnError(t *testing.T) {
	api := fakeapi.Start(t, healthyTier1)
	d := newDirs(t)
	dm := startDaemon(t, api, d, "--schedule.interval=1h", "--webhook.no-auth", "--engine.host=unix://"+filepath.Join(d.State, "no-engine.sock"))
	want := regexp.MustCompile(`level=ERROR .*msg="container engine not reachable: typed container actions \(restart, redeploy\) fail until it is" .*hint="no engine listens there: mount the engine's socket \(compose: DOCKER_SOCK`)
	waitFor(t, 10*time.Second, "the engine error line", func() bool { return want.MatchString(dm.Output()) })
	waitStartupTier1(t, dm.URL)
}

// TestDeployWebFlagsAndOpenMetrics: the web flags are exporter-toolkit's
// (kingpinflag), with --web.listen-address still read from
// CLAUDEOPS_LISTEN_ADDRESS; systemd socket activation works; /metrics
// speaks OpenMetrics to a scraper that asks for it.
func TestDeployWebFlagsAndOpenMetrics(t *testing.T) {
	out, _ := exec.Command(binary, "--help").CombinedOutput()
	help := strings.Join(strings.Fields(string(out)), " ") // unwrapped
	for _, want := range []string{
		"web.systemd-socket Use systemd socket activation listeners instead of port listeners",
		"--web.config.file=\"\" Path to configuration file that can enable TLS or authentication",
		"--web.listen-address=:9847 ... Addresses on which to expose metrics and web interface",
		"($CLAUDEOPS_LISTEN_ADDRESS)", "--alertmanager.http-config-file",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q", want)
		}
	}

	// Socket activation: the listener is fd 3, LISTEN_PID the daemon's.
	api := fakeapi.Start(t, healthyTier1)
	d := newDirs(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	url := "http://" + l.Addr().String()
	args := daemonArgs(freePort(t), d, "--web.systemd-socket", "--webhook.no-auth", "--schedule.interval=1h")
	p := &proc{name: "claude-ops", done: make(chan struct{})}
	p.cmd = exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$@"`, "sh"}, args...)...)
	p.cmd.Env = append(daemonEnv(t, api, d), "LISTEN_FDS=1")
	p.cmd.ExtraFiles = []*os.File{f}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t, 20*time.Second)
		if t.Failed() {
			t.Logf("---- claude-ops output ----\n%s", tail(p.Output(), 12000))
		}
	})
	p.waitReady(t, url, 30*time.Second)

	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") || !bytes.HasSuffix(body, []byte("# EOF\n")) {
		t.Errorf("/metrics answered %q, ending %q: want OpenMetrics", ct, tail(string(body), 40))
	}
	if !bytes.Contains(body, []byte("claudeops_build_info")) {
		t.Errorf("no claudeops_build_info in the OpenMetrics exposition")
	}
	waitStartupTier1(t, url)
}

// waitStartupTier1 waits for the start-up Tier 1 session to end (counted in
// claudeops_sessions_total): a daemon stopped while its sandbox check runs
// may hang (runner.Sandbox.Check).
func waitStartupTier1(t *testing.T, url string) {
	t.Helper()
	waitFor(t, 60*time.Second, "the start-up Tier 1 session to end", func() bool {
		_, scrape := httpGet(t, url+"/metrics")
		for _, l := range metricLines(scrape, "claudeops_sessions_total{") {
			if strings.Contains(l, `tier="1"`) && !strings.HasSuffix(l, " 0") {
				return true
			}
		}
		return false
	})
}
