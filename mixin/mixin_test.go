package mixin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v2"
)

const (
	alertsFile    = "out/alerts.yaml"
	rulesFile     = "out/rules.yaml"
	dashboardsDir = "../grafana/dashboards"
	runbookFile   = "runbook.md"
)

// requiredAlerts are the alerts docs/SPEC.md §8 names, and the ones for the
// sandbox and the typed actions.
var requiredAlerts = []string{
	"ClaudeOpsCheckFailing",
	"ClaudeOpsNeedsHumanAttention",
	"ClaudeOpsCooldownExhausted",
	"ClaudeOpsTier1Stale",
	"ClaudeOpsBudgetExhausted",
	"ClaudeOpsSessionErrors",
	"ClaudeOpsDown",
	"ClaudeOpsSandboxUnavailable",
	"ClaudeOpsActionsFailing",
}

// emittedMetrics are the series the daemon exposes (docs/SPEC.md §7, plus
// claudeops_schedule_interval_seconds, claudeops_repo_errors,
// claudeops_remediation_queue_depth, the process collector's
// process_start_time_seconds) and Prometheus' own up. Histograms are named
// without _bucket, _sum and _count.
var emittedMetrics = []string{
	"claudeops_check_success", "claudeops_check_status", "claudeops_check_duration_seconds", "claudeops_services_discovered",
	"claudeops_tier1_last_run_timestamp_seconds", "claudeops_tier1_last_success_timestamp_seconds",
	"claudeops_schedule_interval_seconds",
	"claudeops_sessions_total", "claudeops_session_duration_seconds", "claudeops_sessions_running",
	"claudeops_cost_usd_total", "claudeops_tokens_total", "claudeops_escalations_total",
	"claudeops_remediation_actions_total", "claudeops_actions_total", "claudeops_action_refusals_total",
	"claudeops_action_duration_seconds", "claudeops_gate_refusals_total", "claudeops_sandbox_ready",
	"claudeops_proxy_requests_total", "claudeops_proxy_refusals_total",
	"claudeops_proxy_request_duration_seconds", "claudeops_proxy_first_byte_seconds",
	"claudeops_cooldown_actions", "claudeops_cooldown_limit", "claudeops_needs_human_attention",
	"claudeops_needs_human_alert_pushed", "claudeops_incidents_open", "claudeops_remediation_queue_depth", "claudeops_webhook_requests_total",
	"claudeops_alerts_received_total", "claudeops_budget_spent_usd", "claudeops_budget_limit_usd",
	"claudeops_repo_errors", "claudeops_build_info",
	"process_start_time_seconds", "up",
}

// gaugeMetrics are the gauges alerts read; an alert reads them over a window
// (max_over_time, min_over_time) so that a failed scrape does not resolve it.
var gaugeMetrics = []string{
	"claudeops_check_success", "claudeops_check_status", "claudeops_needs_human_attention", "claudeops_cooldown_actions",
	"claudeops_cooldown_limit", "claudeops_tier1_last_success_timestamp_seconds",
	"claudeops_schedule_interval_seconds", "process_start_time_seconds", "claudeops_budget_spent_usd",
	"claudeops_budget_limit_usd", "claudeops_repo_errors", "claudeops_sandbox_ready",
	"claudeops_needs_human_alert_pushed",
}

// dashboardTitlePrefix is _config.dashboardNamePrefix.
const dashboardTitlePrefix = "Claude Ops / "

var requiredDashboards = []string{"claude-ops-overview", "claude-ops-sessions", "claude-ops-remediation"}

// tool finds an external program; without it the test is skipped, or fails
// when CI is set.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found (CI is set): %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}

func run(t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			anchors[strings.ToLower(strings.TrimSpace(h))] = true
		}
	}
	return anchors
}

