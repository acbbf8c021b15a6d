import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ExecutionContext } from 'ava';
import { ingest } from '../../src/shared/data/ingest';
import { SyntheticSource } from '../../src/shared/data/synthetic-source';
import { writeClusterConfig } from '../_cluster-config';
import { freePort } from '../_free-port';
import { ALERTS_FILE, PROMETHEUS_CONFIG, readAlertRules } from '../deploy/_rules-file';
import { testWithTool } from '../deploy/_tools';
import { loadDashboard, panelQueries, substitute, variableQuery } from './_dashboard';
import { makeRunCredentials } from '../_run-credentials';
import { FACEFILL_METRIC_NAMES } from './_exported-metrics';
import { labelValuesSelector, metricNames, vectorSelectors } from './_promql';

// The dashboard and the alerts against the real thing: a coordinator and two workers started
// from the CLI, scraped every second by Debian's Prometheus 2.42 (the deploy's job names, the
// deploy's alerts.yml), and every query asked through Prometheus's HTTP API.
//
// - Each panel query, its Grafana variables substituted (`$instance` by its All value `.*`,
//   `$__rate_interval` by 10s: Grafana's is at least 4 scrape intervals), must return series.
// - The `$instance` variable's label_values() selector must find both workers.
// - Each alert is an alerting condition, false on this healthy run. So the test asks for (a) the
//   whole expression, which must return nothing, and (b) each vector selector in it on its own,
//   which must return series: an alert that is quiet only because it selects nothing fails.
//   Prometheus also loads alerts.yml and must report every alert healthy and inactive.
// The run trains until the test is done (steps far beyond the test's length); the queries are
// retried each second until all hold or the deadline passes, then the last round's misses fail.

// Set only once the validation probe has run (monitor.probeEvery; its wiring is in progress), so
// a short run may have none: a query selecting only these may come back empty. Keep this short.
const MAY_BE_ABSENT = ['facefill_output_diversity_ratio', 'facefill_validation_hole_psnr_db', 'facefill_validation_ssim'];
const VARIABLES = { instance: '.*', __rate_interval: '10s' };
const DEADLINE_MS = 75_000;
const CLI = resolve(__dirname, '../../src/cli.js');

/** A small, fast run: 16x16 faces, tiny networks, a checkpoint every 5 steps, a probe every 5. */
function runConfig(file: string): string {
  return writeClusterConfig(file, {
    train: { steps: 1_000_000, checkpointEvery: 5, logEvery: 1 },
    monitor: { probeEvery: 5, probeSize: 4 },
    cluster: { heartbeatTimeoutSeconds: 10, rendezvousTimeoutSeconds: 60 },
  });
}

/** The static job names of the deploy's prometheus.yml, which the dashboard and alerts select on. */
function deployJobs(): { coordinator: string; worker: string } {
  const jobs = [...readFileSync(PROMETHEUS_CONFIG, 'utf8').matchAll(/job_name:\s*(facefill-\S+)/g)].map((m) => m[1]);
  const coordinator = jobs.find((j) => j.endsWith('coordinator'));
  const worker = jobs.find((j) => j.endsWith('worker'));
  if (!coordinator || !worker) throw new Error(`no facefill coordinator and worker jobs in ${PROMETHEUS_CONFIG}: ${jobs.join(', ')}`);
  return { coordinator, worker };
}

