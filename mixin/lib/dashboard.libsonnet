// A small helper for Grafana dashboards in plain jsonnet (no grafonnet).
// Panels are built without id and position; dashboard() numbers them and
// lays them out left to right, top to bottom, on Grafana's 24-column grid.
{
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  local refIds = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',

  // A Prometheus query. refId is set by the panel.
  target(expr, legendFormat='', instant=false, format='time_series'):: {
    datasource: $.datasource,
    expr: expr,
    legendFormat: legendFormat,
    instant: instant,
    range: !instant,
    format: format,
  },

  local thresholdSteps(steps) = {
    mode: 'absolute',
    steps: [{ color: steps[0][0], value: null }] + [
      { color: s[0], value: s[1] }
      for s in steps[1:]
    ],
  },

  // Value mappings: a list of [value, text, color].
  valueMappings(values):: [{
    type: 'value',
    options: {
      [std.toString(v[0])]: { text: v[1], color: v[2], index: i }
      for i in std.range(0, std.length(values) - 1)
      for v in [values[i]]
    },
  }],

  local base(type, title, targets, description, unit, w, h) = {
    type: type,
    title: title,
    description: description,
    datasource: $.datasource,
    targets: [
      targets[i] { refId: refIds[i] }
      for i in std.range(0, std.length(targets) - 1)
    ],
    fieldConfig: {
      defaults: {
        unit: unit,
        color: { mode: 'palette-classic' },
        mappings: [],
        thresholds: thresholdSteps([['green']]),
      },
      overrides: [],
    },
    options: {},
    gridPos: { w: w, h: h },
  },

  timeseries(title, targets, unit='short', description='', w=12, h=8, stack=false, bars=false, min=null):: base('timeseries', title, targets, description, unit, w, h) {
    fieldConfig+: {
      defaults+: {
        [if min != null then 'min']: min,
        custom: {
          drawStyle: if bars then 'bars' else 'line',
          lineWidth: 1,
          fillOpacity: if bars || stack then 80 else 10,
          showPoints: 'never',
          spanNulls: false,
          stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
        },
      },
    },
    options: {
      legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['lastNotNull', 'max'] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  },

  // steps: [[color], [color, from], ...]
  stat(title, targets, unit='short', description='', w=4, h=4, steps=[['green']], mappings=[], colorMode='value', decimals=null):: base('stat', title, targets, description, unit, w, h) {
    fieldConfig+: {
      defaults+: {
        color: { mode: 'thresholds' },
        thresholds: thresholdSteps(steps),
        mappings: mappings,
        [if decimals != null then 'decimals']: decimals,
      },
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: colorMode,
      graphMode: 'none',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'auto',
    },
  },

  // Instant queries shown as a table; the Time column is hidden.
  table(title, targets, unit='short', description='', w=12, h=8, steps=[['green']], mappings=[], sortBy=[]):: base('table', title, targets, description, unit, w, h) {
    fieldConfig+: {
      defaults+: {
        color: { mode: 'thresholds' },
        thresholds: thresholdSteps(steps),
        mappings: mappings,
        custom: { align: 'auto', cellOptions: { type: 'color-text' } },
      },
    },
    options: { showHeader: true, sortBy: sortBy, cellHeight: 'sm' },
    transformations: [
      { id: 'merge', options: {} },
      { id: 'organize', options: { excludeByName: { Time: true }, renameByName: {} } },
    ],
  },

  local timeline(type, title, targets, description, w, h, steps, mappings) = base(type, title, targets, description, 'short', w, h) {
    fieldConfig+: {
      defaults+: {
        color: { mode: 'thresholds' },
        thresholds: thresholdSteps(steps),
        mappings: mappings,
        custom: { fillOpacity: 80, lineWidth: 0 },
      },
    },
    options: {
      showValue: 'never',
      rowHeight: 0.9,
      legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
      tooltip: { mode: 'single', sort: 'none' },
    },
  },

  stateTimeline(title, targets, description='', w=24, h=8, steps=[['green']], mappings=[]):: timeline('state-timeline', title, targets, description, w, h, steps, mappings) {
    options+: { mergeValues: true, alignValue: 'left' },
  },

  statusHistory(title, targets, description='', w=24, h=8, steps=[['green']], mappings=[]):: timeline('status-history', title, targets, description, w, h, steps, mappings) {
    options+: { colWidth: 0.9 },
  },

  // Grafana template variables.
  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    hide: 0,
    includeAll: false,
    multi: false,
    options: [],
    refresh: 1,
    regex: '',
  },

  queryVariable(name, label, query, multi=true, includeAll=true):: {
    name: name,
    label: label,
    type: 'query',
    datasource: $.datasource,
    definition: query,
    query: { qryType: 1, query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    hide: 0,
    multi: multi,
    includeAll: includeAll,
    allValue: if includeAll then '.*' else null,
    options: [],
    refresh: 2,
    regex: '',
    sort: 1,
  },

  annotation(name, expr, titleFormat, textFormat='', tagKeys='', iconColor='blue', step='60s'):: {
    name: name,
    datasource: $.datasource,
    enable: true,
    hide: false,
    iconColor: iconColor,
    expr: expr,
    step: step,
    titleFormat: titleFormat,
    textFormat: textFormat,
    tagKeys: tagKeys,
    useValueForTime: false,
    // Where Grafana 10+ keeps the query; the fields above are the older
    // form, which Grafana still reads.
    target: {
      datasource: $.datasource,
      expr: expr,
      refId: 'Anno',
      interval: step,
      legendFormat: titleFormat,
    },
  },

  // Lays panels out on the grid: each panel goes to the right of the
  // previous one, or starts a new row when it does not fit.
  local layout(panels) = std.foldl(
    function(acc, p)
      local fits = acc.x + p.gridPos.w <= 24;
      local x = if fits then acc.x else 0;
      local y = if fits then acc.y else acc.y + acc.rowH;
      {
        x: x + p.gridPos.w,
        y: y,
        rowH: if fits then std.max(acc.rowH, p.gridPos.h) else p.gridPos.h,
        panels: acc.panels + [p {
          id: std.length(acc.panels) + 1,
          gridPos+: { x: x, y: y },
        }],
      },
    panels,
    { x: 0, y: 0, rowH: 0, panels: [] },
  ).panels,

  dashboard(title, uid, config, panels, variables=[], annotations=[], description=''):: {
    uid: uid,
    title: title,
    description: description,
    tags: config.dashboardTags,
    timezone: config.dashboardTimezone,
    refresh: config.dashboardRefresh,
    time: { from: config.dashboardTimeFrom, to: 'now' },
    schemaVersion: 39,
    version: 1,
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    links: [{
      title: 'Claude Ops',
      type: 'dashboards',
      tags: config.dashboardTags,
      asDropdown: true,
      includeVars: true,
      keepTime: true,
      icon: 'external link',
      targetBlank: false,
      tooltip: '',
      url: '',
    }],
    templating: { list: [$.datasourceVariable] + variables },
    annotations: {
      list: [{
        builtIn: 1,
        datasource: { type: 'grafana', uid: '-- Grafana --' },
        enable: true,
        hide: true,
        iconColor: 'rgba(0, 211, 255, 1)',
        name: 'Annotations & Alerts',
        type: 'dashboard',
      }] + annotations,
    },
    panels: layout(panels),
  },
}