func TestAlerts(t *testing.T) {
	rf := loadRules(t, alertsFile)
	anchors := runbookAnchors(t)
	seen := map[string]bool{}
	runbookBases := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				t.Errorf("group %s: recording rule %q in the alerts file", g.Name, r.Record)
				continue
			}
			if seen[name] {
				t.Errorf("alert %s defined twice", name)
			}
			seen[name] = true
			if !strings.HasPrefix(name, "ClaudeOps") {
				t.Errorf("alert %s: name does not start with ClaudeOps", name)
			}
			if r.For == 0 {
				t.Errorf("alert %s: no for", name)
			}
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("alert %s: severity %q, want critical, warning or info", name, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s: no %s annotation", name, a)
				}
			}
			u := r.Annotations["runbook_url"]
			base, anchor, ok := strings.Cut(u, "#")
			runbookBases[base] = true
			if !ok || !anchors[anchor] {
				t.Errorf("alert %s: runbook_url %q has no section in %s", name, u, runbookFile)
			} else if anchor != strings.ToLower(name) {
				t.Errorf("alert %s: runbook_url %q points at another alert", name, u)
			}
			checkSelectors(t, "alert "+name, parseExpr(t, "alert "+name, r.Expr), matcher(t, labels.MatchEqual, "job", "claude-ops"))
		}
	}
	if len(runbookBases) != 1 || !runbookBases["https://github.com/claude-ops/claude-ops/blob/main/mixin/runbook.md"] {
		t.Errorf("runbook URLs start with %v, want one base (_config.runbookURLBase)", runbookBases)
	}
	for _, name := range requiredAlerts {
		if !seen[name] {
			t.Errorf("required alert %s missing", name)
		}
	}
}

// TestGaugeAlertsWindowed checks that alerts read gauges over a window, never
// as the last sample, which a failed scrape makes disappear.
func TestGaugeAlertsWindowed(t *testing.T) {
	for _, g := range loadRules(t, alertsFile).Groups {
		for _, r := range g.Rules {
			for _, s := range selectors(parseExpr(t, r.Alert, r.Expr)) {
				name := s.Metric()
				if !slices.Contains(gaugeMetrics, name) {
					continue
				}
				if s.Range == 0 || (s.Func != "max_over_time" && s.Func != "min_over_time") {
					t.Errorf("%s: gauge %s is not read over a window (max_over_time): %s", r.Alert, name, r.Expr)
				}
			}
		}
	}
}

// TestMetricsEmitted checks that every rule and dashboard expression only
// reads series the daemon emits or records the rules make.
func TestMetricsEmitted(t *testing.T) {
	records := map[string]bool{}
	for _, g := range loadRules(t, rulesFile).Groups {
		for _, r := range g.Rules {
			records[r.Record] = true
		}
	}
	for _, e := range allExprs(t) {
		for _, s := range selectors(e.parsed) {
			name := s.Metric()
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(emittedMetrics, b) {
					base = b
				}
			}
			if !slices.Contains(emittedMetrics, base) && !records[name] {
				t.Errorf("%s / %s: %s is neither a metric the daemon emits nor a record", e.Dashboard, e.Panel, name)
			}
		}
	}
}

// TestAlertRouting checks the labels the daemon and Alertmanager route on:
// service alerts carry the service; alerts about Claude Ops itself carry
// claudeops="true" so the daemon never remediates them.
func TestAlertRouting(t *testing.T) {
	rf := loadRules(t, alertsFile)
	failing := matcher(t, labels.MatchEqual, "status", "failing")
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			self := r.Labels["claudeops"] == "true"
			switch r.Alert {
			case "ClaudeOpsCheckFailing":
				if self {
					t.Errorf("%s: must not carry claudeops=\"true\": the daemon remediates it", r.Alert)
				}
				e := parseExpr(t, r.Alert, r.Expr)
				var status []selector
				for _, s := range selectors(e) {
					if s.Metric() == "claudeops_check_status" {
						status = append(status, s)
					}
				}
				if len(status) == 0 {
					t.Errorf("%s: does not read claudeops_check_status: %s", r.Alert, r.Expr)
				}
				for _, a := range aggregations(e) {
					if slices.Contains(a.Grouping, "service") == a.Without {
						t.Errorf("%s: must keep the series' service label, %s drops it: %s", r.Alert, a.Op, r.Expr)
					}
				}
				// Degraded and unknown checks page nobody and start no
				// paid Tier 2 session: the alert reads the failing state.
				for _, s := range status {
					if !s.HasMatcher(failing) {
						t.Errorf("%s: must fire on the failing state only: %s", r.Alert, r.Expr)
					}
				}
			default:
				if !self {
					t.Errorf("%s: needs claudeops=\"true\" (an alert about Claude Ops itself)", r.Alert)
				}
			}
		}
	}
}

