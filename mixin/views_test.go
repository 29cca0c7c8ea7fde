package mixin

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The activity dashboard (sessions_dashboard.libsonnet) reads the daemon's
// JSON views through the Infinity data source instead of Prometheus: it has
// its own checks here (checkDashboard hands it over through
// isViewsDashboard). e2e/views_test.go runs its queries against a daemon.

const viewsDashboard = "claude-ops-activity"

// isViewsDashboard says whether a dashboard's panels read the Infinity
// data source.
func isViewsDashboard(d Dashboard) bool {
	for _, p := range d.AllPanels() {
		if p.Datasource != nil && p.Datasource.Type == InfinityType {
			return true
		}
	}
	return false
}

// viewColumnTypes are the column types the Infinity data source knows.
var viewColumnTypes = []string{"string", "number", "timestamp", "timestamp_epoch", "timestamp_epoch_s", "boolean"}

// viewsJSON is what checkViewsDashboard reads beyond Dashboard.
type viewsJSON struct {
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Links []struct {
		Title string `json:"title"`
		URL   string `json:"url"`
	} `json:"links"`
	Panels []struct {
		Type    string `json:"type"`
		Title   string `json:"title"`
		Options struct {
			Content string `json:"content"`
		} `json:"options"`
		Targets []struct {
			RefID   string `json:"refId"`
			Type    string `json:"type"`
			Source  string `json:"source"`
			Format  string `json:"format"`
			Parser  string `json:"parser"`
			URL     string `json:"url"`
			Columns []struct {
				Selector, Text, Type string
			} `json:"columns"`
		} `json:"targets"`
	} `json:"panels"`
}

func checkViewsDashboard(t *testing.T, d Dashboard) {
	t.Helper()
	if d.UID == "" || !strings.HasPrefix(d.Title, dashboardTitlePrefix) || len(d.Tags) == 0 || d.SchemaVersion < 36 || d.Time == nil {
		t.Errorf("uid %q, title %q (after the prefix %q), tags %v, schemaVersion %d, time %v: all are required",
			d.UID, d.Title, dashboardTitlePrefix, d.Tags, d.SchemaVersion, d.Time)
	}
	b, err := os.ReadFile(d.File)
	if err != nil {
		t.Fatal(err)
	}
	var v viewsJSON
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, tv := range v.Templating.List {
		vars[tv.Name] = tv.Type
	}
	if vars["claudeops"] != "datasource" || vars["claudeops_url"] != "textbox" || vars["service"] != "textbox" {
		t.Errorf("variables %v: want claudeops (datasource), claudeops_url and service (textbox)", vars)
	}
	defined := func(where, s string) {
		for _, name := range VariableNames(s) {
			if _, ok := vars[name]; !ok && !slices.Contains(builtinVariables, name) && !strings.HasPrefix(name, "__data") {
				t.Errorf("%s: variable $%s is not defined", where, name)
			}
		}
	}
	runNow := false
	for _, l := range v.Links {
		if l.Title == "Run now" && strings.HasPrefix(l.URL, "${claudeops_url}") {
			runNow = true
		}
	}
	if !runNow {
		t.Errorf("no Run-now link to ${claudeops_url} in %+v", v.Links)
	}
	views := map[string]bool{}
	for i, p := range d.AllPanels() {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if g := p.GridPos; g == nil || g.W == nil || g.H == nil || g.X == nil || g.Y == nil || *g.X+*g.W > 24 {
			t.Errorf("%s: gridPos %+v", where, g)
		}
		if p.Type == "text" {
			defined(where, v.Panels[i].Options.Content)
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != InfinityType || p.Datasource.UID != "${claudeops}" {
			t.Errorf("%s: datasource %+v, want {%s ${claudeops}}", where, p.Datasource, InfinityType)
		}
		if len(v.Panels[i].Targets) != 1 {
			t.Errorf("%s: %d targets, want 1", where, len(v.Panels[i].Targets))
			continue
		}
		tg := v.Panels[i].Targets[0]
		if tg.RefID == "" || tg.Type != "json" || tg.Source != "url" || tg.Format != "table" || tg.Parser != "backend" {
			t.Errorf("%s: target %+v: want refId, a json url source, table format, the backend parser (alerting, caching)", where, tg)
		}
		path, _, _ := strings.Cut(tg.URL, "?")
		if !strings.HasPrefix(path, "/api/v1/views/") {
			t.Errorf("%s: url %q is not a view of the daemon", where, tg.URL)
		}
		views[path] = true
		defined(where, tg.URL)
		if len(tg.Columns) == 0 {
			t.Errorf("%s: no columns", where)
		}
		for _, c := range tg.Columns {
			if c.Selector == "" || c.Text == "" || !slices.Contains(viewColumnTypes, c.Type) {
				t.Errorf("%s: column %+v", where, c)
			}
		}
		if len(p.FieldConfig) == 0 {
			t.Errorf("%s: no fieldConfig", where)
		}
	}
	for _, want := range []string{"tldr", "sessions", "events", "cooldowns", "config"} {
		if !views["/api/v1/views/"+want] {
			t.Errorf("no panel reads /api/v1/views/%s", want)
		}
	}
	checkOverlap(t, d.AllPanels())
}

func TestViewsDashboard(t *testing.T) {
	ds, err := LoadDashboards(dashboardsDir)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ds, func(d Dashboard) bool { return d.UID == viewsDashboard })
	if i < 0 {
		t.Fatalf("dashboard %s missing from %s", viewsDashboard, dashboardsDir)
	}
	if !isViewsDashboard(ds[i]) {
		t.Fatalf("%s reads no Infinity data source", viewsDashboard)
	}
	checkViewsDashboard(t, ds[i])
	qs, err := ViewQueries(dashboardsDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 5 {
		t.Errorf("%d view queries, want 5: %+v", len(qs), qs)
	}
	if got := FillURL("/api/v1/views/events?from=${__from}&service=${service}&x=$nope", map[string]string{"__from": "1"}); got != "/api/v1/views/events?from=1&service=&x=" {
		t.Errorf("FillURL = %q", got)
	}
}

// TestViewsDatasource checks the provisioned data source the dashboard's
// variable picks by default.
func TestViewsDatasource(t *testing.T) {
	var ds struct {
		Datasources []struct {
			Name, Type, UID, URL string
			JSONData             map[string]any `yaml:"jsonData"`
			SecureJSONData       map[string]any `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join("..", "grafana", "provisioning", "datasources", "claude-ops-api.yaml"), &ds)
	if len(ds.Datasources) != 1 {
		t.Fatalf("datasources: %+v", ds.Datasources)
	}
	d := ds.Datasources[0]
	if d.Type != InfinityType || d.Name != "Claude Ops API" || d.URL == "" || d.JSONData["auth_method"] != "bearerToken" ||
		!strings.HasPrefix(fmt.Sprint(d.SecureJSONData["bearerToken"]), "$__file{") {
		t.Errorf("data source %+v: want Infinity, named as the dashboard's default, the daemon's URL, the webhook token from its file", d)
	}
	compose, err := os.ReadFile("../docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(compose), InfinityType) {
		t.Errorf("docker-compose.yaml does not install %s (GF_INSTALL_PLUGINS)", InfinityType)
	}
}
