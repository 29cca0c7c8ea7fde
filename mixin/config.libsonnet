{
  _config+:: {
    // Selector for every Claude Ops series. The job name is the one the
    // example scrape config (deploy/prometheus.yml) uses.
    jobName: 'claude-ops',
    claudeOpsSelector: 'job="%s"' % self.jobName,

    // Labels that tell one Claude Ops instance from another. Used for vector
    // matching between two metrics of the same instance.
    instanceLabels: 'job, instance',
    // Labels the recording rules aggregate to (on top of their own labels).
    // They make the level of every record's name (level:metric:operations):
    // 'job, instance' and service give job_instance_service:….
    aggregationLabels: 'job, instance',

    // Gauge alerts look at max_over_time(gauge[gaugeAlertWindow]) rather than
    // the last sample, so that a failed scrape or a restart of the daemon
    // does not resolve them and start their for: again.
    gaugeAlertWindow: '5m',

    // Static labels on every alert about Claude Ops itself. The daemon counts
    // and ignores webhook alerts carrying them, so they never start a
    // remediation loop; the Alertmanager route also sends them to humans.
    // ClaudeOpsCheckFailing does not get them: it is about a service, and the
    // daemon files it under that service's incident.
    selfAlertLabels: { claudeops: 'true' },

    // Alert thresholds and durations.
    checkFailingFor: '10m',
    checkFailingSeverity: 'warning',

    needsHumanFor: '1m',
    needsHumanSeverity: 'critical',

    cooldownExhaustedFor: '5m',
    cooldownExhaustedSeverity: 'warning',

    // ClaudeOpsTier1Stale fires when the last successful Tier 1 run is older
    // than this many schedule intervals (claudeops_schedule_interval_seconds).
    tier1StaleIntervals: 3,
    tier1StaleFor: '5m',
    tier1StaleSeverity: 'critical',

    budgetExhaustedFor: '1m',
    budgetExhaustedSeverity: 'warning',

    // ClaudeOpsSessionErrors: share of a tier's sessions that ended in one of
    // these outcomes over the window.
    sessionErrorOutcomes: 'error|timeout|auth_failed',
    sessionErrorsWindow: '3h',
    sessionErrorsRatio: 0.5,
    sessionErrorsFor: '15m',
    sessionErrorsSeverity: 'warning',

    downFor: '5m',
    downSeverity: 'critical',

    repoErrorsFor: '15m',
    repoErrorsSeverity: 'warning',

    webhookErrorsCodes: '4..|5..',
    webhookErrorsWindow: '15m',
    webhookErrorsFor: '15m',
    webhookErrorsSeverity: 'warning',

    // ClaudeOpsSandboxUnavailable: claudeops_sandbox_ready is 0, no session
    // of any tier can run.
    sandboxUnavailableFor: '5m',
    sandboxUnavailableSeverity: 'critical',

    // ClaudeOpsActionsFailing: share of the typed actions of one kind that
    // ran (done, failed, unverified) and ended in one of these results over
    // the window.
    actionsFailingResults: 'failed|unverified',
    actionsFailingWindow: '1h',
    actionsFailingRatio: 0.5,
    actionsFailingFor: '5m',
    actionsFailingSeverity: 'warning',

    // Runbook links: '<runbookURLBase>#<alert name in lower case>'.
    runbookURLBase: 'https://github.com/claude-ops/claude-ops/blob/main/mixin/runbook.md',

    // Dashboards. Titles are '<dashboardNamePrefix><name>'.
    dashboardNamePrefix: 'Claude Ops / ',
    dashboardTags: ['claude-ops'],
    dashboardUIDs: {
      overview: 'claude-ops-overview',
      sessions: 'claude-ops-sessions',
      remediation: 'claude-ops-remediation',
    },
    dashboardTimezone: 'browser',
    dashboardRefresh: '1m',
    dashboardTimeFrom: 'now-24h',
    // Metric the `job` and `instance` template variables read their values
    // from: one series per Claude Ops process, whatever its job is called.
    instanceVariableMetric: 'claudeops_build_info',
    // Metric the `service` template variable reads its values from.
    serviceVariableMetric: 'claudeops_check_success',
    // Session annotations: query step and the window a start or an end is
    // looked for in (keep them equal).
    annotationStep: '60s',
    annotationWindow: '1m',
  },
}