function start(command: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { env: { ...process.env, FACEFILL_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const keep = (b: Buffer) => (text = (text + b.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => text };
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
}

interface AlertingRule {
  type: string;
  name: string;
  health: string;
  state: string;
  lastError?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

testWithTool(
  'prometheus',
  "Prometheus 2.42 scraping a live cluster: every dashboard query returns data; every alert's selectors do and the alerts stay quiet",
  async (t: ExecutionContext, prometheusBin: string) => {
    const root = mkdtempSync(join(tmpdir(), 'facefill-prometheus-live-'));
    const data = join(root, 'dataset');
    await ingest({ source: new SyntheticSource(120, 5), out: data, size: 16 });
    const ports = new Set<number>();
    while (ports.size < 5) ports.add(await freePort());
    const [control, coordinatorMetrics, w0, w1, web] = [...ports];
    const jobs = deployJobs();
    writeFileSync(
      join(root, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
        `rule_files: ['${ALERTS_FILE}']`,
        'scrape_configs:',
        `  - { job_name: ${jobs.coordinator}, static_configs: [{ targets: ['127.0.0.1:${coordinatorMetrics}'] }] }`,
        `  - { job_name: ${jobs.worker}, static_configs: [{ targets: ['127.0.0.1:${w0}', '127.0.0.1:${w1}'] }] }`,
        '',
      ].join('\n'),
    );

    const { joinFile } = await makeRunCredentials(join(root, 'out'), `127.0.0.1:${control}`);
    const began = performance.now();
    const procs = [
      start(process.execPath, [CLI, 'coordinator', '--config', runConfig(join(root, 'run.json')), '--data', data, '--workers', '2', '--port', String(control), '--bind', '127.0.0.1', '--out', join(root, 'out'), '--metrics-port', String(coordinatorMetrics), '--no-progress']),
      ...[w0, w1].map((port, i) => start(process.execPath, [CLI, 'worker', '--join', joinFile, '--work-dir', join(root, `w${i}`), '--register-timeout', '60', '--metrics-port', String(port)])),
      start(prometheusBin, [`--config.file=${join(root, 'prometheus.yml')}`, `--storage.tsdb.path=${join(root, 'tsdb')}`, `--web.listen-address=127.0.0.1:${web}`, '--log.level=warn']),
    ];
    const api = async <T>(path: string): Promise<T> => {
      const res = await fetch(`http://127.0.0.1:${web}${path}`);
      const body = (await res.json()) as ApiResponse<T>;
      if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? res.status}`);
      return body.data;
    };
    const query = async (expr: string) => (await api<{ resultType: string; result: unknown[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result;

    const dashboard = loadDashboard();
    const alerts = readAlertRules();
    t.deepEqual(MAY_BE_ABSENT.filter((n) => !FACEFILL_METRIC_NAMES.includes(n)), [], 'the metrics allowed to be absent must be exported ones');

    /** One round of every check: what does not hold yet, and what was absent but allowed to be. */
    const round = async (): Promise<{ misses: string[]; absent: string[] }> => {
      const misses: string[] = [];
      const absent: string[] = [];
      const ask = async (where: string, expr: string, want: 'data' | 'empty') => {
        try {
          const n = (await query(expr)).length;
          if (want === 'data' && n === 0) {
            if (metricNames(expr).every((m) => MAY_BE_ABSENT.includes(m))) absent.push(`${where}: ${expr}`);
            else misses.push(`${where} returned no data: ${expr}`);
          }
          if (want === 'empty' && n > 0) misses.push(`${where} holds on a healthy run (${n} series): ${expr}`);
        } catch (err) {
          misses.push(`${where} failed: ${(err as Error).message}`);
        }
      };
      for (const q of panelQueries(dashboard)) await ask(`panel '${q.panel}' ${q.refId}`, substitute(q.expr, VARIABLES), 'data');
      for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
        const selector = labelValuesSelector(variableQuery(v)) ?? '{__name__=~".+"}';
        const series = await api<Record<string, string>[]>(`/api/v1/series?match[]=${encodeURIComponent(selector)}`).catch(() => []);
        const workers = new Set(series.map((s) => s.instance));
        if (workers.size < 2) misses.push(`variable $${v.name}: ${selector} finds ${workers.size} instance(s), not the 2 workers`);
      }
      for (const a of alerts) {
        await ask(`alert ${a.alert}`, a.expr, 'empty');
        for (const s of new Set(vectorSelectors(a.expr).map((x) => x.text))) await ask(`alert ${a.alert} selector`, s, 'data');
      }
      const groups = await api<{ groups: { rules: AlertingRule[] }[] }>('/api/v1/rules?type=alert').catch(() => ({ groups: [] }));
      const loaded = new Map(groups.groups.flatMap((g) => g.rules).map((r) => [r.name, r]));
      for (const a of alerts) {
        const r = loaded.get(a.alert);
        if (!r) misses.push(`alert ${a.alert} is not loaded by Prometheus`);
        else if (r.health !== 'ok' || r.state !== 'inactive') misses.push(`alert ${a.alert} is ${r.health}/${r.state} ${r.lastError ?? ''}`);
      }
      return { misses, absent };
    };

    try {
      let last = { misses: ['no round ran'], absent: [] as string[] };
      while (performance.now() - began < DEADLINE_MS) {
        const exited = procs.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
        if (exited) {
          t.fail(`${exited.child.spawnfile} exited early:\n${exited.output()}`);
          return;
        }
        last = await round().catch((err: Error) => ({ misses: [`Prometheus not answering: ${err.message}`], absent: [] }));
        if (last.misses.length === 0) break;
        await sleep(1000);
      }
      t.deepEqual(last.misses, [], `after ${((performance.now() - began) / 1000).toFixed(1)} s; outputs:\n${procs.map((p) => p.output()).join('\n---\n')}`);
      for (const a of last.absent) t.log(`absent (allowed: no validation probe yet): ${a}`);
      t.log(`all queries answered ${((performance.now() - began) / 1000).toFixed(1)} s after the cluster started`);
    } finally {
      await Promise.all(procs.map((p) => new Promise((done) => (p.child.exitCode !== null || p.child.signalCode !== null ? done(null) : p.child.once('exit', done).kill('SIGKILL')))));
      rmSync(root, { recursive: true, force: true });
    }
  },
  true,
);
