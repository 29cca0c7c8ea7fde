package mixin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// Expr is one PromQL expression found in a dashboard or a rule file.
type Expr struct {
	// Dashboard is the dashboard's uid; for rule files, the rule group's name.
	Dashboard string
	// Panel is the panel title ("annotation: <name>" for annotation queries);
	// for rule files, the alert or record name.
	Panel string
	// Expr is the query as written, Grafana variables included.
	Expr string
}

// LabelValuesQuery is a Grafana `label_values(match, label)` variable query.
// It is not PromQL: ask Prometheus /api/v1/label/<Label>/values?match[]=<Match>.
type LabelValuesQuery struct {
	Dashboard, Variable string
	Match, Label        string
}

// LoadRules reads a rule file with Prometheus' own loader, which validates it
// as Prometheus does when it loads it: unknown fields, rule names, label and
// annotation templates, and the PromQL of every expression.
func LoadRules(file string) (*rulefmt.RuleGroups, error) {
	rgs, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
	if len(errs) > 0 {
		return nil, errors.Join(errs...) // each error names the file
	}
	return rgs, nil
}

// RuleName is the alert or record name of a rule.
func RuleName(r rulefmt.Rule) string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// RuleExprs returns the expression of every rule in a rule file
// (mixin/out/alerts.yaml, mixin/out/rules.yaml).
func RuleExprs(file string) ([]Expr, error) {
	rgs, err := LoadRules(file)
	if err != nil {
		return nil, err
	}
	var out []Expr
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			out = append(out, Expr{Dashboard: g.Name, Panel: RuleName(r), Expr: strings.TrimSpace(r.Expr)})
		}
	}
	return out, nil
}

// Dashboard is the part of a Grafana dashboard the checks read.
type Dashboard struct {
	File          string          `json:"-"`
	UID           string          `json:"uid"`
	Title         string          `json:"title"`
	Tags          []string        `json:"tags"`
	SchemaVersion int             `json:"schemaVersion"`
	Refresh       json.RawMessage `json:"refresh"`
	Time          *struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []Annotation `json:"list"`
	} `json:"annotations"`
}

// Panel is a dashboard panel; rows may hold panels of their own.
type Panel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	GridPos     *GridPos        `json:"gridPos"`
	Datasource  *Datasource     `json:"datasource"`
	Targets     []Target        `json:"targets"`
	FieldConfig json.RawMessage `json:"fieldConfig"`
	Panels      []Panel         `json:"panels"`
}

// GridPos is a panel's place on the 24-column grid.
type GridPos struct {
	H *int `json:"h"`
	W *int `json:"w"`
	X *int `json:"x"`
	Y *int `json:"y"`
}

// Datasource references a Grafana data source.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Target is a panel query.
type Target struct {
	Expr         string      `json:"expr"`
	RefID        string      `json:"refId"`
	LegendFormat string      `json:"legendFormat"`
	Datasource   *Datasource `json:"datasource"`
}

// Variable is a template variable. Query is a string or, for Prometheus query
// variables, an object with a "query" field.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *Datasource     `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
}

// QueryString is the variable's query text.
func (v Variable) QueryString() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &o) == nil && o.Query != "" {
		return o.Query
	}
	return v.Definition
}

// Annotation is an annotation query; Grafana's built-in one has no expr.
type Annotation struct {
	Name       string      `json:"name"`
	Expr       string      `json:"expr"`
	Step       string      `json:"step"`
	Datasource *Datasource `json:"datasource"`
	BuiltIn    int         `json:"builtIn"`
}

// AllPanels returns the panels with the panels of rows flattened in.
func (d Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// LoadDashboards reads every *.json dashboard in dir, sorted by file name.
func LoadDashboards(dir string) ([]Dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", dir)
	}
	sort.Strings(files)
	var out []Dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d Dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		d.File = f
		out = append(out, d)
	}
	return out, nil
}

// DashboardExprs returns every PromQL expression of the dashboards in dir
// (grafana/dashboards): panel targets and annotation queries. Grafana variables
// are left in; pass the expressions through Substitute before running them.
func DashboardExprs(dir string) ([]Expr, error) {
	ds, err := LoadDashboards(dir)
	if err != nil {
		return nil, err
	}
	var out []Expr
	for _, d := range ds {
		for _, p := range d.AllPanels() {
			for _, t := range p.Targets {
				if t.Expr != "" {
					out = append(out, Expr{Dashboard: d.UID, Panel: p.Title, Expr: t.Expr})
				}
			}
		}
		for _, a := range d.Annotations.List {
			if a.Expr != "" {
				out = append(out, Expr{Dashboard: d.UID, Panel: "annotation: " + a.Name, Expr: a.Expr})
			}
		}
	}
	return out, nil
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// LabelValuesQueries returns the `label_values(match, label)` variable queries
// of the dashboards in dir.
func LabelValuesQueries(dir string) ([]LabelValuesQuery, error) {
	ds, err := LoadDashboards(dir)
	if err != nil {
		return nil, err
	}
	var out []LabelValuesQuery
	for _, d := range ds {
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			m := labelValuesRE.FindStringSubmatch(v.QueryString())
			if m == nil {
				return nil, fmt.Errorf("%s: variable %s: not a label_values(match, label) query: %q", d.UID, v.Name, v.QueryString())
			}
			out = append(out, LabelValuesQuery{Dashboard: d.UID, Variable: v.Name, Match: m[1], Label: m[2]})
		}
	}
	return out, nil
}

// Builtins are the values Substitute gives Grafana's built-in variables.
var Builtins = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__interval_ms":   "60000",
	"__range":         "1d",
	"__range_s":       "86400",
	"__range_ms":      "86400000",
}

// VariableRE matches a Grafana variable reference: $var, ${var}, ${var:format}
// and [[var]]. Group 1, 2 or 3 is the name.
var VariableRE = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z_][a-zA-Z0-9_]*)(?::[^\]]*)?\]\]`)

// Substitute turns a dashboard expression into plain PromQL: built-in
// variables get the values in Builtins ($__rate_interval and $__interval → 1m,
// $__range → 1d), every other variable ($service, ${service}, $datasource, …)
// becomes `.*`, which fits the `label=~"$var"` matchers the dashboards use.
func Substitute(expr string) string {
	return VariableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sm := VariableRE.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		if v, ok := Builtins[name]; ok {
			return v
		}
		return ".*"
	})
}

// VariableNames returns the names of the variables expr references.
func VariableNames(expr string) []string {
	var out []string
	for _, sm := range VariableRE.FindAllStringSubmatch(expr, -1) {
		out = append(out, sm[1]+sm[2]+sm[3])
	}
	return out
}