// recordNameRE is Prometheus' level:metric:operations: level is the labels
// the result keeps (the aggregation labels job and instance first), metric
// the metric's name (without _total after rate), operations the operations
// applied, newest first.
var recordNameRE = regexp.MustCompile(`^job_instance(?:_[a-z]+)*:claudeops_[a-z0-9_]+:(?:avg|sum|rate[0-9]+[smhd]|increase[0-9]+[smhd]|histogram_quantile)$`)

func TestRecordingRules(t *testing.T) {
	rf := loadRules(t, rulesFile)
	seen := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record == "" {
				t.Errorf("group %s: alert %q in the recording rules file", g.Name, r.Alert)
				continue
			}
			// Series of one record differ by their static labels (quantile).
			id := r.Record + fmt.Sprint(r.Labels)
			if seen[id] {
				t.Errorf("record %s %v defined twice", r.Record, r.Labels)
			}
			seen[id], seen[r.Record] = true, true
			if !recordNameRE.MatchString(r.Record) {
				t.Errorf("record %s: want level:metric:operations (job_instance_<labels>:claudeops_<metric>:<operations>)", r.Record)
				continue
			}
			level, rest, _ := strings.Cut(r.Record, ":")
			metric, ops, _ := strings.Cut(rest, ":")
			for l := range r.Labels {
				if !slices.Contains(strings.Split(level, "_"), l) {
					t.Errorf("record %s: static label %s is not in its level", r.Record, l)
				}
			}
			e := parseExpr(t, "record "+r.Record, r.Expr)
			// rate5m and increase1h: the expression takes the rate or
			// increase over the window the name says.
			for _, fn := range []string{"rate", "increase"} {
				w, ok := strings.CutPrefix(ops, fn)
				if !ok {
					continue
				}
				if fn == "rate" && strings.HasSuffix(metric, "_total") {
					t.Errorf("record %s: a rate drops _total from the metric", r.Record)
				}
				window, err := model.ParseDuration(w)
				if err != nil {
					t.Errorf("record %s: window %q: %v", r.Record, w, err)
				}
				if !slices.ContainsFunc(selectors(e), func(s selector) bool {
					return s.Func == fn && model.Duration(s.Range) == window
				}) {
					t.Errorf("record %s: no %s() over [%s]: %s", r.Record, fn, window, r.Expr)
				}
			}
			checkSelectors(t, "record "+r.Record, e, matcher(t, labels.MatchEqual, "job", "claude-ops"))
		}
	}
	// Alerts and records share no names.
	for _, g := range loadRules(t, alertsFile).Groups {
		for _, r := range g.Rules {
			if seen[r.Alert] {
				t.Errorf("%s is both an alert and a record", r.Alert)
			}
		}
	}
}

