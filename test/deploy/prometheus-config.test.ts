import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ExecutionContext } from 'ava';
import { ALERTS_FILE, PROMETHEUS_CONFIG, REPO, readAlertRules } from './_rules-file';
import { run, testWithTool } from './_tools';

// deploy/prometheus checked by promtool, the validator of the Prometheus these files are for.

const ALERTS = ['FacefillModeCollapse', 'FacefillWorkerDown', 'FacefillStepStalled', 'FacefillNonFiniteLoss', 'FacefillRepeatedRecoveries'];
const UNIT_TESTS = resolve(REPO, 'test/deploy/fixtures/alerts.test.yml');

// Debian builds Prometheus without Kubernetes service discovery (too many dependencies), so its
// promtool refuses `kubernetes_sd_configs`. The Kubernetes job is then checked with its
// discovery swapped for static targets that carry the labels Kubernetes discovery would attach
// to pods: everything else (relabelling included) is checked as written, and the relabelling is
// run on those pods with `promtool check service-discovery`.
const K8S_DISCOVERY = '    kubernetes_sd_configs:\n      - role: pod\n';
const SIMULATED_PODS = `    static_configs:
      # The coordinator: one target per declared container port (gRPC 7700, metrics 9400).
      - targets: ['10.0.0.7:7700', '10.0.0.7:9400']
        labels:
          __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'true'
          __meta_kubernetes_pod_annotation_prometheus_io_port: '9400'
          __meta_kubernetes_pod_ip: 10.0.0.7
          __meta_kubernetes_pod_phase: Running
          __meta_kubernetes_pod_label_app_kubernetes_io_component: coordinator
          __meta_kubernetes_namespace: ml
          __meta_kubernetes_pod_name: facefill-coordinator
          __meta_kubernetes_pod_node_name: cpu-1
      # A worker on an IPv6 pod network, metrics at a custom path.
      - targets: ['[fd00::7]:9401']
        labels:
          __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'true'
          __meta_kubernetes_pod_annotation_prometheus_io_port: '9401'
          __meta_kubernetes_pod_annotation_prometheus_io_path: /custom
          __meta_kubernetes_pod_ip: fd00::7
          __meta_kubernetes_pod_phase: Running
          __meta_kubernetes_pod_label_app_kubernetes_io_component: worker
          __meta_kubernetes_namespace: ml
          __meta_kubernetes_pod_name: facefill-worker-0
      # A worker that finished: not scraped (nor reported down).
      - targets: ['10.0.0.9:9401']
        labels:
          __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'true'
          __meta_kubernetes_pod_annotation_prometheus_io_port: '9401'
          __meta_kubernetes_pod_ip: 10.0.0.9
          __meta_kubernetes_pod_phase: Succeeded
          __meta_kubernetes_pod_label_app_kubernetes_io_component: worker
      # Another application's annotated pod: scraped under the job's own name.
      - targets: ['10.0.0.8:8080']
        labels:
          __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'true'
          __meta_kubernetes_pod_annotation_prometheus_io_port: '8080'
          __meta_kubernetes_pod_ip: 10.0.0.8
          __meta_kubernetes_pod_phase: Running
          __meta_kubernetes_pod_label_app_kubernetes_io_component: web
      # A pod that did not ask to be scraped.
      - targets: ['10.0.0.10:80']
        labels:
          __meta_kubernetes_pod_ip: 10.0.0.10
          __meta_kubernetes_pod_phase: Running
          __meta_kubernetes_pod_label_app_kubernetes_io_component: worker
`;

