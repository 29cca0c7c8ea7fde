local d = import 'lib/dashboard.libsonnet';

{
  local c = $._config,
  local sel = c.claudeOpsSelector,
  local svcSel = '%s, service=~"$service"' % sel,
  local t = d.target,

  local okMappings = d.valueMappings([[1, 'OK', 'green'], [0, 'FAILING', 'red']]),
  local humanMappings = d.valueMappings([[0, 'ok', 'green'], [1, 'NEEDS HUMAN', 'red']]),
  local alertSteps = [['green'], ['red', 1]],

  local variables = [
    d.queryVariable('service', 'Service', 'label_values(%s{%s}, service)' % [c.serviceVariableMetric, sel]),
  ],

  local annotations = [
    d.annotation(
      'Session started',
      'sum by (tier) (claudeops_sessions_running{%s} - claudeops_sessions_running{%s} offset %s) > 0' % [sel, sel, c.annotationWindow],
      'Tier {{tier}} session started',
      tagKeys='tier',
      iconColor='blue',
      step=c.annotationStep,
    ),
    d.annotation(
      'Session ended',
      'sum by (tier, trigger, outcome) (changes(claudeops_sessions_total{%s}[%s])) > 0' % [sel, c.annotationWindow],
      'Tier {{tier}} session ended: {{outcome}}',
      textFormat='trigger: {{trigger}}',
      tagKeys='tier,trigger,outcome',
      iconColor='purple',
      step=c.annotationStep,
    ),
  ],

  local dash(key, title, description, panels) = d.dashboard(
    title,
    c.dashboardUIDs[key],
    c,
    panels,
    variables=variables,
    annotations=annotations,
    description=description,
  ),

  grafanaDashboards+:: {
    'claude-ops-overview.json': dash(
      'overview',
      'Claude Ops / Overview',
      'Health of every service Claude Ops watches, its last runs, incidents and spend.',
      [
        d.stat('Services discovered', [t('sum(claudeops_services_discovered{%s})' % sel, instant=true)]),
        d.stat('Failing checks', [t('sum(claudeops:checks_failing:sum{%s}) or vector(0)' % svcSel, instant=true)], steps=alertSteps),
        d.stat('Needs a human', [t('sum(claudeops_needs_human_attention{%s}) or vector(0)' % svcSel, instant=true)], steps=alertSteps),
        d.stat('Open incidents', [t('sum(claudeops_incidents_open{%s})' % sel, instant=true)], steps=[['green'], ['orange', 1]]),
        d.stat('Last Tier 1 run', [t('max(claudeops_tier1_last_run_timestamp_seconds{%s} > 0) * 1000' % sel, instant=true)], unit='dateTimeFromNow', colorMode='none'),
        d.stat('Last Tier 1 success', [t('max(claudeops_tier1_last_success_timestamp_seconds{%s} > 0) * 1000' % sel, instant=true)], unit='dateTimeFromNow', colorMode='none'),
        d.stat('Spend today', [t('sum(claudeops:spend_today_usd:sum{%s})' % sel, instant=true)], unit='currencyUSD', decimals=2),
        d.stat('Daily budget used', [t('sum(claudeops_budget_spent_usd{%s}) / sum(claudeops_budget_limit_usd{%s} > 0)' % [sel, sel], instant=true)], unit='percentunit', steps=[['green'], ['orange', 0.8], ['red', 1]], description='Empty when no daily budget is set.'),
        d.stat('Spend, last 24h', [t('sum(claudeops:cost_usd:increase1d{%s})' % sel, instant=true)], unit='currencyUSD', decimals=2),
        d.stat('Sessions running', [t('sum(claudeops_sessions_running{%s})' % sel, instant=true)]),
        d.stat('Remediation queue', [t('sum(claudeops_remediation_queue_depth{%s})' % sel, instant=true)], steps=[['green'], ['orange', 1]]),
        d.stat('Version', [t('claudeops_build_info{%s}' % sel, '{{version}}', instant=true)], colorMode='none') {
          options+: { textMode: 'name' },
        },
        d.stateTimeline(
          'Checks',
          [t('claudeops_check_success{%s}' % svcSel, '{{service}} / {{check}}')],
          description='Result of every check in the Tier 1 runs.',
          h=10,
          steps=[['red'], ['green', 1]],
          mappings=okMappings,
        ),
        d.table(
          'Services',
          [
            t('max by (service) (claudeops:check_success:ratio{%s})' % svcSel, instant=true, format='table'),
            t('max by (service) (claudeops:checks_failing:sum{%s})' % svcSel, instant=true, format='table'),
            t('max by (service) (claudeops_needs_human_attention{%s})' % svcSel, instant=true, format='table'),
          ],
          description='Share of passing checks, failing checks and whether the service needs a human.',
        ) {
          transformations: [
            { id: 'merge', options: {} },
            {
              id: 'organize',
              options: {
                excludeByName: { Time: true },
                renameByName: { 'Value #A': 'Checks passing', 'Value #B': 'Failing checks', 'Value #C': 'Needs human' },
              },
            },
          ],
          fieldConfig+: {
            overrides: [
              { matcher: { id: 'byName', options: 'Checks passing' }, properties: [{ id: 'unit', value: 'percentunit' }] },
              { matcher: { id: 'byName', options: 'Needs human' }, properties: [{ id: 'mappings', value: humanMappings }] },
            ],
          },
        },
        d.table(
          'Session outcomes in range',
          [t('sum by (tier, trigger, outcome) (round(increase(claudeops_sessions_total{%s}[$__range]))) > 0' % sel, instant=true, format='table')],
          description='Sessions that ended in the selected time range.',
          sortBy=[{ displayName: 'tier', desc: false }],
        ) {
          transformations: [
            { id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'Sessions' } } },
          ],
        },
        d.timeseries(
          'Latest session outcomes',
          [t('sum by (tier, outcome) (round(increase(claudeops_sessions_total{%s}[$__rate_interval])))' % sel, 'Tier {{tier}} {{outcome}}')],
          bars=true,
          stack=true,
        ),
        d.stateTimeline(
          'Needs human attention',
          [t('max by (service) (claudeops_needs_human_attention{%s})' % svcSel, '{{service}}')],
          w=12,
          steps=[['green'], ['red', 1]],
          mappings=humanMappings,
        ),
        d.timeseries(
          'Spend per day by tier',
          [t('sum by (tier) (claudeops:cost_usd:increase1d{%s})' % sel, 'Tier {{tier}}')],
          unit='currencyUSD',
          description='Rolling 24h spend.',
          stack=true,
        ),
      ],
    ),

    'claude-ops-sessions.json': dash(
      'sessions',
      'Claude Ops / Sessions',
      'Claude Code sessions by tier, outcome and trigger; durations, cost and tokens.',
      [
        d.stat('Sessions in range', [t('sum(round(increase(claudeops_sessions_total{%s}[$__range]))) or vector(0)' % sel, instant=true)]),
        d.stat('Errors and timeouts', [t('sum(increase(claudeops_sessions_total{%s, outcome=~"%s"}[$__range])) / sum(increase(claudeops_sessions_total{%s}[$__range]))' % [sel, c.sessionErrorOutcomes, sel], instant=true)], unit='percentunit', steps=[['green'], ['orange', 0.1], ['red', c.sessionErrorsRatio]]),
        d.stat('Cost in range', [t('sum(increase(claudeops_cost_usd_total{%s}[$__range]))' % sel, instant=true)], unit='currencyUSD', decimals=2),
        d.stat('Tokens in range', [t('sum(increase(claudeops_tokens_total{%s}[$__range]))' % sel, instant=true)], unit='short'),
        d.stat('Escalations in range', [t('sum(round(increase(claudeops_escalations_total{%s}[$__range]))) or vector(0)' % sel, instant=true)], steps=[['green'], ['orange', 1]]),
        d.stat('Running now', [t('sum(claudeops_sessions_running{%s})' % sel, instant=true)]),
        d.timeseries(
          'Sessions by tier and outcome',
          [t('sum by (tier, outcome) (claudeops:sessions:rate5m{%s}) * 3600' % sel, 'Tier {{tier}} {{outcome}}')],
          unit='short',
          description='Sessions per hour (5m rate).',
          stack=true,
        ),
        d.timeseries(
          'Sessions by trigger',
          [t('sum by (trigger) (round(increase(claudeops_sessions_total{%s}[$__rate_interval])))' % sel, '{{trigger}}')],
          bars=true,
          stack=true,
        ),
        d.timeseries(
          'Session duration',
          [
            t('max by (tier) (claudeops:session_duration_seconds:p50{%s})' % sel, 'Tier {{tier}} p50'),
            t('max by (tier) (claudeops:session_duration_seconds:p95{%s})' % sel, 'Tier {{tier}} p95'),
            t('sum by (tier) (rate(claudeops_session_duration_seconds_sum{%s}[1h])) / sum by (tier) (rate(claudeops_session_duration_seconds_count{%s}[1h]))' % [sel, sel], 'Tier {{tier}} mean'),
          ],
          unit='s',
          description='Quantiles over the last hour.',
        ),
        d.timeseries(
          'Sessions running',
          [t('sum by (tier) (claudeops_sessions_running{%s})' % sel, 'Tier {{tier}}')],
          stack=true,
          min=0,
        ),
        d.timeseries(
          'Cost per hour by model',
          [t('sum by (tier, model) (claudeops:cost_usd_per_hour:rate1h{%s})' % sel, 'Tier {{tier}} {{model}}')],
          unit='currencyUSD',
          stack=true,
        ),
        d.timeseries(
          'Spend per day by tier',
          [t('sum by (tier) (claudeops:cost_usd:increase1d{%s})' % sel, 'Tier {{tier}}')],
          unit='currencyUSD',
          description='Rolling 24h spend.',
          stack=true,
        ),
        d.timeseries(
          'Tokens per hour by model and kind',
          [t('sum by (model, kind) (claudeops:tokens:increase1h{%s})' % sel, '{{model}} {{kind}}')],
          stack=true,
        ),
        d.table(
          'Cost and tokens by model in range',
          [
            t('sum by (model) (increase(claudeops_cost_usd_total{%s}[$__range]))' % sel, instant=true, format='table'),
            t('sum by (model) (increase(claudeops_tokens_total{%s}[$__range]))' % sel, instant=true, format='table'),
          ],
        ) {
          transformations: [
            { id: 'merge', options: {} },
            { id: 'organize', options: { excludeByName: { Time: true }, renameByName: { 'Value #A': 'Cost (USD)', 'Value #B': 'Tokens' } } },
          ],
        },
        d.table(
          'Sessions by tier, trigger and outcome in range',
          [t('sum by (tier, trigger, outcome) (round(increase(claudeops_sessions_total{%s}[$__range]))) > 0' % sel, instant=true, format='table')],
          w=24,
        ) {
          transformations: [
            { id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'Sessions' } } },
          ],
        },
      ],
    ),

    'claude-ops-remediation.json': dash(
      'remediation',
      'Claude Ops / Remediation',
      'Alerts received, escalations, remediation actions, cooldowns and services that need a human.',
      [
        d.stat('Firing alerts received', [t('sum(round(increase(claudeops_alerts_received_total{%s, status="firing"}[$__range]))) or vector(0)' % sel, instant=true)]),
        d.stat('Actions allowed', [t('sum(round(increase(claudeops_remediation_actions_total{%s, result="allowed"}[$__range]))) or vector(0)' % svcSel, instant=true)]),
        d.stat('Actions refused', [t('sum(round(increase(claudeops_remediation_actions_total{%s, result=~"refused_.*"}[$__range]))) or vector(0)' % svcSel, instant=true)], steps=[['green'], ['orange', 1]]),
        d.stat('Escalated to a human', [t('sum(round(increase(claudeops_escalations_total{%s, to="human"}[$__range]))) or vector(0)' % sel, instant=true)], steps=alertSteps),
        d.stat('Needs a human now', [t('sum(claudeops_needs_human_attention{%s}) or vector(0)' % svcSel, instant=true)], steps=alertSteps),
        d.stat('Queue depth', [t('sum(claudeops_remediation_queue_depth{%s})' % sel, instant=true)], steps=[['green'], ['orange', 1]]),
        d.timeseries(
          'Alerts received',
          [t('sum by (status) (round(increase(claudeops_alerts_received_total{%s}[$__rate_interval])))' % sel, '{{status}}')],
          bars=true,
          stack=true,
        ),
        d.timeseries(
          'Webhook requests by code',
          [t('sum by (code) (rate(claudeops_webhook_requests_total{%s}[$__rate_interval]))' % sel, '{{code}}')],
          unit='reqps',
          stack=true,
        ),
        d.timeseries(
          'Escalations',
          [t('sum by (from, to) (round(increase(claudeops_escalations_total{%s}[$__rate_interval])))' % sel, 'Tier {{from}} → {{to}}')],
          bars=true,
          stack=true,
        ),
        d.timeseries(
          'Actions by result',
          [t('sum by (result) (round(increase(claudeops_remediation_actions_total{%s}[$__rate_interval])))' % svcSel, '{{result}}')],
          bars=true,
          stack=true,
        ),
        d.timeseries(
          'Cooldown use against limit',
          [t('max by (service, action) (claudeops_cooldown_actions{%s}) / on (action) group_left () max by (action) (claudeops_cooldown_limit{%s} > 0)' % [svcSel, sel], '{{service}} {{action}}')],
          unit='percentunit',
          description='Actions in the cooldown window divided by the limit; at 100% further actions are refused.',
          min=0,
        ) {
          fieldConfig+: { defaults+: { max: 1, color: { mode: 'thresholds' }, thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'orange', value: 0.5 }, { color: 'red', value: 1 }] }, custom+: { thresholdsStyle: { mode: 'line' } } } },
        },
        d.table(
          'Cooldowns',
          [
            t('max by (service, action) (claudeops_cooldown_actions{%s})' % svcSel, instant=true, format='table'),
            t('max by (service, action) (claudeops_cooldown_actions{%s}) * 0 + on (action) group_left () max by (action) (claudeops_cooldown_limit{%s})' % [svcSel, sel], instant=true, format='table'),
          ],
        ) {
          transformations: [
            { id: 'merge', options: {} },
            { id: 'organize', options: { excludeByName: { Time: true }, renameByName: { 'Value #A': 'Used', 'Value #B': 'Limit' } } },
          ],
        },
        d.table(
          'Actions in range',
          [t('sum by (service, action, result) (round(increase(claudeops_remediation_actions_total{%s}[$__range]))) > 0' % svcSel, instant=true, format='table')],
        ) {
          transformations: [
            { id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'Actions' } } },
          ],
        },
        d.stateTimeline(
          'Needs human attention',
          [t('max by (service) (claudeops_needs_human_attention{%s})' % svcSel, '{{service}}')],
          w=12,
          steps=[['green'], ['red', 1]],
          mappings=humanMappings,
        ),
        d.statusHistory(
          'Checks',
          [t('min by (service) (claudeops_check_success{%s})' % svcSel, '{{service}}')],
          description='Worst check result of each service.',
          steps=[['red'], ['green', 1]],
          mappings=okMappings,
        ),
        d.timeseries(
          'Remediation queue and open incidents',
          [
            t('sum(claudeops_remediation_queue_depth{%s})' % sel, 'queue depth'),
            t('sum(claudeops_incidents_open{%s})' % sel, 'open incidents'),
          ],
          min=0,
        ),
        d.timeseries(
          'Daily budget',
          [
            t('sum(claudeops_budget_spent_usd{%s})' % sel, 'spent'),
            t('sum(claudeops_budget_limit_usd{%s} > 0)' % sel, 'limit'),
          ],
          unit='currencyUSD',
          min=0,
        ),
      ],
    ),
  },
}
