package mixin

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// promql is Prometheus' PromQL parser with its default options, the ones
// Prometheus and promtool parse rules with.
var promql = parser.NewParser(parser.Options{})

// loadRules reads a rule file with Prometheus' loader: an invalid file fails
// the test.
func loadRules(t *testing.T, file string) *rulefmt.RuleGroups {
	t.Helper()
	rgs, err := LoadRules(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(rgs.Groups) == 0 {
		t.Fatalf("%s: no rule groups", file)
	}
	return rgs
}

// parseExpr parses a rule expression; one that does not parse fails the test
// and gives nil.
func parseExpr(t *testing.T, where, expr string) parser.Expr {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %v: %s", where, err, expr)
		return nil
	}
	return e
}

// parseDashboardExpr parses a dashboard expression after grafanaPromQL; one
// that does not parse fails the test and gives nil.
func parseDashboardExpr(t *testing.T, where, expr string) parser.Expr {
	t.Helper()
	return parseExpr(t, where, grafanaPromQL(expr))
}

// grafanaPromQL turns a dashboard expression into PromQL for the checks to
// parse: Grafana's built-in variables get the plausible values of Builtins
// ($__rate_interval → 1m, $__range → 1d). The dashboard's own variables
// ($job, ${instance}) stay as written: the dashboards use them only inside the
// quoted values of regexp matchers (job=~"$job"), where they parse as they are
// (a valid regexp) and where the checks want to see them. One anywhere else
// makes the expression fail to parse. (Substitute, for running the
// expressions, makes them .* instead.)
func grafanaPromQL(expr string) string {
	return VariableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sm := VariableRE.FindStringSubmatch(m)
		if v, ok := Builtins[sm[1]+sm[2]+sm[3]]; ok {
			return v
		}
		return m
	})
}

// selector is a series selector of an expression.
type selector struct {
	*parser.VectorSelector
	// Range is the range of a range selector (x[5m]), 0 for an instant one.
	Range time.Duration
	// Func is the function the selector is an argument of (rate for
	// rate(x[5m])), "" when it is not one.
	Func string
}

// Metric is the selector's metric name, from its name or its __name__="…"
// matcher; "" when it has neither.
func (s selector) Metric() string {
	if s.Name != "" {
		return s.Name
	}
	for _, m := range s.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// HasMatcher tells whether the selector has the matcher.
func (s selector) HasMatcher(want *labels.Matcher) bool {
	return slices.ContainsFunc(s.LabelMatchers, func(m *labels.Matcher) bool {
		return m.Type == want.Type && m.Name == want.Name && m.Value == want.Value
	})
}

// selectors returns every series selector of e, walking its syntax tree.
func selectors(e parser.Expr) []selector {
	var out []selector
	if e == nil {
		return nil
	}
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		s := selector{VectorSelector: vs}
		// path holds n's ancestors, its parent last.
		parents := slices.Clone(path)
		if len(parents) > 0 {
			if ms, ok := parents[len(parents)-1].(*parser.MatrixSelector); ok {
				s.Range = ms.Range
				parents = parents[:len(parents)-1]
			}
		}
		if len(parents) > 0 {
			if c, ok := parents[len(parents)-1].(*parser.Call); ok {
				s.Func = c.Func.Name
			}
		}
		out = append(out, s)
		return nil
	})
	return out
}

// aggregations returns the aggregations of e that drop labels (sum by (…)
// (…), not topk).
func aggregations(e parser.Expr) []*parser.AggregateExpr {
	var out []*parser.AggregateExpr
	if e == nil {
		return nil
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if a, ok := n.(*parser.AggregateExpr); ok {
			switch a.Op {
			case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
				// They keep the labels of the series they select.
			default:
				out = append(out, a)
			}
		}
		return nil
	})
	return out
}

// matcher is a label matcher; the test fails on a bad one.
func matcher(t *testing.T, typ labels.MatchType, name, value string) *labels.Matcher {
	t.Helper()
	m, err := labels.NewMatcher(typ, name, value)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkSelectors fails unless e selects series and every selector of it has
// each of the matchers.
func checkSelectors(t *testing.T, where string, e parser.Expr, matchers ...*labels.Matcher) {
	t.Helper()
	if e == nil {
		return // did not parse: reported already
	}
	sels := selectors(e)
	if len(sels) == 0 {
		t.Errorf("%s: no selector: %s", where, e)
	}
	for _, s := range sels {
		for _, want := range matchers {
			if !s.HasMatcher(want) {
				t.Errorf("%s: selector %s lacks %s", where, s.VectorSelector, want)
			}
		}
	}
}

func TestGrafanaPromQL(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x{job=~"$job"}[$__rate_interval])`:         `rate(x{job=~"$job"}[1m])`,
		`increase(x{instance=~"${instance}"}[$__range])`: `increase(x{instance=~"${instance}"}[1d])`,
		`x{job="claude-ops"} == 0`:                       `x{job="claude-ops"} == 0`,
	} {
		if got := grafanaPromQL(in); got != want {
			t.Errorf("grafanaPromQL(%q) = %q, want %q", in, got, want)
		}
	}
	// A variable outside a matcher's value does not parse.
	if _, err := promql.ParseExpr(grafanaPromQL(`topk($n, x{job=~"$job"})`)); err == nil {
		t.Error("topk($n, …) parses")
	}
}

func TestSelectors(t *testing.T) {
	e, err := promql.ParseExpr(`max_over_time(a{job="x"}[5m]) > on (job) b + rate(c_total[1m]) - abs({__name__="d"})`)
	if err != nil {
		t.Fatal(err)
	}
	type sel struct {
		metric, fn string
		rng        time.Duration
	}
	var got []sel
	for _, s := range selectors(e) {
		got = append(got, sel{s.Metric(), s.Func, s.Range})
	}
	want := []sel{{"a", "max_over_time", 5 * time.Minute}, {"b", "", 0}, {"c_total", "rate", time.Minute}, {"d", "abs", 0}}
	if !slices.Equal(got, want) {
		t.Errorf("selectors = %v, want %v", got, want)
	}
}

// parsedExpr is an expression of a dashboard or a rule file and its syntax
// tree; nil when it does not parse.
type parsedExpr struct {
	Expr
	parsed parser.Expr
}

// allExprs returns every dashboard and rule expression, parsed; one that does
// not parse fails the test.
func allExprs(t *testing.T) []parsedExpr {
	t.Helper()
	exprs, err := DashboardExprs(dashboardsDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []parsedExpr
	for _, e := range exprs {
		out = append(out, parsedExpr{e, parseDashboardExpr(t, e.Dashboard+" / "+e.Panel, e.Expr)})
	}
	for _, f := range []string{alertsFile, rulesFile} {
		rs, err := RuleExprs(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range rs {
			out = append(out, parsedExpr{e, parseExpr(t, e.Dashboard+" / "+e.Panel, e.Expr)})
		}
	}
	return out
}