// TestRecordsTested checks that the unit tests evaluate every record and that
// the labels of its expected samples are the level of its name: the level
// says which labels the record keeps, promtool says which it does keep.
func TestRecordsTested(t *testing.T) {
	type testFile struct {
		Tests []struct {
			PromQLExprTest []struct {
				Expr       string `yaml:"expr"`
				ExpSamples []struct {
					Labels string `yaml:"labels"`
				} `yaml:"exp_samples"`
			} `yaml:"promql_expr_test"`
		} `yaml:"tests"`
	}
	rf := loadRules(t, rulesFile)
	tested := map[string]bool{}
	files, _ := filepath.Glob("tests/*.yaml")
	for _, f := range files {
		var tf testFile
		readYAML(t, f, &tf)
		for _, tc := range tf.Tests {
			for _, e := range tc.PromQLExprTest {
				read := map[string]bool{}
				for _, s := range selectors(parseExpr(t, f, e.Expr)) {
					read[s.Metric()] = true
				}
				for _, g := range rf.Groups {
					for _, r := range g.Rules {
						if !read[r.Record] {
							continue
						}
						level, _, _ := strings.Cut(r.Record, ":")
						want := strings.Split(level, "_")
						slices.Sort(want)
						for _, s := range e.ExpSamples {
							ls, err := promql.ParseMetric(s.Labels)
							if err != nil {
								t.Errorf("%s: %s: sample labels %s: %v", f, e.Expr, s.Labels, err)
								continue
							}
							var got []string
							ls.Range(func(l labels.Label) {
								if l.Name != model.MetricNameLabel {
									got = append(got, l.Name)
								}
							})
							slices.Sort(got)
							if !slices.Equal(got, want) {
								t.Errorf("%s: %s: sample %s has labels %v, want the level's %v", f, e.Expr, s.Labels, got, want)
							}
						}
						if len(e.ExpSamples) > 0 {
							tested[r.Record] = true
						}
					}
				}
			}
		}
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if !tested[r.Record] {
				t.Errorf("record %s: no promql_expr_test with samples in tests/", r.Record)
			}
		}
	}
}

// TestRecordsUsed checks that every recording rule a dashboard uses exists.
func TestRecordsUsed(t *testing.T) {
	rf := loadRules(t, rulesFile)
	records := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			records[r.Record] = true
		}
	}
	exprs, err := DashboardExprs(dashboardsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exprs {
		for _, s := range selectors(parseDashboardExpr(t, e.Dashboard+" / "+e.Panel, e.Expr)) {
			if name := s.Metric(); strings.Contains(name, ":") && !records[name] {
				t.Errorf("%s / %s: uses %s, which no recording rule defines", e.Dashboard, e.Panel, name)
			}
		}
	}
}

var builtinVariables = []string{
	"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms",
	"__from", "__to", "__dashboard", "__name", "__org", "__user", "__timeFilter",
}

func TestDashboards(t *testing.T) {
	ds, err := LoadDashboards(dashboardsDir)
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for _, d := range ds {
		t.Run(filepath.Base(d.File), func(t *testing.T) {
			checkDashboard(t, d)
		})
		if d.UID == "" {
			continue
		}
		if f, ok := uids[d.UID]; ok {
			t.Errorf("uid %s used by %s and %s", d.UID, f, d.File)
		}
		uids[d.UID] = d.File
	}
	for _, uid := range requiredDashboards {
		if _, ok := uids[uid]; !ok {
			t.Errorf("dashboard %s missing", uid)
		}
	}
}

