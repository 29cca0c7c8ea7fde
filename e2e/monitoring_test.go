package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v2"
)

// The configs the compose file mounts, started for real with only addresses
// and intervals overridden.
const (
	deployPrometheus   = "../deploy/prometheus.yml"
	deployAlertmanager = "../deploy/alertmanager.yml"
	mixinOut           = "../mixin/out"
)

func readYAML(t testing.TB, path string) yaml.MapSlice {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m yaml.MapSlice
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func writeYAML(t testing.TB, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(b))
}

// set replaces (or adds) key in a YAML mapping.
func set(m yaml.MapSlice, key string, v any) yaml.MapSlice {
	for i := range m {
		if m[i].Key == key {
			m[i].Value = v
			return m
		}
	}
	return append(m, yaml.MapItem{Key: key, Value: v})
}

func get(m yaml.MapSlice, key string) any {
	for _, it := range m {
		if it.Key == key {
			return it.Value
		}
	}
	return nil
}

// alertmanager is a running Debian prometheus-alertmanager.
type alertmanager struct {
	*proc
	URL string
}

// startAlertmanager runs deploy/alertmanager.yml with the webhook pointed at
// the daemon, the token file at tokenFile and notification timings of a test.
func startAlertmanager(t testing.TB, webhookURL, tokenFile string) *alertmanager {
	t.Helper()
	bin := requireTool(t, "prometheus-alertmanager", "apt-get install prometheus-alertmanager")
	dir := t.TempDir()
	cfg := readYAML(t, deployAlertmanager)
	route := get(cfg, "route").(yaml.MapSlice)
	route = set(route, "group_wait", "0s")
	route = set(route, "group_interval", "1s")
	route = set(route, "repeat_interval", "1h")
	cfg = set(cfg, "route", route)
	for _, r := range get(cfg, "receivers").([]any) {
		rm := r.(yaml.MapSlice)
		if get(rm, "name") != "claude-ops" {
			continue
		}
		wc := get(rm, "webhook_configs").([]any)[0].(yaml.MapSlice)
		wc = set(wc, "url", webhookURL)
		hc := get(wc, "http_config").(yaml.MapSlice)
		auth := get(hc, "authorization").(yaml.MapSlice)
		set(auth, "credentials_file", tokenFile)
		set(wc, "http_config", hc)
		get(rm, "webhook_configs").([]any)[0] = wc
	}
	path := filepath.Join(dir, "alertmanager.yml")
	writeYAML(t, path, cfg)
	addr := freePort(t)
	am := &alertmanager{URL: "http://" + addr}
	am.proc = start(t, "alertmanager", []string{"PATH=" + os.Getenv("PATH")}, bin,
		"--config.file="+path, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=debug")
	am.waitReady(t, am.URL, 20*time.Second)
	return am
}

type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
	Fingerprint string `json:"fingerprint"`
}

// alerts lists Alertmanager's active alerts.
func (am *alertmanager) alerts(t testing.TB) []amAlert {
	t.Helper()
	var out []amAlert
	getJSON(t, am.URL+"/api/v2/alerts?active=true&silenced=false&inhibited=false", &out)
	return out
}

// post adds or resolves alerts through Alertmanager's API v2.
func (am *alertmanager) post(t testing.TB, alerts ...map[string]any) {
	t.Helper()
	b, _ := json.Marshal(alerts)
	if code, body := httpPost(t, am.URL+"/api/v2/alerts", "application/json", string(b), nil); code != 200 {
		t.Fatalf("POST alerts to alertmanager: %d %s", code, body)
	}
}

func findAlert(alerts []amAlert, name string) *amAlert {
	for i := range alerts {
		if alerts[i].Labels["alertname"] == name {
			return &alerts[i]
		}
	}
	return nil
}

// prometheus is a running Debian prometheus.
type prometheus struct {
	*proc
	URL string
}

// startPrometheus runs deploy/prometheus.yml scraping the daemon, with the
// mixin's rules evaluated every second and their for: durations at zero, and
// alerts sent to am.
func startPrometheus(t testing.TB, daemonAddr, amAddr string) *prometheus {
	t.Helper()
	bin := requireTool(t, "prometheus", "apt-get install prometheus")
	dir := t.TempDir()
	addr := freePort(t)

	cfg := readYAML(t, deployPrometheus)
	cfg = set(cfg, "global", yaml.MapSlice{
		{Key: "scrape_interval", Value: "1s"}, {Key: "scrape_timeout", Value: "1s"}, {Key: "evaluation_interval", Value: "1s"},
	})
	cfg = set(cfg, "alerting", yaml.MapSlice{{Key: "alertmanagers", Value: []any{
		yaml.MapSlice{{Key: "static_configs", Value: []any{yaml.MapSlice{{Key: "targets", Value: []string{amAddr}}}}}},
	}}})
	var scrapes []any
	for _, sc := range get(cfg, "scrape_configs").([]any) {
		m := sc.(yaml.MapSlice)
		target := map[string]string{"claude-ops": daemonAddr, "prometheus": addr, "alertmanager": amAddr}[get(m, "job_name").(string)]
		if target == "" {
			continue
		}
		m = set(m, "static_configs", []any{yaml.MapSlice{{Key: "targets", Value: []string{target}}}})
		scrapes = append(scrapes, m)
	}
	cfg = set(cfg, "scrape_configs", scrapes)
	writeYAML(t, filepath.Join(dir, "prometheus.yml"), cfg)

	// The rule files of the rule_files glob, intervals overridden.
	glob := get(cfg, "rule_files").([]any)[0].(string)
	files, err := filepath.Glob(filepath.Join(filepath.Dir(deployPrometheus), glob))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files for %s: %v", glob, err)
	}
	for _, f := range files {
		rules := readYAML(t, f)
		for _, g := range get(rules, "groups").([]any) {
			gm := g.(yaml.MapSlice)
			gm = set(gm, "interval", "1s")
			for _, r := range get(gm, "rules").([]any) {
				rm := r.(yaml.MapSlice)
				if get(rm, "for") != nil {
					set(rm, "for", "0s")
				}
			}
		}
		sub, _, _ := strings.Cut(glob, "/")
		writeYAML(t, filepath.Join(dir, sub, filepath.Base(f)), rules)
	}

	p := &prometheus{URL: "http://" + addr}
	p.proc = start(t, "prometheus", []string{"PATH=" + os.Getenv("PATH")}, bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=debug")
	p.waitReady(t, p.URL, 20*time.Second)
	return p
}

type promResult struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	} `json:"data"`
}

// query runs an instant PromQL query.
func (p *prometheus) query(t testing.TB, expr string) promResult {
	t.Helper()
	form := "query=" + url.QueryEscape(expr)
	code, body := httpPost(t, p.URL+"/api/v1/query", "application/x-www-form-urlencoded", form, nil)
	var r promResult
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("query %q: %d %s", expr, code, body)
	}
	return r
}
