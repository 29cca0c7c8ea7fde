// Package mixin holds the Claude Ops monitoring mixin: jsonnet sources for the
// Prometheus alerts, recording rules and Grafana dashboards, the generated files
// (mixin/out/*.yaml, grafana/dashboards/*.json; build them with
// `mixin/build.sh build`), their promtool unit tests (mixin/tests) and its
// runbook (runbook.md).
//
// The Go code reads the generated files so that tests can check them: its own
// structural tests, and the end-to-end test, which runs every expression
// against a real Prometheus (DashboardExprs, RuleExprs, Substitute,
// LabelValuesQueries). Rule files are read with Prometheus' own loader
// (model/rulefmt), which validates them as Prometheus does; the tests walk the
// syntax trees Prometheus' PromQL parser makes of the expressions.
package mixin