func checkDashboard(t *testing.T, d Dashboard) {
	if isViewsDashboard(d) { // the activity dashboard reads the daemon's views, not Prometheus
		checkViewsDashboard(t, d)
		return
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both are required", d.UID, d.Title)
	}
	if !strings.HasPrefix(d.Title, dashboardTitlePrefix) {
		t.Errorf("title %q does not start with _config.dashboardNamePrefix %q", d.Title, dashboardTitlePrefix)
	}
	if len(d.UID) > 40 {
		t.Errorf("uid %q longer than Grafana's 40 characters", d.UID)
	}
	if len(d.Tags) == 0 {
		t.Error("no tags")
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want >= 36", d.SchemaVersion)
	}
	var refresh string
	if err := json.Unmarshal(d.Refresh, &refresh); err != nil {
		t.Errorf("refresh %s: want a string", d.Refresh)
	}
	if d.Time == nil || d.Time.From == "" || d.Time.To == "" {
		t.Error("no time range")
	}

	// Variables.
	defined := map[string]Variable{}
	for _, v := range d.Templating.List {
		if _, ok := defined[v.Name]; ok {
			t.Errorf("variable %s defined twice", v.Name)
		}
		defined[v.Name] = v
	}
	if v, ok := defined["datasource"]; !ok || v.Type != "datasource" || v.QueryString() != "prometheus" {
		t.Errorf("no datasource variable of type datasource for prometheus: %+v", v)
	}
	for _, want := range []struct {
		name, query string
		multi       bool
	}{
		{"job", `label_values(claudeops_build_info, job)`, false},
		{"instance", `label_values(claudeops_build_info{job=~"$job"}, instance)`, true},
		{"service", `label_values(claudeops_check_success{job=~"$job", instance=~"$instance"}, service)`, true},
	} {
		v, ok := defined[want.name]
		if !ok || v.Type != "query" || v.Multi != want.multi || v.IncludeAll != want.multi {
			t.Errorf("no query variable %s (multi and includeAll %v): %+v", want.name, want.multi, v)
		} else if v.QueryString() != want.query {
			t.Errorf("variable %s: query %q, want %q", want.name, v.QueryString(), want.query)
		}
	}
	// Variables come in order: one's query may only use the ones before it.
	for i, v := range d.Templating.List {
		for _, name := range VariableNames(v.QueryString()) {
			if j := slices.IndexFunc(d.Templating.List, func(o Variable) bool { return o.Name == name }); j >= i {
				t.Errorf("variable %s uses $%s, defined after it", v.Name, name)
			}
		}
	}
	checkVars := func(where, s string) {
		for _, name := range VariableNames(s) {
			if _, ok := defined[name]; !ok && !slices.Contains(builtinVariables, name) {
				t.Errorf("%s: variable $%s is not defined", where, name)
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			checkDatasource(t, "variable "+v.Name, v.Datasource)
			checkVars("variable "+v.Name, v.QueryString())
		}
	}

	// Panels.
	varMatchers := []*labels.Matcher{
		matcher(t, labels.MatchRegexp, "job", "$job"),
		matcher(t, labels.MatchRegexp, "instance", "$instance"),
	}
	ids := map[int]string{}
	for _, p := range d.AllPanels() {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			t.Errorf("%s: no id", where)
		} else if other, ok := ids[p.ID]; ok {
			t.Errorf("%s: id also used by %q", where, other)
		}
		ids[p.ID] = p.Title
		if p.Type == "" || p.Title == "" {
			t.Errorf("%s: type %q and title are required", where, p.Type)
		}
		if g := p.GridPos; g == nil || g.H == nil || g.W == nil || g.X == nil || g.Y == nil {
			t.Errorf("%s: gridPos needs h, w, x and y", where)
		} else if *g.W <= 0 || *g.H <= 0 || *g.X < 0 || *g.Y < 0 || *g.X+*g.W > 24 {
			t.Errorf("%s: gridPos %d,%d %dx%d off the 24-column grid", where, *g.X, *g.Y, *g.W, *g.H)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.FieldConfig) == 0 {
			t.Errorf("%s: no fieldConfig", where)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", where)
		}
		checkDatasource(t, where, p.Datasource)
		refIDs := map[string]bool{}
		for i, tg := range p.Targets {
			tw := fmt.Sprintf("%s target %d", where, i)
			if tg.RefID == "" {
				t.Errorf("%s: no refId", tw)
			} else if refIDs[tg.RefID] {
				t.Errorf("%s: refId %s used twice", tw, tg.RefID)
			}
			refIDs[tg.RefID] = true
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s: no expr", tw)
			}
			checkDatasource(t, tw, tg.Datasource)
			checkVars(tw, tg.Expr)
			checkSelectors(t, tw, parseDashboardExpr(t, tw, tg.Expr), varMatchers...)
			checkVars(tw, tg.LegendFormat)
		}
	}
	checkOverlap(t, d.AllPanels())

	// Annotations.
	names := map[string]bool{}
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 1 {
			continue
		}
		names[a.Name] = true
		checkDatasource(t, "annotation "+a.Name, a.Datasource)
		if a.Expr == "" {
			t.Errorf("annotation %s: no expr", a.Name)
		}
		checkVars("annotation "+a.Name, a.Expr)
		e := parseDashboardExpr(t, "annotation "+a.Name, a.Expr)
		checkSelectors(t, "annotation "+a.Name, e, varMatchers...)
		checkAnnotationWindow(t, a, e)
	}
	if !names["Session started"] || !names["Session ended"] {
		t.Errorf("annotations %v, want Session started and Session ended", names)
	}
}

