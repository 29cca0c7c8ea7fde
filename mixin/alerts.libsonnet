{
  local runbook(name) = '%s#%s' % [$._config.runbookURLBase, std.asciiLower(name)],

  // A gauge over the alert window: a failed scrape or a restart of the
  // daemon neither resolves the alert nor restarts its for:.
  local gauge(metric) = 'max_over_time(%s{%s}[%s])' % [metric, $._config.claudeOpsSelector, $._config.gaugeAlertWindow],

  // A state of a state set held over the whole alert window, the same way.
  local inState(metric, state) = 'min_over_time(%s{status="%s",%s}[%s]) == 1' % [metric, state, $._config.claudeOpsSelector, $._config.gaugeAlertWindow],

  // Instances that could not run sessions within window: their session
  // errors and a stale Tier 1 are ClaudeOpsSandboxUnavailable's problem, not
  // alerts of their own.
  local unlessSandboxUnavailable(window) = 'unless on (%s) (min_over_time(claudeops_sandbox_ready{%s}[%s]) == 0)' % [$._config.instanceLabels, $._config.claudeOpsSelector, window],

  // alert builds one rule; self alerts (about Claude Ops itself) carry
  // _config.selfAlertLabels.
  local alert(name, expr, forDuration, severity, summary, description, selfAlert=true) = {
    alert: name,
    expr: expr,
    'for': forDuration,
    labels: { severity: severity } + (if selfAlert then $._config.selfAlertLabels else {}),
    annotations: {
      summary: summary,
      description: description,
      runbook_url: runbook(name),
    },
  },

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'claude-ops.alerts',
        rules: [
          alert(
            'ClaudeOpsCheckFailing',
            // Failing only: a degraded or unknown check pages nobody and
            // starts no paid Tier 2 session.
            inState('claudeops_check_status', 'failing'),
            $._config.checkFailingFor,
            $._config.checkFailingSeverity,
            'Check {{ $labels.check }} of {{ $labels.service }} is failing.',
            'The {{ $labels.type }} check {{ $labels.check }} of service {{ $labels.service }} has failed for more than %(checkFailingFor)s.' % $._config,
            selfAlert=false,
          ),
          alert(
            'ClaudeOpsNeedsHumanAttention',
            // The daemon pushes this alert itself, with the reason; the rule
            // is the fallback for when it could not (no --alertmanager.url,
            // Alertmanager unreachable): one page per problem, not two.
            |||
              %s > 0
              unless on (%s, service)
              %s > 0
            ||| % [gauge('claudeops_needs_human_attention'), $._config.instanceLabels, gauge('claudeops_needs_human_alert_pushed')],
            $._config.needsHumanFor,
            $._config.needsHumanSeverity,
            'Service {{ $labels.service }} needs a human.',
            'Claude Ops gave up on service {{ $labels.service }} and could not push its own alert, which says why. Read the latest session of its incident.',
          ),
          alert(
            'ClaudeOpsCooldownExhausted',
            |||
              %s
                >= on (%s, action) group_left ()
              (%s > 0)
            ||| % [gauge('claudeops_cooldown_actions'), $._config.instanceLabels, gauge('claudeops_cooldown_limit')],
            $._config.cooldownExhaustedFor,
            $._config.cooldownExhaustedSeverity,
            'Cooldown for {{ $labels.action }} of {{ $labels.service }} is used up.',
            'Claude Ops has taken {{ $value }} {{ $labels.action }} actions on service {{ $labels.service }} within the cooldown window; further ones are refused until the window moves on.',
          ),
          alert(
            'ClaudeOpsTier1Stale',
            |||
              (
                time() - %(lastSuccess)s
                  > on (%(instanceLabels)s)
                %(tier1StaleIntervals)d * %(interval)s
              )
              unless on (%(instanceLabels)s)
              (
                time() - %(start)s
                  < on (%(instanceLabels)s)
                %(tier1StaleIntervals)d * %(interval)s
              )
              %(unlessSandbox)s
            ||| % $._config {
              lastSuccess: gauge('claudeops_tier1_last_success_timestamp_seconds'),
              interval: gauge('claudeops_schedule_interval_seconds'),
              start: gauge('process_start_time_seconds'),
              unlessSandbox: unlessSandboxUnavailable($._config.gaugeAlertWindow),
            },
            $._config.tier1StaleFor,
            $._config.tier1StaleSeverity,
            'Claude Ops has not completed a Tier 1 run for %(tier1StaleIntervals)d intervals.' % $._config,
            'The last successful Tier 1 run of {{ $labels.instance }} was {{ $value | humanizeDuration }} ago, more than %(tier1StaleIntervals)d schedule intervals. Nothing is watching the services.' % $._config,
          ),
          alert(
            'ClaudeOpsBudgetExhausted',
            |||
              %s
                >= on (%s)
              (%s > 0)
            ||| % [gauge('claudeops_budget_spent_usd'), $._config.instanceLabels, gauge('claudeops_budget_limit_usd')],
            $._config.budgetExhaustedFor,
            $._config.budgetExhaustedSeverity,
            'Claude Ops has spent its daily budget.',
            'Claude Ops on {{ $labels.instance }} has spent {{ $value | printf "%.2f" }} USD today, its daily budget; no new sessions start until tomorrow.',
          ),
          alert(
            'ClaudeOpsSessionErrors',
            |||
              sum by (%(instanceLabels)s, tier) (increase(claudeops_sessions_total{%(claudeOpsSelector)s, outcome=~"%(sessionErrorOutcomes)s"}[%(sessionErrorsWindow)s]))
                /
              sum by (%(instanceLabels)s, tier) (increase(claudeops_sessions_total{%(claudeOpsSelector)s}[%(sessionErrorsWindow)s]))
                > %(sessionErrorsRatio)s
              %(unlessSandbox)s
            ||| % $._config { unlessSandbox: unlessSandboxUnavailable($._config.sessionErrorsWindow) },
            $._config.sessionErrorsFor,
            $._config.sessionErrorsSeverity,
            'Tier {{ $labels.tier }} sessions are failing.',
            '{{ $value | humanizePercentage }} of the Tier {{ $labels.tier }} sessions of {{ $labels.instance }} failed (outcome %(sessionErrorOutcomes)s) over the last %(sessionErrorsWindow)s.' % $._config,
          ),
          alert(
            'ClaudeOpsDown',
            |||
              up{%(claudeOpsSelector)s} == 0
                or
              absent(up{%(claudeOpsSelector)s})
            ||| % $._config,
            $._config.downFor,
            $._config.downSeverity,
            'Claude Ops is down.',
            'Prometheus cannot scrape Claude Ops ({{ $labels.job }} {{ $labels.instance }}) or has no target for it. Nothing is watching the services.',
          ),
          alert(
            'ClaudeOpsRepoErrors',
            '%s > 0' % gauge('claudeops_repo_errors'),
            $._config.repoErrorsFor,
            $._config.repoErrorsSeverity,
            'Repo {{ $labels.repo }} has broken Claude Ops files.',
            'Claude Ops could not load {{ $value }} file(s) of repo {{ $labels.repo }} (manifest, checks, playbooks, skills or mcp.json); the rest of the repo is in use. See the daemon log.',
          ),
          alert(
            'ClaudeOpsWebhookErrors',
            |||
              sum by (%(instanceLabels)s, code) (rate(claudeops_webhook_requests_total{%(claudeOpsSelector)s, code=~"%(webhookErrorsCodes)s"}[%(webhookErrorsWindow)s])) > 0
            ||| % $._config,
            $._config.webhookErrorsFor,
            $._config.webhookErrorsSeverity,
            'Claude Ops rejects Alertmanager webhook calls with {{ $labels.code }}.',
            'Webhook requests to {{ $labels.instance }} answer {{ $labels.code }}; alerts from Alertmanager do not reach Claude Ops. Check the bearer token file and the payload.',
          ),
          alert(
            'ClaudeOpsSandboxUnavailable',
            '%s == 0' % gauge('claudeops_sandbox_ready'),
            $._config.sandboxUnavailableFor,
            $._config.sandboxUnavailableSeverity,
            'Claude Ops cannot sandbox sessions: no session runs.',
            'Claude Ops on {{ $labels.instance }} cannot start its session sandbox (bubblewrap, user namespaces, socat), so no session of any tier runs: nothing checks the services and no alert is remediated. /-/ready and the daemon log give the reason.',
          ),
          alert(
            'ClaudeOpsActionsFailing',
            |||
              sum by (%(instanceLabels)s, action) (increase(claudeops_actions_total{%(claudeOpsSelector)s, result=~"%(actionsFailingResults)s"}[%(actionsFailingWindow)s]))
                /
              sum by (%(instanceLabels)s, action) (increase(claudeops_actions_total{%(claudeOpsSelector)s, result=~"done|%(actionsFailingResults)s"}[%(actionsFailingWindow)s]))
                > %(actionsFailingRatio)s
            ||| % $._config,
            $._config.actionsFailingFor,
            $._config.actionsFailingSeverity,
            'Claude Ops {{ $labels.action }} actions are failing.',
            '{{ $value | humanizePercentage }} of the {{ $labels.action }} actions that Claude Ops on {{ $labels.instance }} ran over the last %(actionsFailingWindow)s failed or could not be verified.' % $._config,
          ),
        ],
      },
    ],
  },
}
