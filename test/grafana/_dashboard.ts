import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';

/** The repository's root (tests run from dist/test/grafana). */
export const REPO = resolve(__dirname, '../../..');
/** The one dashboard Grafana provisions. */
export const DASHBOARD_FILE = resolve(REPO, 'grafana/dashboards/facefill.json');
/** The provisioned Prometheus datasource. */
export const DATASOURCE_FILE = resolve(REPO, 'grafana/provisioning/datasources/prometheus.yml');
/** The dashboard file provider. */
export const DASHBOARD_PROVIDER_FILE = resolve(REPO, 'grafana/provisioning/dashboards/facefill.yml');

const DatasourceRef = z.looseObject({ type: z.string().optional(), uid: z.string().optional() });

const Target = z.looseObject({ refId: z.string(), expr: z.string().min(1), datasource: DatasourceRef.optional(), legendFormat: z.string().optional() });

const GridPos = z.strictObject({ x: z.number().int(), y: z.number().int(), w: z.number().int(), h: z.number().int() });

const PanelBase = z.looseObject({
  id: z.number().int(),
  type: z.string(),
  title: z.string(),
  gridPos: GridPos,
  datasource: DatasourceRef.optional(),
  targets: z.array(Target).optional(),
});

/** A dashboard panel as far as the tests read it (rows may nest their panels when collapsed). */
export type Panel = z.infer<typeof PanelBase> & { panels?: Panel[] };

const Panel: z.ZodType<Panel> = PanelBase.extend({ panels: z.lazy(() => z.array(Panel)).optional() });

const Variable = z.looseObject({
  name: z.string(),
  type: z.string(),
  datasource: DatasourceRef.optional(),
  query: z.union([z.string(), z.looseObject({ query: z.string() })]).optional(),
  allValue: z.string().optional(),
});

const Dashboard = z.looseObject({
  uid: z.string(),
  title: z.string(),
  panels: z.array(Panel),
  templating: z.looseObject({ list: z.array(Variable) }),
});

/** The dashboard, as far as the tests read it. */
export type Dashboard = z.infer<typeof Dashboard>;

/** One PromQL query of a panel. */
export interface PanelQuery {
  panel: string;
  refId: string;
  expr: string;
  datasourceUid: string | undefined;
}

/** Reads and shape-checks the dashboard JSON (throws naming what is wrong). */
export function loadDashboard(file = DASHBOARD_FILE): Dashboard {
  return Dashboard.parse(JSON.parse(readFileSync(file, 'utf8')) as unknown);
}

/** Every panel, rows' nested panels included, rows themselves excluded. */
export function leafPanels(d: Dashboard): Panel[] {
  const walk = (ps: Panel[]): Panel[] => ps.flatMap((p) => (p.type === 'row' ? walk(p.panels ?? []) : [p]));
  return walk(d.panels);
}

/** Every query of every panel, with the datasource uid it runs on (the target's, else the panel's). */
export function panelQueries(d: Dashboard): PanelQuery[] {
  return leafPanels(d).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr, datasourceUid: t.datasource?.uid ?? p.datasource?.uid })),
  );
}

/** The query text of a query variable. */
export function variableQuery(v: Dashboard['templating']['list'][number]): string {
  return typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
}

/**
 * Substitutes Grafana variables (`$name` or `${name}`) the way Grafana would before sending a
 * query; throws on a variable `values` does not give, so that none slips through unevaluated.
 */
export function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    const value = values[name];
    if (value === undefined) throw new Error(`no value for the Grafana variable ${whole} in: ${expr}`);
    return value;
  });
}

/** The `key: value` scalars of a flat YAML list item or mapping (enough for the provisioning files, which are ours). */
export function yamlScalars(file: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*(?:-\s+)?([A-Za-z][A-Za-z0-9_]*):\s+([^#\s][^#]*?)\s*(?:#.*)?$/.exec(line);
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), m[2].replace(/^(['"])(.*)\1$/, '$2')]);
  }
  return out;
}

/** The uid, type and url of the one provisioned datasource. */
export function provisionedDatasource(): { uid: string; type: string; url: string } {
  const s = yamlScalars(DATASOURCE_FILE);
  const one = (key: string) => {
    const v = s.get(key) ?? [];
    if (v.length !== 1) throw new Error(`${DATASOURCE_FILE}: expected one '${key}', found ${v.length}`);
    return v[0];
  };
  return { uid: one('uid'), type: one('type'), url: one('url') };
}
