local d = import 'lib/dashboard.libsonnet';

{
  local c = $._config,
  // Every series of the dashboards is selected by the job and instance
  // variables; the service variable narrows the per-service ones.
  local sel = 'job=~"$job", instance=~"$instance"',
  local svcSel = '%s, service=~"$service"' % sel,
  local t = d.target,

  // Recording rules (rules.libsonnet).
  local r = $._recordName,
  local checkSuccessAvg = r(['service'], 'claudeops_check_success', 'avg'),
  local checksFailingSum = r(['service'], 'claudeops_checks_failing', 'sum'),
  local sessionsRate5m = r(['tier', 'outcome'], 'claudeops_sessions', 'rate5m'),
  local costIncrease1d = r(['tier'], 'claudeops_cost_usd_total', 'increase1d'),
  local costRate1h = r(['tier', 'model'], 'claudeops_cost_usd', 'rate1h'),
  local budgetSpentSum = r([], 'claudeops_budget_spent_usd', 'sum'),
  local tokensIncrease1h = r(['tier', 'model', 'kind'], 'claudeops_tokens_total', 'increase1h'),
  local sessionDurationQuantile = r(['tier', 'quantile'], 'claudeops_session_duration_seconds', 'histogram_quantile'),
  local actionDurationQuantile = r(['action', 'quantile'], 'claudeops_action_duration_seconds', 'histogram_quantile'),

  local okMappings = d.valueMappings([[1, 'OK', 'green'], [0, 'FAILING', 'red']]),
  local humanMappings = d.valueMappings([[0, 'ok', 'green'], [1, 'NEEDS HUMAN', 'red']]),
  local sandboxMappings = d.valueMappings([[1, 'ready', 'green'], [0, 'UNAVAILABLE', 'red']]),
  local alertSteps = [['green'], ['red', 1]],
  local warnSteps = [['green'], ['orange', 1]],

  local variables = [
    d.queryVariable('job', 'Job', 'label_values(%s, job)' % c.instanceVariableMetric, multi=false, includeAll=false),
    d.queryVariable('instance', 'Instance', 'label_values(%s{job=~"$job"}, instance)' % c.instanceVariableMetric),
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
      c.dashboardNamePrefix + 'Overview',
      'Health of every service Claude Ops watches, its last runs, incidents and spend.',
      [
        d.stat('Services discovered', [t('sum(claudeops_services_discovered{%s})' % sel, instant=true)]),
        d.stat('Failing checks', [t('sum(%s{%s}) or vector(0)' % [checksFailingSum, svcSel], instant=true)], steps=alertSteps),
        d.stat('Needs a human', [t('sum(claudeops_needs_human_attention{%s}) or vector(0)' % svcSel, instant=true)], steps=alertSteps),
        d.stat('Open incidents', [t('sum(claudeops_incidents_open{%s})' % sel, instant=true)], steps=[['green'], ['orange', 1]]),
        d.stat('Last Tier 1 run', [t('max(claudeops_tier1_last_run_timestamp_seconds{%s} > 0) * 1000' % sel, instant=true)], unit='dateTimeFromNow', colorMode='none'),
        d.stat('Last Tier 1 success', [t('max(claudeops_tier1_last_success_timestamp_seconds{%s} > 0) * 1000' % sel, instant=true)], unit='dateTimeFromNow', colorMode='none'),
        d.stat('Spend today', [t('sum(%s{%s})' % [budgetSpentSum, sel], instant=true)], unit='currencyUSD', decimals=2),
        d.stat('Daily budget used', [t('sum(claudeops_budget_spent_usd{%s}) / sum(claudeops_budget_limit_usd{%s} > 0)' % [sel, sel], instant=true)], unit='percentunit', steps=[['green'], ['orange', 0.8], ['red', 1]], description='Empty when no daily budget is set.'),
        d.stat('Spend, last 24h', [t('sum(%s{%s})' % [costIncrease1d, sel], instant=true)], unit='currencyUSD', decimals=2),
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
            t('max by (service) (%s{%s})' % [checkSuccessAvg, svcSel], instant=true, format='table'),
            t('max by (service) (%s{%s})' % [checksFailingSum, svcSel], instant=true, format='table'),
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
          [t('sum by (tier) (%s{%s})' % [costIncrease1d, sel], 'Tier {{tier}}')],
          unit='currencyUSD',
          description='Rolling 24h spend.',
          stack=true,
        ),
      ],
    ),

    'claude-ops-sessions.json': dash(
      'sessions',
      c.dashboardNamePrefix + 'Sessions',
      'Claude Code sessions by tier, outcome and trigger; durations, cost and tokens.',
      [
        d.stat('Sessions in range', [t('sum(round(increase(claudeops_sessions_total{%s}[$__range]))) or vector(0)' % sel, instant=true)], w=3),
        d.stat('Errors and timeouts', [t('sum(increase(claudeops_sessions_total{%s, outcome=~"%s"}[$__range])) / sum(increase(claudeops_sessions_total{%s}[$__range]))' % [sel, c.sessionErrorOutcomes, sel], instant=true)], unit='percentunit', steps=[['green'], ['orange', 0.1], ['red', c.sessionErrorsRatio]], w=3),
        d.stat('Cost in range', [t('sum(increase(claudeops_cost_usd_total{%s}[$__range]))' % sel, instant=true)], unit='currencyUSD', decimals=2, w=3),
        d.stat('Tokens in range', [t('sum(increase(claudeops_tokens_total{%s}[$__range]))' % sel, instant=true)], unit='short', w=3),
        d.stat('Escalations in range', [t('sum(round(increase(claudeops_escalations_total{%s}[$__range]))) or vector(0)' % sel, instant=true)], steps=warnSteps, w=3),
        d.stat('Running now', [t('sum(claudeops_sessions_running{%s})' % sel, instant=true)], w=3),
        d.stat(
          'Sandbox',
          [t('min(claudeops_sandbox_ready{%s})' % sel, instant=true)],
          description='UNAVAILABLE: sessions cannot be sandboxed, so none runs (/-/ready says why).',
          steps=[['red'], ['green', 1]],
          mappings=sandboxMappings,
          w=3,
        ),
        d.stat(
          'API proxy refusals in range',
          [t('sum(round(increase(claudeops_proxy_refusals_total{%s}[$__range]))) or vector(0)' % sel, instant=true)],
          description='Requests of sessions that the Messages API proxy refused without going upstream (auth, budget, runaway).',
          steps=warnSteps,
          w=3,
        ),
        d.timeseries(
          'Sessions by tier and outcome',
          [t('sum by (tier, outcome) (%s{%s}) * 3600' % [sessionsRate5m, sel], 'Tier {{tier}} {{outcome}}')],
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
            t('max by (tier) (%s{%s, quantile="0.5"})' % [sessionDurationQuantile, sel], 'Tier {{tier}} p50'),
            t('max by (tier) (%s{%s, quantile="0.95"})' % [sessionDurationQuantile, sel], 'Tier {{tier}} p95'),
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
          [t('sum by (tier, model) (%s{%s}) * 3600' % [costRate1h, sel], 'Tier {{tier}} {{model}}')],
          unit='currencyUSD',
          stack=true,
        ),
        d.timeseries(
          'Spend per day by tier',
          [t('sum by (tier) (%s{%s})' % [costIncrease1d, sel], 'Tier {{tier}}')],
          unit='currencyUSD',
          description='Rolling 24h spend.',
          stack=true,
        ),
        d.timeseries(
          'Tokens per hour by model and kind',
          [t('sum by (model, kind) (%s{%s})' % [tokensIncrease1h, sel], '{{model}} {{kind}}')],
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
        d.timeseries(
          'API proxy requests by code',
          [t('sum by (code) (rate(claudeops_proxy_requests_total{%s}[$__rate_interval]))' % sel, '{{code}}')],
          unit='reqps',
          description='Messages API requests of sessions, by the HTTP status the proxy answered (402: budget spent, 429/5xx: upstream trouble).',
          stack=true,
        ),
        d.timeseries(
          'API proxy refusals by reason',
          [t('sum by (reason) (round(increase(claudeops_proxy_refusals_total{%s}[$__rate_interval])))' % sel, '{{reason}}')],
          description='auth: no or a revoked session token; budget: the session cap or daily budget is spent; runaway: more than --session.max-requests.',
          bars=true,
          stack=true,
        ),
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
      c.dashboardNamePrefix + 'Remediation',
      'Alerts received, escalations, remediation actions, cooldowns and services that need a human.',
      [
        d.stat('Firing alerts received', [t('sum(round(increase(claudeops_alerts_received_total{%s, status="firing"}[$__range]))) or vector(0)' % sel, instant=true)], w=3),
        d.stat('Actions allowed', [t('sum(round(increase(claudeops_remediation_actions_total{%s, result="allowed"}[$__range]))) or vector(0)' % svcSel, instant=true)], description='Changes (restart, redeploy, playbook) the action chain allowed.', w=3),
        d.stat('Actions refused', [t('sum(round(increase(claudeops_remediation_actions_total{%s, result=~"refused_.*"}[$__range]))) or vector(0)' % svcSel, instant=true)], description='Changes the action chain refused, at any stage.', steps=warnSteps, w=3),
        d.stat(
          'Actions failed or unverified',
          [t('sum(round(increase(claudeops_actions_total{%s, result=~"%s"}[$__range]))) or vector(0)' % [sel, c.actionsFailingResults], instant=true)],
          description='Typed actions the daemon ran that failed, or whose effect the engine did not confirm.',
          steps=alertSteps,
          w=3,
        ),
        d.stat('Escalated to a human', [t('sum(round(increase(claudeops_escalations_total{%s, to="human"}[$__range]))) or vector(0)' % sel, instant=true)], steps=alertSteps, w=3),
        d.stat('Needs a human now', [t('sum(claudeops_needs_human_attention{%s}) or vector(0)' % svcSel, instant=true)], steps=alertSteps, w=3),
        d.stat('Queue depth', [t('sum(claudeops_remediation_queue_depth{%s})' % sel, instant=true)], steps=warnSteps, w=3),
        d.stat(
          'Gate refusals in range',
          [t('sum(round(increase(claudeops_gate_refusals_total{%s}[$__range]))) or vector(0)' % sel, instant=true)],
          description='Tool calls of sessions that the action gate refused (a mutating Bash command, Edit, Write, an untyped change).',
          steps=warnSteps,
          w=3,
        ),
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
          'Change decisions',
          [t('sum by (result) (round(increase(claudeops_remediation_actions_total{%s}[$__rate_interval])))' % svcSel, '{{result}}')],
          description='What the action chain decided on changes (restart, redeploy, playbook): allowed, dry_run or refused_<stage>.',
          bars=true,
          stack=true,
        ),
        d.timeseries(
          'Typed actions by result and tier',
          [t('sum by (result, tier) (round(increase(claudeops_actions_total{%s}[$__rate_interval])))' % sel, 'Tier {{tier}} {{result}}')],
          description='Every typed action call (changes and probes): done, proposed (dry run), refused, failed or unverified.',
          bars=true,
          stack=true,
        ),
        d.timeseries(
          'Action refusals by stage',
          [t('sum by (stage) (round(increase(claudeops_action_refusals_total{%s}[$__rate_interval])))' % sel, '{{stage}}')],
          description='The chain stage that refused each refused call: tier, target, scope, cooldown, blast_radius, budget.',
          bars=true,
          stack=true,
        ),
        d.timeseries(
          'Action duration p90',
          [t('max by (action) (%s{%s, quantile="0.9"})' % [actionDurationQuantile, sel], '{{action}}')],
          unit='s',
          description='90th percentile over the last hour of the time from a call reaching the daemon to its answer (decision, execution and verification included).',
        ),
        d.timeseries(
          'Gate refusals by tool',
          [t('sum by (tool, result) (round(increase(claudeops_gate_refusals_total{%s}[$__rate_interval])))' % sel, '{{tool}} {{result}}')],
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
