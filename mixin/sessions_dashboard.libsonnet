// "<dashboardNamePrefix>Activity": what the seed's web UI answered at a glance (the
// latest run, each session, what changed, what is on cooldown, the
// configuration, a Run-now button), read from the daemon's JSON views
// (/api/v1/views/*, docs/SPEC.md §6) through the Infinity data source
// (grafana/provisioning/datasources/claude-ops-api.yaml). Each panel's URL
// and columns are checked against a running daemon (e2e/views_test.go).
local d = import 'lib/dashboard.libsonnet';

{
  _config+:: {
    dashboardUIDs+: { activity: 'claude-ops-activity' },
    // Claude Ops as your browser reaches it: the transcript links and the
    // Run-now form. Grafana's server reaches it through the data source.
    claudeOpsExternalURL: 'http://localhost:9847',
    // The Infinity data source of the views.
    claudeOpsAPIDatasource: 'Claude Ops API',
  },

  local c = $._config,
  local ds = { type: 'yesoreyeram-infinity-datasource', uid: '${claudeops}' },

  // An Infinity column: the JSON key, the name Grafana shows, its type.
  local col(selector, text, type='string') = { selector: selector, text: text, type: type },

  local query(url, columns) = {
    refId: 'A',
    datasource: ds,
    type: 'json',
    source: 'url',
    format: 'table',
    parser: 'backend',
    url: url,
    url_options: { method: 'GET', data: '' },
    root_selector: '',
    columns: columns,
  },

  local byName(name, properties) = { matcher: { id: 'byName', options: name }, properties: properties },
  local hidden(name) = byName(name, [{ id: 'custom.hidden', value: true }]),
  local unit(name, u) = byName(name, [{ id: 'unit', value: u }]),
  local width(name, w) = byName(name, [{ id: 'custom.width', value: w }]),
  // A column whose cells open the session's transcript page.
  local transcriptLink(name) = byName(name, [{
    id: 'links',
    value: [{ title: 'Transcript', url: '${claudeops_url}${__data.fields["Link"]}', targetBlank: true }],
  }]),

  local good = 'green',
  local bad = 'red',
  local warn = 'orange',
  local resultMappings = d.valueMappings([
    ['healthy', 'healthy', good],
    ['remediated', 'remediated', good],
    ['resolved', 'resolved', good],
    ['done', 'done', good],
    ['ok', 'ok', good],
    ['issues_found', 'issues found', warn],
    ['escalated', 'escalated', warn],
    ['dry_run', 'dry run', warn],
    ['proposed', 'proposed', warn],
    ['unverified', 'unverified', warn],
    ['degraded', 'degraded', warn],
    ['running', 'running', 'blue'],
    ['needs_human', 'needs human', bad],
    ['human', 'human', bad],
    ['not_fixed', 'not fixed', bad],
    ['error', 'error', bad],
    ['timeout', 'timeout', bad],
    ['refused', 'refused', bad],
    ['failed', 'failed', bad],
    ['down', 'down', bad],
    ['auth_failed', 'auth failed', bad],
    ['budget_exhausted', 'budget exhausted', bad],
  ]),
  local colored(name) = byName(name, [
    { id: 'mappings', value: resultMappings },
    { id: 'custom.cellOptions', value: { type: 'color-text' } },
  ]),

  local table(title, description, url, columns, overrides=[], w=24, h=8) = {
    type: 'table',
    title: title,
    description: description,
    datasource: ds,
    targets: [query(url, columns)],
    fieldConfig: {
      defaults: {
        custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: true },
        mappings: [],
        thresholds: { mode: 'absolute', steps: [{ color: 'text', value: null }] },
      },
      overrides: overrides,
    },
    options: { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } },
    gridPos: { w: w, h: h },
  },

  local variables = [
    {
      name: 'claudeops',
      label: 'Claude Ops API',
      type: 'datasource',
      query: 'yesoreyeram-infinity-datasource',
      current: { text: c.claudeOpsAPIDatasource, value: c.claudeOpsAPIDatasource },
      hide: 0,
      includeAll: false,
      multi: false,
      options: [],
      refresh: 1,
      regex: '',
    },
    {
      name: 'claudeops_url',
      label: 'Claude Ops URL (links)',
      description: 'Claude Ops as your browser reaches it, for the transcript links and the Run-now form.',
      type: 'textbox',
      query: c.claudeOpsExternalURL,
      current: { text: c.claudeOpsExternalURL, value: c.claudeOpsExternalURL },
      options: [{ selected: true, text: c.claudeOpsExternalURL, value: c.claudeOpsExternalURL }],
      hide: 0,
    },
    {
      name: 'service',
      label: 'Service (empty: all)',
      type: 'textbox',
      query: '',
      current: { text: '', value: '' },
      options: [{ selected: true, text: '', value: '' }],
      hide: 0,
    },
  ],

  grafanaDashboards+:: {
    'claude-ops-activity.json': d.dashboard(
      c.dashboardNamePrefix + 'Activity',
      c.dashboardUIDs.activity,
      c,
      [
        {
          type: 'text',
          title: 'Run now',
          description: "The daemon's Run-now form starts a Tier 1 run (or shows the one running); it asks for the webhook token as a password.",
          gridPos: { w: 24, h: 3 },
          fieldConfig: { defaults: {}, overrides: [] },
          options: {
            mode: 'markdown',
            content: '**[Run Tier 1 now](${claudeops_url}/)** (the form on the landing page) · ' +
                     '[All sessions, with their transcripts](${claudeops_url}/sessions) · ' +
                     'Filter the sessions, events and cooldowns below with the *Service* box above.',
          },
        },
        table(
          'Latest run, TL;DR',
          "The newest Tier 1 run, and every incident open now or closed in the time range: each one's summary from its sessions' structured output.",
          '/api/v1/views/tldr?from=${__from}',
          [
            col('time', 'Time', 'timestamp'),
            col('kind', 'Kind'),
            col('service', 'Service'),
            col('tier', 'Tier', 'number'),
            col('outcome', 'Outcome'),
            col('summary', 'Summary'),
            col('cost_usd', 'Cost', 'number'),
            col('link', 'Link'),
          ],
          [hidden('Link'), transcriptLink('Summary'), unit('Cost', 'currencyUSD'), colored('Outcome'), width('Time', 170), width('Kind', 80), width('Tier', 50)],
          h=7,
        ),
        table(
          'Sessions',
          'Every session in the time range, newest first; a click on the session opens its transcript.',
          '/api/v1/views/sessions?from=${__from}&to=${__to}&service=${service:percentencode}&limit=500',
          [
            col('time', 'Time', 'timestamp'),
            col('id', 'Session'),
            col('kind', 'Kind'),
            col('tier', 'Tier', 'number'),
            col('model', 'Model'),
            col('duration_seconds', 'Duration', 'number'),
            col('tokens', 'Tokens', 'number'),
            col('cost_usd', 'Cost', 'number'),
            col('outcome', 'Outcome'),
            col('service', 'Service'),
            col('summary', 'Summary'),
            col('link', 'Link'),
          ],
          [hidden('Link'), transcriptLink('Session'), unit('Duration', 's'), unit('Cost', 'currencyUSD'), colored('Outcome'), width('Time', 170)],
          h=10,
        ),
        table(
          'Events',
          'What changed, newest first: service states from Tier 1, typed actions (done, refused with the deciding stage, proposed in dry-run), escalations, needs-human, incidents opened and closed.',
          '/api/v1/views/events?from=${__from}&to=${__to}&service=${service:percentencode}&limit=500',
          [
            col('time', 'Time', 'timestamp'),
            col('kind', 'Event'),
            col('service', 'Service'),
            col('tier', 'Tier', 'number'),
            col('action', 'Action'),
            col('result', 'Result'),
            col('stage', 'Stage'),
            col('detail', 'Detail'),
            col('link', 'Link'),
          ],
          [hidden('Link'), transcriptLink('Detail'), colored('Result'), width('Time', 170), width('Tier', 50)],
          h=10,
        ),
        table(
          'Cooldowns',
          'Per service and cooldown class: the changes within the window, how many are left, and when the oldest leaves the window.',
          '/api/v1/views/cooldowns?service=${service:percentencode}',
          [
            col('service', 'Service'),
            col('action', 'Class'),
            col('used', 'Used', 'number'),
            col('left', 'Left', 'number'),
            col('limit', 'Limit', 'number'),
            col('window_seconds', 'Window', 'number'),
            col('next_free', 'Next frees up', 'timestamp'),
          ],
          [unit('Window', 's')],
          w=12,
          h=9,
        ),
        table(
          'Config',
          "The daemon's effective flags; secrets are shown as <secret>, passwords in URLs as xxxxx.",
          '/api/v1/views/config',
          [
            col('flag', 'Flag'),
            col('value', 'Value'),
            col('default', 'Default'),
            col('env', 'Environment'),
          ],
          w=12,
          h=9,
        ),
      ],
      variables=variables,
      description="What Claude Ops did: the latest run, sessions and their transcripts, events, cooldowns and configuration, from the daemon's JSON views.",
    ) + {
      links+: [{
        title: 'Run now',
        type: 'link',
        url: '${claudeops_url}/',
        tooltip: "The daemon's Run-now form",
        icon: 'external link',
        targetBlank: true,
        asDropdown: false,
        includeVars: false,
        keepTime: false,
        tags: [],
      }],
    },
  },
}
