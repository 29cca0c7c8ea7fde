{
  local c = $._config,
  local sel = c.claudeOpsSelector,

  // Records are named level:metric:operations (Prometheus' convention):
  // level is the labels the result keeps (_config.aggregationLabels, then the
  // record's own), joined with '_'; metric is the metric's name, without
  // _total after rate(); operations are the operations applied, newest first.
  // The dashboards name records with $._recordName too.
  local labelList(labels) = [std.stripChars(l, ' ') for l in std.split(labels, ',') if std.stripChars(l, ' ') != ''],
  _recordName(labels, metric, operations):: '%s:%s:%s' % [std.join('_', labelList(c.aggregationLabels) + labels), metric, operations],
  local by(labels) = std.join(', ', labelList(c.aggregationLabels) + labels),
  local record(labels, metric, operations, expr, extraLabels={}) = {
    record: $._recordName(labels, metric, operations),
    expr: expr,
    [if extraLabels != {} then 'labels']: extraLabels,
  },

  // histogram_quantile over the last hour, one series per quantile (label
  // quantile, as in the kubernetes mixin's cluster_quantile:… records).
  local quantiles(labels, metric, qs, window) = [
    record(
      labels + ['quantile'],
      metric,
      'histogram_quantile',
      'histogram_quantile(%s, sum by (%s, le) (rate(%s_bucket{%s}[%s])))' % [q, by(labels), metric, sel, window],
      { quantile: q },
    )
    for q in qs
  ],

  prometheusRules+:: {
    groups+: [
      {
        name: 'claude-ops.rules',
        rules: [
                 // Share of a service's checks that pass (1 = all healthy).
                 record(['service'], 'claudeops_check_success', 'avg', 'avg by (%s) (claudeops_check_success{%s})' % [by(['service']), sel]),
                 // Number of failing checks per service (0 when all pass).
                 record(['service'], 'claudeops_checks_failing', 'sum', 'sum by (%s) (1 - claudeops_check_success{%s})' % [by(['service']), sel]),
                 // Sessions per second.
                 record(['tier', 'outcome'], 'claudeops_sessions', 'rate5m', 'sum by (%s) (rate(claudeops_sessions_total{%s}[5m]))' % [by(['tier', 'outcome']), sel]),
                 // Sessions in the last hour.
                 record(['tier', 'trigger', 'outcome'], 'claudeops_sessions_total', 'increase1h', 'sum by (%s) (increase(claudeops_sessions_total{%s}[1h]))' % [by(['tier', 'trigger', 'outcome']), sel]),
                 // Spend over the last 24 hours.
                 record(['tier'], 'claudeops_cost_usd_total', 'increase1d', 'sum by (%s) (increase(claudeops_cost_usd_total{%s}[1d]))' % [by(['tier']), sel]),
                 // Spend in USD per second (× 3600 for per hour).
                 record(['tier', 'model'], 'claudeops_cost_usd', 'rate1h', 'sum by (%s) (rate(claudeops_cost_usd_total{%s}[1h]))' % [by(['tier', 'model']), sel]),
                 // Spend since midnight: the daemon's daily budget counter.
                 record([], 'claudeops_budget_spent_usd', 'sum', 'sum by (%s) (claudeops_budget_spent_usd{%s})' % [by([]), sel]),
                 // Tokens in the last hour.
                 record(['tier', 'model', 'kind'], 'claudeops_tokens_total', 'increase1h', 'sum by (%s) (increase(claudeops_tokens_total{%s}[1h]))' % [by(['tier', 'model', 'kind']), sel]),
               ]
               + quantiles(['tier'], 'claudeops_session_duration_seconds', ['0.5', '0.95'], '1h')
               + quantiles(['action'], 'claudeops_action_duration_seconds', ['0.5', '0.9'], '1h'),
      },
    ],
  },
}
