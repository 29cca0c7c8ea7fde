{
  prometheusRules+:: {
    groups+: [
      {
        name: 'claude-ops.rules',
        rules: [
          {
            // Share of a service's checks that pass (1 = all healthy).
            record: 'claudeops:check_success:ratio',
            expr: 'avg by (%(aggregationLabels)s, service) (claudeops_check_success{%(claudeOpsSelector)s})' % $._config,
          },
          {
            // Number of failing checks per service.
            record: 'claudeops:checks_failing:sum',
            expr: 'sum by (%(aggregationLabels)s, service) (1 - claudeops_check_success{%(claudeOpsSelector)s})' % $._config,
          },
          {
            record: 'claudeops:sessions:rate5m',
            expr: 'sum by (%(aggregationLabels)s, tier, outcome) (rate(claudeops_sessions_total{%(claudeOpsSelector)s}[5m]))' % $._config,
          },
          {
            // Sessions per hour by tier, trigger and outcome.
            record: 'claudeops:sessions:increase1h',
            expr: 'sum by (%(aggregationLabels)s, tier, trigger, outcome) (increase(claudeops_sessions_total{%(claudeOpsSelector)s}[1h]))' % $._config,
          },
          {
            // Spend over the last 24 hours by tier.
            record: 'claudeops:cost_usd:increase1d',
            expr: 'sum by (%(aggregationLabels)s, tier) (increase(claudeops_cost_usd_total{%(claudeOpsSelector)s}[1d]))' % $._config,
          },
          {
            // Spend rate in USD per hour by tier and model.
            record: 'claudeops:cost_usd_per_hour:rate1h',
            expr: 'sum by (%(aggregationLabels)s, tier, model) (rate(claudeops_cost_usd_total{%(claudeOpsSelector)s}[1h])) * 3600' % $._config,
          },
          {
            // Spend since midnight: the daemon's daily budget counter.
            record: 'claudeops:spend_today_usd:sum',
            expr: 'sum by (%(aggregationLabels)s) (claudeops_budget_spent_usd{%(claudeOpsSelector)s})' % $._config,
          },
          {
            record: 'claudeops:tokens:increase1h',
            expr: 'sum by (%(aggregationLabels)s, tier, model, kind) (increase(claudeops_tokens_total{%(claudeOpsSelector)s}[1h]))' % $._config,
          },
        ] + [
          {
            record: 'claudeops:session_duration_seconds:p%d' % q,
            expr: 'histogram_quantile(0.%02d, sum by (%s, tier, le) (rate(claudeops_session_duration_seconds_bucket{%s}[1h])))' % [q, $._config.aggregationLabels, $._config.claudeOpsSelector],
          }
          for q in [50, 95]
        ],
      },
    ],
  },
}