// checkAnnotationWindow checks that an annotation looks for a session start
// or end in the window it steps by (_config.annotationStep and
// annotationWindow: keep them equal): the windows of its expression, offsets
// and ranges, are its step. Compared as durations: 60s is 1m.
func checkAnnotationWindow(t *testing.T, a Annotation, e parser.Expr) {
	t.Helper()
	step, err := model.ParseDuration(a.Step)
	if err != nil {
		t.Errorf("annotation %s: step %q: %v", a.Name, a.Step, err)
		return
	}
	var windows []model.Duration
	for _, s := range selectors(e) {
		for _, d := range []time.Duration{s.Range, s.OriginalOffset} {
			if d != 0 {
				windows = append(windows, model.Duration(d))
			}
		}
	}
	if len(windows) == 0 && e != nil {
		t.Errorf("annotation %s: no range or offset in %s", a.Name, a.Expr)
	}
	for _, w := range windows {
		if w != step {
			t.Errorf("annotation %s: window %s, want its step %s: %s", a.Name, w, step, a.Expr)
		}
	}
}

func checkDatasource(t *testing.T, where string, ds *Datasource) {
	t.Helper()
	if ds == nil || ds.Type != "prometheus" || ds.UID != "${datasource}" {
		t.Errorf("%s: datasource %+v, want {prometheus ${datasource}}", where, ds)
	}
}