/** prometheus.yml (and its rule file) in a temporary folder, removed after the test, pods simulated as above. */
function simulatedConfig(t: ExecutionContext): string {
  const text = readFileSync(PROMETHEUS_CONFIG, 'utf8');
  if (text.split(K8S_DISCOVERY).length !== 2) throw new Error(`expected exactly one pod discovery block in ${PROMETHEUS_CONFIG}:\n${K8S_DISCOVERY}`);
  const dir = mkdtempSync(join(tmpdir(), 'facefill-prometheus-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'prometheus.yml'), text.replace(K8S_DISCOVERY, SIMULATED_PODS));
  copyFileSync(ALERTS_FILE, join(dir, 'alerts.yml'));
  return join(dir, 'prometheus.yml');
}

interface DiscoveredTarget {
  discoveredLabels: Record<string, string>;
  labels: Record<string, string>;
}

/** The targets `job` of `config` discovers, after relabelling (dropped ones left out). */
async function discover(t: ExecutionContext, promtool: string, config: string, job: string): Promise<Record<string, string>[]> {
  // Static targets arrive at once; promtool waits out its whole timeout (30 s by default).
  const r = await run(promtool, ['check', 'service-discovery', '--timeout=1s', config, job]);
  t.is(r.code, 0, r.stderr + r.stdout);
  const targets = JSON.parse(r.stdout) as DiscoveredTarget[];
  return targets.map((x) => x.labels).filter((labels) => Object.keys(labels).length > 0);
}

testWithTool('promtool', 'promtool check config: prometheus.yml and the alerts it loads are valid', async (t, promtool) => {
  const asWritten = await run(promtool, ['check', 'config', PROMETHEUS_CONFIG]);
  const output = asWritten.stdout + asWritten.stderr;
  if (asWritten.code !== 0 && /field kubernetes_sd_configs not found/.test(output)) {
    t.log('this promtool has no Kubernetes discovery (Debian build): checking the file with pods simulated by static targets');
    const simulated = await run(promtool, ['check', 'config', simulatedConfig(t)]);
    t.is(simulated.code, 0, simulated.stdout + simulated.stderr);
    t.regex(simulated.stdout, /SUCCESS: 1 rule files found/);
    t.regex(simulated.stdout, new RegExp(`SUCCESS: ${ALERTS.length} rules found`));
  } else {
    t.is(asWritten.code, 0, output);
    t.regex(asWritten.stdout, /SUCCESS: 1 rule files found/);
    t.regex(asWritten.stdout, new RegExp(`SUCCESS: ${ALERTS.length} rules found`));
  }
});

testWithTool('promtool', 'promtool check rules: alerts.yml holds the five alerts, each with a severity, as the tests read them', async (t, promtool) => {
  const r = await run(promtool, ['check', 'rules', ALERTS_FILE]);
  t.is(r.code, 0, r.stdout + r.stderr);
  const rules = readAlertRules();
  // promtool reads full YAML: its count proves the tests' reader missed no rule.
  t.regex(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  t.deepEqual(rules.map((x) => x.alert).sort(), [...ALERTS].sort());
  for (const rule of rules) t.true(rule.severity === 'warning' || rule.severity === 'critical', `${rule.alert}: severity ${rule.severity}`);
});

testWithTool('promtool', 'promtool test rules: each alert fires on a synthetic failure and stays quiet on a healthy run', async (t, promtool) => {
  const r = await run(promtool, ['test', 'rules', UNIT_TESTS]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /SUCCESS/);
  // Every alert has a case where it fires and one where it must not.
  const text = readFileSync(UNIT_TESTS, 'utf8');
  for (const alert of ALERTS) {
    const cases = [...text.matchAll(new RegExp(`alertname: ${alert}\\n\\s*exp_alerts:(.*)`, 'g'))].map((m) => m[1].trim());
    t.true(cases.includes('[]'), `${alert} has no case where it stays quiet`);
    t.true(cases.includes(''), `${alert} has no case where it fires`);
  }
});

testWithTool('promtool', 'Kubernetes pods: prometheus.io annotations choose pod, port and path; facefill pods join the facefill jobs', async (t, promtool) => {
  // promtool lists targets in no fixed order.
  const targets = (await discover(t, promtool, simulatedConfig(t), 'kubernetes-pods')).sort((a, b) => (a.__address__ < b.__address__ ? -1 : 1));
  const pick = (labels: Record<string, string>) => ({ job: labels.job, address: labels.__address__, path: labels.__metrics_path__, pod: labels.pod });
  // The coordinator's two container ports become one target (Prometheus scrapes it once).
  t.deepEqual(targets.map(pick), [
    { job: 'facefill-coordinator', address: '10.0.0.7:9400', path: '/metrics', pod: 'facefill-coordinator' },
    { job: 'kubernetes-pods', address: '10.0.0.8:8080', path: '/metrics', pod: undefined },
    { job: 'facefill-worker', address: '[fd00::7]:9401', path: '/custom', pod: 'facefill-worker-0' },
  ]);
  t.like(targets[0], { namespace: 'ml', node: 'cpu-1', instance: '10.0.0.7:9400' });
});

testWithTool('promtool', 'static targets: the compose services, scraped every 15 s, in the jobs the dashboard and alerts use', async (t, promtool) => {
  const config = simulatedConfig(t);
  const coordinator = await discover(t, promtool, config, 'facefill-coordinator');
  t.deepEqual(coordinator.map((l) => [l.job, l.instance, l.__scrape_interval__]), [['facefill-coordinator', 'coordinator:9400', '15s']]);
  const workers = await discover(t, promtool, config, 'facefill-worker');
  t.true(workers.length >= 1);
  for (const l of workers) {
    t.is(l.job, 'facefill-worker');
    t.regex(l.instance, /^worker-\d+:9401$/);
    t.is(l.__scrape_interval__, '15s');
  }
});
