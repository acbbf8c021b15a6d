import test from 'ava';
import { readAlertRules } from '../deploy/_rules-file';
import {
  DASHBOARD_PROVIDER_FILE,
  type Dashboard,
  leafPanels,
  loadDashboard,
  panelQueries,
  provisionedDatasource,
  variableQuery,
  yamlScalars,
} from './_dashboard';
import { exportedSeriesNames, FACEFILL_METRIC_NAMES } from './_exported-metrics';
import { labelValuesSelector, metricNames } from './_promql';

const ROWS = ['Training health', 'Throughput & step phases', 'All-reduce', 'Workers & heartbeats', 'Checkpoints', 'Faults and recovery', 'Processes'];

/** Every PromQL expression of the dashboard (panels and variables) and of the alerts, named for messages. */
function expressions(d: Dashboard): { where: string; expr: string }[] {
  return [
    ...panelQueries(d).map((q) => ({ where: `panel '${q.panel}' ${q.refId}`, expr: q.expr })),
    ...d.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => ({ where: `variable $${v.name}`, expr: labelValuesSelector(variableQuery(v)) ?? '' })),
    ...readAlertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
  ];
}

/** `where: name` for each name an expression selects that is not exported, and for each expression selecting nothing. */
function unknownNames(exprs: { where: string; expr: string }[], exported: Set<string>): string[] {
  return exprs.flatMap(({ where, expr }) => {
    const names = metricNames(expr);
    if (names.length === 0) return [`${where}: selects no metric`];
    return names.filter((n) => !exported.has(n)).map((n) => `${where}: ${n}`);
  });
}

test('the dashboard parses; its panels and variables use the provisioned datasource; the rows are there and the grid holds', (t) => {
  const d = loadDashboard();
  t.is(d.uid, 'facefill');
  const ds = provisionedDatasource();
  t.deepEqual([ds.type, ds.url], ['prometheus', 'http://prometheus:9090']);
  const provider = yamlScalars(DASHBOARD_PROVIDER_FILE);
  t.deepEqual([provider.get('type'), provider.get('path')], [['file'], ['/var/lib/grafana/dashboards']]);

  t.deepEqual(d.panels.filter((p) => p.type === 'row').map((p) => p.title), ROWS);
  const panels = leafPanels(d);
  t.true(panels.length >= 25, `${panels.length} panels`);
  for (const p of panels) {
    t.is(p.datasource?.uid, ds.uid, `panel '${p.title}'`);
    const targets = p.targets ?? [];
    t.true(targets.length > 0, `panel '${p.title}' has no query`);
    t.is(new Set(targets.map((x) => x.refId)).size, targets.length, `panel '${p.title}' repeats a refId`);
    for (const x of targets) t.is(x.datasource?.uid ?? p.datasource?.uid, ds.uid, `panel '${p.title}' ${x.refId}`);
  }
  for (const v of d.templating.list.filter((x) => x.type === 'query')) t.is(v.datasource?.uid, ds.uid, `variable $${v.name}`);

  const all = [...d.panels, ...panels.filter((p) => !d.panels.includes(p))];
  t.is(new Set(all.map((p) => p.id)).size, all.length, 'panel ids repeat');
  const taken = new Map<string, string>();
  for (const p of all) {
    const { x, y, w, h } = p.gridPos;
    t.true(x >= 0 && w > 0 && h > 0 && x + w <= 24, `panel '${p.title}' is off the 24-column grid`);
    for (let i = x; i < x + w; i++) {
      for (let j = y; j < y + h; j++) {
        const other = taken.get(`${i},${j}`);
        if (other) t.fail(`panels '${other}' and '${p.title}' overlap at ${i},${j}`);
        taken.set(`${i},${j}`, p.title);
      }
    }
  }
});

test('every metric of every panel, variable and alert is one the code exports', async (t) => {
  const exported = await exportedSeriesNames();
  const exprs = expressions(loadDashboard());
  t.deepEqual(unknownNames(exprs, exported), []);
  // The check catches a typo (so that an empty list above means something).
  const typo = exprs.map((e) => ({ ...e, expr: e.expr.replace('facefill_step_duration_seconds_bucket', 'facefill_step_duraton_seconds_bucket') }));
  t.deepEqual(unknownNames(typo, exported), ["panel 'Step duration' A: facefill_step_duraton_seconds_bucket", "panel 'Step duration' B: facefill_step_duraton_seconds_bucket", "panel 'Step duration' C: facefill_step_duraton_seconds_bucket"]);
  // A histogram is selected through its series, never by its bare name.
  t.deepEqual(unknownNames([{ where: 'x', expr: 'rate(facefill_step_duration_seconds[5m])' }], exported), ['x: facefill_step_duration_seconds']);
});

test('every metric the facefill families export is on the dashboard', (t) => {
  const used = new Set(panelQueries(loadDashboard()).flatMap((q) => metricNames(q.expr)));
  const missing = FACEFILL_METRIC_NAMES.filter((n) => ![n, `${n}_bucket`, `${n}_sum`, `${n}_count`].some((s) => used.has(s)));
  t.deepEqual(missing, []);
});

test('the PromQL reader finds the metric names and nothing else', (t) => {
  const cases: [string, string[]][] = [
    ['histogram_quantile(0.9, sum by (le, phase) (rate(a_seconds_bucket{instance=~"$instance", phase!="data"}[$__rate_interval])))', ['a_seconds_bucket']],
    ['sum(rate(b_total[5m])) by (job) / ignoring(phase) group_left(extra) c', ['b_total', 'c']],
    ['up{job="x"} == 0 unless on() d{state=~"a|b"} == bool 1', ['up', 'd']],
    ['{__name__="e", job="by"} and f offset 5m or g @ start()', ['e', 'f', 'g']],
    ['label_replace(h, "dst", "$1", "src", "(.*)") # not_a_metric in a comment', ['h']],
    ['count_values("value", i) + abs(j) == Inf or k != k', ['i', 'j', 'k']],
    ['max_over_time(l[10m:1m]) > NaN', ['l']],
    ['SUM BY (le) (m) AND n:recorded:rate5m', ['m', 'n:recorded:rate5m']],
    ['sum without (instance, rank) (o) / on (job) group_right p', ['o', 'p']],
    ['topk(3, q) * scalar(r)', ['q', 'r']],
  ];
  for (const [expr, names] of cases) t.deepEqual(metricNames(expr), names, expr);
  t.throws(() => metricNames('rat(s[5m])'), { message: /'rat\(' is no PromQL function/ });
  t.throws(() => metricNames('sum(t'), { message: /unclosed/ });
  t.throws(() => metricNames('u}'), { message: /unbalanced/ });
  t.is(labelValuesSelector('label_values(facefill_step{job="w"}, instance)'), 'facefill_step{job="w"}');
  t.is(labelValuesSelector('label_values(instance)'), null);
});
