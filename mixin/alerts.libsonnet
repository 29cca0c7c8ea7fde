{
  local runbook(name) = '%s#%s' % [$._config.runbookURLBase, std.asciiLower(name)],

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
            'claudeops_check_success{%(claudeOpsSelector)s} == 0' % $._config,
            $._config.checkFailingFor,
            $._config.checkFailingSeverity,
            'Check {{ $labels.check }} of {{ $labels.service }} is failing.',
            'The {{ $labels.type }} check {{ $labels.check }} of service {{ $labels.service }} has failed for more than %(checkFailingFor)s.' % $._config,
            selfAlert=false,
          ),
          alert(
            'ClaudeOpsNeedsHumanAttention',
            'claudeops_needs_human_attention{%(claudeOpsSelector)s} > 0' % $._config,
            $._config.needsHumanFor,
            $._config.needsHumanSeverity,
            'Service {{ $labels.service }} needs a human.',
            'Claude Ops gave up on service {{ $labels.service }}: remediation failed, was refused or escalated to a human. Read the latest session of its incident.',
          ),
          alert(
            'ClaudeOpsCooldownExhausted',
            |||
              claudeops_cooldown_actions{%(claudeOpsSelector)s}
                >= on (%(instanceLabels)s, action) group_left ()
              (claudeops_cooldown_limit{%(claudeOpsSelector)s} > 0)
            ||| % $._config,
            $._config.cooldownExhaustedFor,
            $._config.cooldownExhaustedSeverity,
            'Cooldown for {{ $labels.action }} of {{ $labels.service }} is used up.',
            'Claude Ops has taken {{ $value }} {{ $labels.action }} actions on service {{ $labels.service }} within the cooldown window; further ones are refused until the window moves on.',
          ),
          alert(
            'ClaudeOpsTier1Stale',
            |||
              (
                time() - claudeops_tier1_last_success_timestamp_seconds{%(claudeOpsSelector)s}
                  > on (%(instanceLabels)s)
                %(tier1StaleIntervals)d * claudeops_schedule_interval_seconds{%(claudeOpsSelector)s}
              )
              unless on (%(instanceLabels)s)
              (
                time() - process_start_time_seconds{%(claudeOpsSelector)s}
                  < on (%(instanceLabels)s)
                %(tier1StaleIntervals)d * claudeops_schedule_interval_seconds{%(claudeOpsSelector)s}
              )
            ||| % $._config,
            $._config.tier1StaleFor,
            $._config.tier1StaleSeverity,
            'Claude Ops has not completed a Tier 1 run for %(tier1StaleIntervals)d intervals.' % $._config,
            'The last successful Tier 1 run of {{ $labels.instance }} was {{ $value | humanizeDuration }} ago, more than %(tier1StaleIntervals)d schedule intervals. Nothing is watching the services.' % $._config,
          ),
          alert(
            'ClaudeOpsBudgetExhausted',
            |||
              claudeops_budget_spent_usd{%(claudeOpsSelector)s}
                >= on (%(instanceLabels)s)
              (claudeops_budget_limit_usd{%(claudeOpsSelector)s} > 0)
            ||| % $._config,
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
            ||| % $._config,
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
            'claudeops_repo_errors{%(claudeOpsSelector)s} > 0' % $._config,
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
        ],
      },
    ],
  },
}