// checkOverlap fails when two panels cover the same grid cell.
func checkOverlap(t *testing.T, ps []Panel) {
	t.Helper()
	cells := map[[2]int]string{}
	for _, p := range ps {
		g := p.GridPos
		if g == nil || g.H == nil || g.W == nil || g.X == nil || g.Y == nil {
			continue
		}
		for x := *g.X; x < *g.X+*g.W; x++ {
			for y := *g.Y; y < *g.Y+*g.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
					return
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
	}
}

func TestSubstitute(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x{service=~"$service"}[$__rate_interval])`:  `rate(x{service=~".*"}[1m])`,
		`increase(x{service=~"${service}"}[$__range])`:    `increase(x{service=~".*"}[1d])`,
		`sum_over_time(x[$__interval]) + y{a=~"[[svc]]"}`: `sum_over_time(x[1m]) + y{a=~".*"}`,
		`x{a=~"${service:regex}"}`:                        `x{a=~".*"}`,
		`claudeops_check_success{job="claude-ops"} == 0`:  `claudeops_check_success{job="claude-ops"} == 0`,
	} {
		if got := Substitute(in); got != want {
			t.Errorf("Substitute(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExprs(t *testing.T) {
	exprs, err := DashboardExprs(dashboardsDir)
	if err != nil {
		t.Fatal(err)
	}
	perDashboard := map[string]int{}
	for _, e := range exprs {
		perDashboard[e.Dashboard]++
		if s := Substitute(e.Expr); strings.Contains(s, "$") {
			t.Errorf("%s / %s: variables left after Substitute: %s", e.Dashboard, e.Panel, s)
		}
	}
	for _, uid := range requiredDashboards {
		if perDashboard[uid] < 5 {
			t.Errorf("dashboard %s: %d expressions", uid, perDashboard[uid])
		}
	}
	for _, f := range []string{alertsFile, rulesFile} {
		rs, err := RuleExprs(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			t.Errorf("%s: no rules", f)
		}
	}
	lv, err := LabelValuesQueries(dashboardsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range lv {
		var metric string
		ms, err := promql.ParseMetricSelector(q.Match)
		if err != nil {
			t.Errorf("%+v: match: %v", q, err)
		}
		for _, m := range ms {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				metric = m.Value
			}
		}
		if want := map[string]string{"job": "claudeops_build_info", "instance": "claudeops_build_info", "service": "claudeops_check_success"}[q.Label]; want == "" || metric != want {
			t.Errorf("%+v: want job or instance of claudeops_build_info, or service of claudeops_check_success", q)
		}
	}
	if len(lv) != 3*len(requiredDashboards) {
		t.Errorf("%d label_values queries, want job, instance and service on each dashboard", len(lv))
	}
}

// TestExprsParse has Prometheus' parser parse every dashboard and rule
// expression: as the checks read it (allExprs) and as the end-to-end test sends
// it to Prometheus (Substitute).
func TestExprsParse(t *testing.T) {
	exprs := allExprs(t)
	for _, e := range exprs {
		parseExpr(t, e.Dashboard+" / "+e.Panel+" (Substitute)", Substitute(e.Expr.Expr))
	}
	t.Logf("%d expressions parse", len(exprs))
}

func TestRuleFiles(t *testing.T) {
	promtool := tool(t, "promtool")
	run(t, nil, promtool, "check", "rules", alertsFile, rulesFile)
	tests, err := filepath.Glob("tests/*.yaml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests in tests/: %v", err)
	}
	for i := range tests {
		tests[i] = filepath.Base(tests[i])
	}
	cmd := exec.Command(promtool, append([]string{"test", "rules"}, tests...)...)
	cmd.Dir = "tests"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

// TestRuleTestsCoverAlerts checks that the unit tests have, for every alert,
// a case where it fires and one where it does not.
func TestRuleTestsCoverAlerts(t *testing.T) {
	type alertTest struct {
		Alertname string `yaml:"alertname"`
		ExpAlerts []any  `yaml:"exp_alerts"`
	}
	type testFile struct {
		Tests []struct {
			AlertRuleTest []alertTest `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	files, _ := filepath.Glob("tests/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf testFile
		if err := yaml.Unmarshal(b, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	for _, g := range loadRules(t, alertsFile).Groups {
		for _, r := range g.Rules {
			if !fires[r.Alert] {
				t.Errorf("%s: no test case where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: no test case where it does not fire", r.Alert)
			}
		}
	}
}

func TestDeployConfigs(t *testing.T) {
	t.Run("prometheus", func(t *testing.T) {
		promtool := tool(t, "promtool")
		run(t, nil, promtool, "check", "config", "../deploy/prometheus.yml")
		run(t, nil, promtool, "check", "config", "../deploy/existing-stack/prometheus-scrape.yml")
		// The example config loads the mixin's rules (deploy/rules -> ../mixin/out).
		out, err := exec.Command(promtool, "check", "config", "../deploy/prometheus.yml").CombinedOutput()
		if err == nil && !bytes.Contains(out, []byte("2 rule files found")) {
			t.Errorf("deploy/prometheus.yml does not load the two mixin rule files:\n%s", out)
		}
	})
	t.Run("alertmanager", func(t *testing.T) {
		amtool := tool(t, "amtool")
		run(t, nil, amtool, "check-config", "../deploy/alertmanager.yml")
		run(t, nil, amtool, "check-config", "../deploy/existing-stack/alertmanager-receiver.yml")
	})
	t.Run("compose", func(t *testing.T) {
		dc := tool(t, "docker-compose")
		// The values compose requires from .env (e2e/deploy_test.go checks
		// that it refuses to start without them).
		required := []string{"GRAFANA_ADMIN_PASSWORD=x", "DOCKER_GID=0"}
		run(t, required, dc, "-f", "../docker-compose.yaml", "config", "-q")
		abs, err := filepath.Abs("..")
		if err != nil {
			t.Fatal(err)
		}
		run(t, append(required, "CLAUDEOPS_SRC="+abs), dc, "-f", "../deploy/existing-stack/docker-compose.claude-ops.yaml", "config", "-q")
	})
}

// TestGrafanaProvisioning checks that the provisioning files point where
// docker-compose.yaml mounts the dashboards, and that the data source's uid is
// Prometheus-typed.
func TestGrafanaProvisioning(t *testing.T) {
	var ds struct {
		Datasources []struct {
			Name, Type, UID, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, "../grafana/provisioning/datasources/prometheus.yaml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL == "" {
		t.Errorf("datasources: %+v", ds.Datasources)
	}
	var dp struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "../grafana/provisioning/dashboards/claude-ops.yaml", &dp)
	compose, err := os.ReadFile("../docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" ||
		!bytes.Contains(compose, []byte("./grafana/dashboards:"+dp.Providers[0].Options.Path)) {
		t.Errorf("dashboard provider %+v does not read the directory docker-compose.yaml mounts", dp.Providers)
	}
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}
