import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix, relative } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { program } from '../../src/cli';
import { configFromFlags } from '../../src/commands/config-options';
import { resolveConfig } from '../../src/shared/config';
import { effectiveValue, type Invocation, isDeferred, type ParsedInvocation, parseInvocation, rawFlagValues, readCommandSpecs } from './_cli-spec';
import { DEPLOY, list, parseYamlDocuments, readText, readYamlDocuments, record, repoPath, REPO_ROOT, text, texts, yamlFilesIn } from './_deploy-files';
import { deployment, K8S_KUSTOMIZATION, K8S_OPTIONAL, lastExecForm, nameOf, objectsOfKind, runtimeStage } from './_deployment';
import { type DeployedProcess, facefillArgv, podTemplate } from './_deployed';
import { instructionsOf } from './_dockerfile';
import { documentedInvocations } from './_documented';
import { hostPort, listeningPorts } from './_facefill-ports';
import { composeJoinOrigin, k8sJoinOrigin, mountOf } from './_join-origin';
import { launchedWorkers } from './_launched-workers';
import { podFailureAction, retryBudget } from './_pod-failure-policy';
import { findShellInvocations } from './_shell-words';
import { dryRunSbatch, type GpuNumbering, type NodeCall, nodeGpus, sbatchOptions } from './_slurm-dry-run';
import { run as runTool, testIfTool } from './_tools';

// Static checks of deploy/: no Docker engine, cluster or Slurm runs here, so every command line,
// port, mount and config in the deployment files is checked against the CLI itself.
const specs = readCommandSpecs(program);

/** Parses a deployed process's command line, failing the test with every problem found. */
function parsed(p: { origin: string; argv: readonly string[] }): ParsedInvocation {
  const { problems, parsed: inv } = parseInvocation(p, specs);
  if (!inv) throw new Error(problems.join('\n'));
  return inv;
}
const flag = (inv: ParsedInvocation, name: string): string => {
  const v = effectiveValue(inv, specs, name);
  if (v === undefined) throw new Error(`${inv.origin}: no ${name}`);
  return v;
};
const byCommand = (procs: readonly DeployedProcess[], command: string) => procs.filter((p) => p.argv[0] === command);
const runtime = (file: string) => runtimeStage(deployment().dockerfiles, file);
const objectsNamed = (kind: string) => objectsOfKind(deployment(), kind);
const has = (inv: ParsedInvocation, name: string) => inv.values.has(name);

/**
 * The facefill processes a deployed command line runs: itself, or for `facefill workers` the
 * worker processes it starts (on the GPUs it names; `detected` is what the host's nvidia-smi lists).
 */
function processesOf(p: { origin: string; argv: readonly string[] }, detected?: readonly number[]): ParsedInvocation[] {
  const inv = parsed(p);
  return inv.command === 'workers' ? launchedWorkers(inv, specs, detected).map(parsed) : [inv];
}
/**
 * The address a worker dials: its --coordinator, else the --address its join file was made for
 * (by the compose credentials service, or for Kubernetes by the commands deploy/README.md shows).
 */
function dialledAddress(p: DeployedProcess, inv: ParsedInvocation): string {
  const given = inv.values.get('--coordinator')?.at(-1);
  if (given !== undefined) return given;
  const join = inv.values.get('--join')?.at(-1) ?? rawFlagValues(p.argv, '--join').at(-1);
  if (join === undefined) throw new Error(`${inv.origin}: neither --coordinator nor --join`);
  const origin = p.platform === 'compose' ? composeJoinOrigin(deployment().composeProcs, p, join) : k8sJoinOrigin(readText(README), p, join);
  const address = origin && rawFlagValues(origin.argv, '--address').at(-1);
  if (address === undefined) throw new Error(`${inv.origin}: its join file ${join} comes from no \`facefill credentials --address\``);
  return address;
}
const README = join(REPO_ROOT, 'deploy/README.md');

/** Every port the processes of a deployed command line listen on. */
const portsOf = (p: { origin: string; argv: readonly string[] }): number[] => [...new Set(processesOf(p).flatMap((i) => [...listeningPorts(i, specs).values()]))].sort();

test('every YAML file of deploy/compose and deploy/k8s parses, each document a mapping', (t) => {
  const k8sFiles = yamlFilesIn(DEPLOY.k8s);
  const files = [DEPLOY.compose, ...k8sFiles];
  t.true(k8sFiles.length >= 5, `k8s manifests found: ${k8sFiles.map(repoPath).join(', ')}`);
  for (const file of files) {
    let docs: unknown[] = [];
    try {
      docs = readYamlDocuments(file);
    } catch (err) {
      t.fail((err as Error).message);
    }
    t.true(docs.length > 0, repoPath(file));
    for (const [i, doc] of docs.entries()) t.notThrows(() => record(doc, `${repoPath(file)} document ${i + 1}`));
  }
  // Multi-document files count every document.
  t.is(readYamlDocuments(join(DEPLOY.k8s, 'coordinator.yaml')).length, 3);
});

test('the Kubernetes objects have apiVersion, kind and a name, no namespace, and the expected kinds', (t) => {
  const { k8sObjects, k8sFiles } = deployment();
  for (const { file, obj } of k8sObjects) {
    const where = `${repoPath(file)} ${String(obj.kind)}`;
    t.regex(text(obj.apiVersion, `${where} apiVersion`), /^([a-z0-9.-]+\/)?v\d+(beta\d+|alpha\d+)?$/, where);
    t.regex(text(obj.kind, `${where} kind`), /^[A-Z][A-Za-z]+$/, where);
    t.regex(nameOf(obj), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, where);
    t.is(record(obj.metadata, where).namespace, undefined, `${where}: namespace-agnostic manifests set no namespace`);
  }
  const kinds = k8sObjects.map(({ obj }) => `${String(obj.apiVersion)} ${String(obj.kind)}`).sort();
  for (const expected of ['v1 ConfigMap', 'v1 PersistentVolumeClaim', 'apps/v1 Deployment', 'v1 Service', 'batch/v1 Job', 'policy/v1 PodDisruptionBudget', 'networking.k8s.io/v1 NetworkPolicy']) {
    t.true(kinds.includes(expected), `missing ${expected}; found ${kinds.join(', ')}`);
  }
  const kustomization = record(readYamlDocuments(K8S_KUSTOMIZATION)[0], 'kustomization.yaml');
  t.is(kustomization.kind, 'Kustomization');
  t.is(kustomization.namespace, undefined);
  const listed = texts(kustomization.resources, 'kustomization resources');
  for (const r of listed) t.true(existsSync(join(DEPLOY.k8s, r)), `kustomization lists a missing ${r}`);
  const expected = k8sFiles.map((f) => basename(f)).filter((f) => f !== 'kustomization.yaml' && !K8S_OPTIONAL.includes(f));
  t.deepEqual([...listed].sort(), expected.sort(), 'kustomization.yaml lists every manifest but the optional ones');
});

test('every facefill command line in the Dockerfiles, compose file, manifests, Slurm script and deploy/README.md\'s shell blocks names a real command and only its flags', (t) => {
  const { dockerfiles, composeProcs, k8sProcs } = deployment();
  const found: Invocation[] = [];
  for (const [file, stages] of dockerfiles) {
    const stage = runtime(file);
    const argv = facefillArgv([...lastExecForm(stage, 'ENTRYPOINT'), ...lastExecForm(stage, 'CMD')]);
    t.truthy(argv, `${repoPath(file)}: ENTRYPOINT must start the facefill CLI`);
    found.push({ origin: `${repoPath(file)} ENTRYPOINT+CMD`, argv: argv ?? [] });
    for (const run of stages.flatMap((s) => instructionsOf(s, 'RUN'))) found.push(...findShellInvocations(run.args, `${repoPath(file)} RUN`));
  }
  found.push(...composeProcs, ...k8sProcs);
  const slurm = findShellInvocations(readText(DEPLOY.sbatch), repoPath(DEPLOY.sbatch));
  found.push(...slurm);
  const documented = documentedInvocations(readText(README), repoPath(README));
  t.true(documented.some((d) => d.argv[0] === 'credentials'), 'deploy/README.md shows how to make the credentials');
  found.push(...documented);
  const problems = found.flatMap((inv) => parseInvocation(inv, specs).problems);
  t.deepEqual(problems, []);
  // The extraction itself must see the commands each platform runs (workers directly, or through facefill workers).
  for (const [platform, procs] of [
    ['compose', composeProcs],
    ['k8s', k8sProcs],
    ['slurm', slurm],
  ] as const) {
    const commands = new Set(procs.map((p) => p.argv[0]));
    t.true(commands.has('coordinator') && (commands.has('worker') || commands.has('workers')), `${platform}: found ${[...commands].join(', ')}`);
  }
});

test('compose: each facefill service declares exactly its ports; workers reach the coordinator service on its --port, advertise their own name and get their own GPU', (t) => {
  const { composeProcs } = deployment();
  for (const p of composeProcs) t.deepEqual([...p.declaredPorts].sort(), portsOf(p), `${p.origin}: ports + expose must be what its processes listen on`);
  const [coordinator, ...others] = byCommand(composeProcs, 'coordinator');
  t.deepEqual(others, [], 'one coordinator');
  const services = composeProcs.filter((p) => p.argv[0] === 'worker' || p.argv[0] === 'workers');
  const workers = services.flatMap((p) => processesOf(p).map((inv) => ({ p, inv })));
  t.is(Number(flag(parsed(coordinator), '--workers')), workers.length, 'the coordinator waits for as many workers as the worker services start');
  for (const { p, inv } of workers) {
    const target = hostPort(dialledAddress(p, inv), inv.origin);
    t.true(coordinator.hostnames.includes(target.host), `${inv.origin}: it dials ${target.host}, not the coordinator service`);
    t.is(target.port, Number(flag(parsed(coordinator), '--port')), `${inv.origin}: the coordinator's port`);
    t.true(p.hostnames.includes(flag(inv, '--host')), `${inv.origin}: --host must be a name the other workers resolve to it`);
  }
  const gpuIds: string[] = [];
  for (const w of services) {
    const devices = list(record(record(record(w.container.deploy, `${w.origin} deploy`).resources, 'resources').reservations, 'reservations').devices, 'devices');
    t.is(devices.length, 1, `${w.origin}: one device reservation`);
    const device = record(devices[0], `${w.origin} device`);
    t.is(device.driver, 'nvidia', w.origin);
    t.true(texts(device.capabilities, 'capabilities').includes('gpu'), w.origin);
    const ids = texts(device.device_ids, `${w.origin} device_ids`);
    t.true(ids.length === 1 || (ids.length === 0 && device.count === 1 && services.length === 1), `${w.origin}: one GPU each, by device_ids when several workers share the host`);
    t.is(processesOf(w).length, 1, `${w.origin}: one worker for its one GPU`);
    gpuIds.push(...ids);
  }
  t.is(new Set(gpuIds).size, gpuIds.length, `no GPU is given to two workers: ${gpuIds.join(', ')}`);
});

test('compose: the coordinator is restarted when it fails and resumes the run on its volume; a crashed worker is restarted, one that exited 0, 2 or 3 is not', (t) => {
  const { composeProcs } = deployment();
  const [coordinator] = byCommand(composeProcs, 'coordinator');
  const inv = parsed(coordinator);
  t.regex(String(coordinator.container.restart), /^on-failure(:\d+)?$/, `${coordinator.origin}: restart: on-failure`);
  t.true(has(inv, '--resume'), `${coordinator.origin}: a restarted coordinator must take up the run (--resume)`);
  const out = mountOf(coordinator, flag(inv, '--out'));
  t.regex(out?.source ?? 'none', /^volume:/, `${coordinator.origin}: --out must be on a named volume, which outlives the container`);
  t.false(out?.readOnly, `${coordinator.origin}: --out is written`);
  const services = composeProcs.filter((p) => p.argv[0] === 'worker' || p.argv[0] === 'workers');
  t.true(services.length > 0);
  for (const w of services) {
    // Docker's on-failure cannot spare exit codes 2 and 3, and always/unless-stopped restart a finished worker too.
    const workers = parsed(w);
    t.is(workers.command, 'workers', `${w.origin}: facefill workers restarts crashed workers by the exit-code contract`);
    t.true(Number(flag(workers, '--max-restarts')) >= 1, `${w.origin}: --max-restarts`);
    t.true(w.container.restart === undefined || w.container.restart === 'no', `${w.origin}: restart: ${String(w.container.restart)} would restart exit codes 2 and 3`);
    t.true(seconds(text(w.container.stop_grace_period ?? '10s', 'stop_grace_period')) > Number(flag(workers, '--grace')), `${w.origin}: stop_grace_period must outlast facefill workers --grace`);
  }
});

/** A compose duration such as `30s`, `1m30s` or `1m`, in seconds. */
function seconds(duration: string): number {
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us)/g)];
  if (parts.length === 0 || parts.map((m) => m[0]).join('') !== duration) throw new Error(`'${duration}' is not a compose duration`);
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6 };
  return parts.reduce((sum, m) => sum + Number(m[1]) * unit[m[2]], 0);
}

test('Kubernetes: containerPorts are what each container listens on, Services and probes target them, scrape annotations name the metrics port', (t) => {
  const { k8sProcs } = deployment();
  for (const p of k8sProcs) {
    const listening = listeningPorts(parsed(p), specs);
    t.deepEqual([...p.declaredPorts].sort(), [...listening.values()].sort(), `${p.origin}: containerPorts`);
    const annotations = record(p.pod?.metadata.annotations ?? {}, `${p.origin} annotations`);
    const metrics = listening.get('--metrics-port');
    if (metrics !== undefined) {
      t.is(annotations['prometheus.io/scrape'], 'true', `${p.origin}: scrape annotation`);
      t.is(annotations['prometheus.io/port'], String(metrics), `${p.origin}: prometheus.io/port must be its --metrics-port`);
      t.is(annotations['prometheus.io/path'], '/metrics', p.origin);
    } else {
      t.not(annotations['prometheus.io/scrape'], 'true', `${p.origin}: serves no metrics`);
    }
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      const spec = p.container[probe];
      if (spec === undefined) continue;
      const get = record(record(spec, `${p.origin} ${probe}`).httpGet, `${p.origin} ${probe}.httpGet`);
      t.is(resolveContainerPort(p, get.port), metrics, `${p.origin} ${probe}: the HTTP endpoint is /metrics on --metrics-port`);
      t.is(get.path, '/metrics', `${p.origin} ${probe}`);
    }
    // Kubernetes leaves $(NAME) as is when the container defines no NAME.
    const env = new Map(list(p.container.env, `${p.origin} env`).map((e) => [text(record(e, 'env').name, 'env name'), record(e, 'env')]));
    for (const word of p.argv) for (const m of word.matchAll(/\$\((\w+)\)/g)) t.true(env.has(m[1]), `${p.origin}: $(${m[1]}) in args but no env ${m[1]}`);
  }
  const coordinators = byCommand(k8sProcs, 'coordinator');
  t.is(coordinators.length, 1);
  const coordinator = coordinators[0];
  t.truthy(coordinator.container.readinessProbe, 'the coordinator has a readiness probe');
  for (const service of objectsNamed('Service')) {
    const selector = record(record(service.spec, 'Service spec').selector, `Service ${nameOf(service)} selector`);
    const selected = k8sProcs.filter((p) => Object.entries(selector).every(([k, v]) => record(p.pod?.metadata.labels ?? {}, 'labels')[k] === v));
    t.true(selected.length > 0, `Service ${nameOf(service)} selects no facefill pod`);
    for (const sp of list(record(service.spec, 'spec').ports, 'Service ports')) {
      const servicePort = record(sp, `Service ${nameOf(service)} port`);
      for (const p of selected) t.is(resolveContainerPort(p, servicePort.targetPort ?? servicePort.port), Number(servicePort.port), `Service ${nameOf(service)} port ${String(servicePort.port)} → ${p.origin}`);
    }
  }
  for (const w of byCommand(k8sProcs, 'worker')) {
    const inv = parsed(w);
    const target = hostPort(dialledAddress(w, inv), w.origin);
    const service = objectsNamed('Service').find((s) => nameOf(s) === target.host.split('.')[0]);
    t.truthy(service, `${w.origin}: it dials ${target.host}, which is no Service`);
    const servicePort = list(record(service?.spec, 'spec').ports, 'ports').map((sp) => record(sp, 'port')).find((sp) => Number(sp.port) === target.port);
    t.truthy(servicePort, `${w.origin}: Service has no port ${target.port}`);
    t.is(resolveContainerPort(coordinator, servicePort?.targetPort ?? servicePort?.port), Number(flag(parsed(coordinator), '--port')), `${w.origin}: the Service port reaches the coordinator's --port`);
    // --host is the pod IP, from the downward API.
    const host = /^\$\((\w+)\)$/.exec(flag(inv, '--host'));
    t.truthy(host, `${w.origin}: --host must be $(ENV) from the pod IP`);
    const env = list(w.container.env, 'env').map((e) => record(e, 'env')).find((e) => e.name === host?.[1]);
    t.is(record(record(env?.valueFrom, 'valueFrom').fieldRef, 'fieldRef').fieldPath, 'status.podIP', `${w.origin}: --host env`);
    t.is(record(record(w.container.resources, 'resources').limits, 'limits')['nvidia.com/gpu'], 1, `${w.origin}: one GPU`);
    const job = w.pod?.owner ?? {};
    const jobSpec = record(job.spec, `${w.origin} owner spec`);
    t.is(job.kind === 'Job' ? jobSpec.completionMode : 'Indexed', 'Indexed', `${w.origin}: an Indexed Job (or a StatefulSet)`);
    const replicas = job.kind === 'Job' ? jobSpec.completions : jobSpec.replicas;
    t.is(replicas, Number(flag(parsed(coordinator), '--workers')), `${w.origin}: as many worker pods at the start as the coordinator's --workers (the first ring waits for that many)`);
    if (job.kind === 'Job') t.is(jobSpec.parallelism, replicas, `${w.origin}: all workers run at once (synchronous training)`);
  }
  const workload = objectsNamed('Deployment').find((d) => nameOf(d) === coordinator.name);
  const spec = record(workload?.spec, 'coordinator Deployment spec');
  t.is(spec.replicas, 1, 'one coordinator');
  t.is(record(spec.strategy, 'strategy').type, 'Recreate', 'never two coordinators on the run folder');
  const matchLabels = record(record(spec.selector, 'selector').matchLabels, 'matchLabels');
  for (const [k, v] of Object.entries(matchLabels)) t.is(record(coordinator.pod?.metadata.labels, 'labels')[k], v, `selector ${k}`);
});

test('Kubernetes: the coordinator resumes its run from a PersistentVolumeClaim behind a stable Service; failed worker pods are replaced unless they exited 2 or 3', (t) => {
  const { k8sProcs } = deployment();
  const [coordinator] = byCommand(k8sProcs, 'coordinator');
  const inv = parsed(coordinator);
  t.true(has(inv, '--resume'), `${coordinator.origin}: a restarted coordinator must take up the run (--resume)`);
  const outPath = flag(inv, '--out');
  t.false(isDeferred(outPath), `${coordinator.origin}: --out ${outPath} must name the same folder in every pod the Deployment starts`);
  const out = mountOf(coordinator, outPath);
  const claim = /^pvc:(.+)$/.exec(out?.source ?? '')?.[1];
  t.truthy(claim, `${coordinator.origin}: --out must be on a PersistentVolumeClaim, not ${out?.source ?? 'no volume'}`);
  t.true(objectsNamed('PersistentVolumeClaim').some((c) => nameOf(c) === claim), `no PersistentVolumeClaim ${String(claim)}`);
  t.false(out?.readOnly, `${coordinator.origin}: --out is written`);
  t.is(coordinator.pod?.owner.kind, 'Deployment', 'a Deployment starts the coordinator again whenever it stops');
  t.true(coordinator.pod?.spec.restartPolicy === undefined || coordinator.pod.spec.restartPolicy === 'Always');
  t.false(has(inv, '--exit-when-done'), 'the Deployment would restart a coordinator that exits once its run finished');
  const services = objectsNamed('Service').filter((s) => selects(record(record(s.spec, 'Service spec').selector, 'selector'), coordinator));
  t.true(services.length > 0, 'a Service gives the coordinator a name that outlives its pods');
  // A coordinator stopped with SIGTERM stops the run: voluntary evictions must be refused.
  const budgets = objectsNamed('PodDisruptionBudget').filter((b) => selects(record(record(record(b.spec, 'PDB spec').selector, 'selector').matchLabels, 'matchLabels'), coordinator));
  t.is(budgets.length, 1, 'one PodDisruptionBudget covers the coordinator');
  const budget = record(budgets[0]?.spec, 'PDB spec');
  t.true(budget.maxUnavailable === 0 || budget.minAvailable === 1 || budget.minAvailable === '100%', `the budget allows no voluntary eviction: ${JSON.stringify(budget)}`);

  const workers = byCommand(k8sProcs, 'worker');
  t.true(workers.length > 0);
  const maxWorkers = Number(flag(inv, '--workers'));
  const minWorkers = Number(flag(inv, '--min-workers'));
  t.true(minWorkers >= 1 && minWorkers <= maxWorkers, `--min-workers ${minWorkers} must be within 1..--workers ${maxWorkers}`);
  for (const w of workers) {
    const job = w.pod?.owner ?? {};
    t.is(job.kind, 'Job', `${w.origin}: a Job (a Deployment or StatefulSet would start a finished worker again)`);
    const spec = record(job.spec, `${w.origin} Job spec`);
    t.is(w.pod?.spec.restartPolicy, 'Never', `${w.origin}: the Job replaces failed pods (a podFailurePolicy needs restartPolicy Never)`);
    const container = text(w.container.name, 'container name');
    const action = (exitCode: number, conditions: string[] = []) => podFailureAction(spec, { exitCodes: { [container]: exitCode }, conditions });
    const { retries, perIndex } = retryBudget(spec);
    t.true(retries >= 1, `${w.origin}: a crashed worker must be replaced at least once (retries ${retries})`);
    for (const code of [1, 137]) t.is(action(code), 'Count', `${w.origin}: exit ${code} (the worker's own failure, an OOM kill) is retried`);
    for (const code of [2, 3]) t.true(['FailJob', 'FailIndex'].includes(action(code)), `${w.origin}: exit ${code} must not be retried, got ${action(code)}`);
    t.is(action(3, ['DisruptionTarget']), 'Ignore', `${w.origin}: an evicted, preempted or drained worker (SIGTERM: exit 3) is replaced, not counted`);
    const failIndex = list(record(spec.podFailurePolicy ?? {}, 'podFailurePolicy').rules, 'rules').some((r) => record(r, 'rule').action === 'FailIndex');
    if (failIndex) t.true(perIndex, `${w.origin}: FailIndex needs backoffLimitPerIndex`);
    t.is(spec.completionMode, 'Indexed', `${w.origin}: an Indexed Job can be resized (completions and parallelism together)`);
    t.true(minWorkers <= Number(spec.completions), `${w.origin}: the Job starts at least --min-workers workers`);
  }
});

/** Whether a label selector (matchLabels or a Service's selector) selects a process's pod. */
function selects(selector: Record<string, unknown>, p: DeployedProcess): boolean {
  const labels = record(p.pod?.metadata.labels ?? {}, `${p.origin} labels`);
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The containerPort a probe or Service targets: a number, or the name of one of the container's ports. */
function resolveContainerPort(p: DeployedProcess, target: unknown): number | undefined {
  if (typeof target === 'number') return p.declaredPorts.includes(target) ? target : undefined;
  const named = list(p.container.ports, 'ports').map((x) => record(x, 'port')).find((x) => x.name === target);
  return named ? Number(named.containerPort) : undefined;
}

test('the images EXPOSE exactly the ports the deployed containers listen on', (t) => {
  const { dockerfiles, composeProcs, k8sProcs } = deployment();
  const listening = new Set([...composeProcs, ...k8sProcs].flatMap(portsOf));
  for (const file of dockerfiles.keys()) {
    const exposed = instructionsOf(runtime(file), 'EXPOSE').flatMap((e) => e.args.split(' ').map((p) => Number(p.split('/')[0])));
    t.deepEqual(exposed.sort(), [...listening].sort(), `${repoPath(file)} EXPOSE`);
  }
});

test('the run configs are valid partial configs, and the global batch and --min-workers fit the workers', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'facefill-deploy-config-'));
  const { composeProcs, k8sProcs } = deployment();
  const coordinators = byCommand([...composeProcs, ...k8sProcs], 'coordinator');
  t.is(coordinators.length, 2, 'a coordinator in compose and in Kubernetes');
  for (const [i, c] of coordinators.entries()) {
    const inv = parsed(c);
    const path = flag(inv, '--config');
    const content = readMounted(c, path);
    const partial: unknown = JSON.parse(content);
    t.notThrows(() => record(partial, `${c.origin} ${path}`));
    const file = join(dir, `config-${i}.json`);
    writeFileSync(file, content);
    const alone = resolveConfig({ file });
    const preset = record(partial, 'config').preset;
    t.is(alone.preset, typeof preset === 'string' ? preset : 'default', `${c.origin}: the file's preset applies`);
    // As the coordinator resolves it, with the config flags passed next to --config.
    const n = (name: string) => (inv.values.has(name) ? Number(flag(inv, name)) : undefined);
    const config = configFromFlags({ preset: inv.values.get('--preset')?.at(-1), config: file, set: [...(inv.values.get('--set') ?? [])], steps: n('--steps'), batchSize: n('--batch-size'), seed: n('--seed'), minWorkers: n('--min-workers') });
    const workers = Number(flag(inv, '--workers'));
    // As the coordinator requires: every worker of the largest ring gets at least one sample a step.
    t.true(config.data.batchSize >= workers, `${c.origin}: data.batchSize ${config.data.batchSize} is smaller than --workers ${workers}`);
    t.true(config.cluster.minWorkers <= workers, `${c.origin}: cluster.minWorkers ${config.cluster.minWorkers} exceeds --workers ${workers}`);
  }
});

/** The text of a file a process reads from one of its mounts (a host file in compose, a ConfigMap key in Kubernetes). */
function readMounted(p: DeployedProcess, path: string): string {
  const mount = mountOf(p, path);
  if (!mount) throw new Error(`${p.origin}: ${path} is on no volume`);
  if (mount.source.startsWith('file:')) {
    const host = join(mount.source.slice('file:'.length), posix.relative(mount.target, path));
    if (!existsSync(host)) throw new Error(`${p.origin}: ${path} is mounted from ${host}, which does not exist`);
    return readText(host);
  }
  if (mount.source.startsWith('configMap:')) {
    const map = objectsNamed('ConfigMap').find((m) => nameOf(m) === mount.source.slice('configMap:'.length));
    const value = record(map?.data, `${mount.source} data`)[posix.relative(mount.target, path)];
    return text(value, `${mount.source} key ${posix.relative(mount.target, path)}`);
  }
  throw new Error(`${p.origin}: ${path} comes from ${mount.source}, which this test cannot read`);
}

test('every path a facefill container reads or writes is on a volume, writable where it writes; the dataset ingested is the one the coordinator reads', (t) => {
  const { compose, composeProcs, k8sProcs } = deployment();
  const reads = ['--data', '--config', '--source', '--credentials', '--join'];
  const writes = ['--out', '--work-dir'];
  for (const p of [...composeProcs, ...k8sProcs]) {
    for (const inv of processesOf(p)) {
      for (const name of [...reads, ...writes]) {
        for (const value of inv.values.get(name) ?? []) {
          if (!value.startsWith('/')) continue;
          const mount = mountOf(p, value);
          t.truthy(mount, `${inv.origin}: ${name} ${value} is on no volume (it would vanish with the container)`);
          if (writes.includes(name)) t.false(mount?.readOnly, `${inv.origin}: ${name} ${value} is on a read-only mount`);
        }
      }
    }
  }
  for (const procs of [composeProcs, k8sProcs]) {
    const [coordinator] = byCommand(procs, 'coordinator');
    const data = flag(parsed(coordinator), '--data');
    for (const ingest of byCommand(procs, 'ingest')) {
      t.is(flag(parsed(ingest), '--out'), data, `${ingest.origin}: writes the dataset the coordinator reads`);
      t.is(mountOf(ingest, data)?.source, mountOf(coordinator, data)?.source, `${ingest.origin}: the same volume`);
    }
  }
  // Prometheus and Grafana read the observability files kept beside these (not checked here).
  const services = record(compose.services, 'services');
  const mounts = (prefix: string) =>
    Object.values(services)
      .map((s) => record(s, 'service'))
      .filter((s) => String(s.image).startsWith(prefix))
      .flatMap((s) => texts(s.volumes, 'volumes'))
      .filter((v) => v.startsWith('.'))
      .map((v) => {
        const [source, target] = v.split(':');
        return `${repoPath(join(DEPLOY.compose, '..', source))} -> ${target}`;
      })
      .sort();
  t.deepEqual(mounts('prom/prometheus'), ['deploy/prometheus/alerts.yml -> /etc/prometheus/alerts.yml', 'deploy/prometheus/prometheus.yml -> /etc/prometheus/prometheus.yml']);
  t.deepEqual(mounts('grafana/grafana'), ['grafana/dashboards -> /var/lib/grafana/dashboards', 'grafana/provisioning -> /etc/grafana/provisioning']);
});

test('the Dockerfiles: CUDA and cuDNN for tfjs-node-gpu 4.x, Node 20, npm ci and the build, a non-root user, the CLI as entrypoint', (t) => {
  const pkg = record(JSON.parse(readText(join(REPO_ROOT, 'package.json'))), 'package.json');
  // The CUDA 11.2 / cuDNN 8 choice holds for tfjs-node-gpu 4.x (libtensorflow 2.9.1): recheck on a major upgrade.
  t.regex(text(record(pkg.optionalDependencies, 'optionalDependencies')['@tensorflow/tfjs-node-gpu'], 'tfjs-node-gpu'), /^\^?4\./);
  const { dockerfiles } = deployment();
  const gpu = dockerfiles.get(DEPLOY.dockerGpu) ?? [];
  const cpu = dockerfiles.get(DEPLOY.dockerCpu) ?? [];
  t.regex(runtime(DEPLOY.dockerGpu).image, /^nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-ubuntu\d+\.\d+$/);
  t.true(gpu.some((s) => /^node:20-/.test(s.image)), 'Node 20 comes from the official node:20 image');
  t.is(runtime(DEPLOY.dockerCpu).image, 'node:20-bookworm-slim');
  for (const [file, stages] of dockerfiles) {
    const runs = stages.flatMap((s) => instructionsOf(s, 'RUN').map((r) => r.args));
    t.true(runs.some((r) => /\bnpm ci\b/.test(r)), `${repoPath(file)}: npm ci`);
    t.true(runs.some((r) => /\bnpm run build\b/.test(r)), `${repoPath(file)}: npm run build`);
    t.false(runs.some((r) => /--omit=optional|--no-optional/.test(r)), `${repoPath(file)}: omitting optional deps drops sharp's binaries`);
    t.true(stages.length >= 2, `${repoPath(file)}: a multi-stage build`);
    const final = runtime(file);
    const user = instructionsOf(final, 'USER').at(-1)?.args;
    t.truthy(user, `${repoPath(file)}: USER`);
    t.false(/^(root|0)(:|$)/.test(user ?? 'root'), `${repoPath(file)}: runs as a non-root user`);
    t.deepEqual(lastExecForm(final, 'ENTRYPOINT'), ['node', 'dist/src/cli.js']);
    const copies = instructionsOf(final, 'COPY').map((c) => c.args);
    t.true(copies.some((c) => /--from=\S+ \/app\/dist /.test(c)), `${repoPath(file)}: the compiled dist/ from the build stage`);
    t.true(copies.some((c) => /^proto \S*proto$/.test(c)), `${repoPath(file)}: proto/ (the control plane reads facefill.proto at run time)`);
    // Native addons must be installed on the OS they run on.
    const depsStage = stages.find((s) => instructionsOf(s, 'RUN').some((r) => /\bnpm ci\b.*--omit=dev/.test(r.args)));
    t.is(depsStage?.image, final.image, `${repoPath(file)}: production node_modules installed on the runtime image`);
    t.true(copies.some((c) => c.startsWith(`--from=${depsStage?.name ?? '?'} /app/node_modules`)), `${repoPath(file)}: node_modules from that stage`);
  }
  const gpuRuns = gpu.flatMap((s) => instructionsOf(s, 'RUN').map((r) => r.args)).join('\n');
  t.regex(gpuRuns, /tfjs-node-gpu\/lib\/napi-v\*\/tfjs_binding\.node/, 'the GPU build fails when npm silently skipped tfjs-node-gpu');
  const cpuRuns = cpu.flatMap((s) => instructionsOf(s, 'RUN').map((r) => r.args)).join('\n');
  t.regex(cpuRuns, /rm -rf node_modules\/@tensorflow\/tfjs-node-gpu/, 'the CPU image leaves tfjs-node-gpu out');
});

test('the Slurm script passes bash -n', (t) => {
  const r = spawnSync('bash', ['-n', DEPLOY.sbatch], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
});

/** The allocation the #SBATCH header asks for, as a dry run's job. */
function headerJob(numbering: GpuNumbering, over: { gpusPerNode?: string; restartCount?: number; exitCodes?: Record<string, number> } = {}) {
  const header = sbatchOptions(readText(DEPLOY.sbatch));
  const nodes = Array.from({ length: Number(header.get('--nodes')) }, (_, i) => `gpu-a${String(i + 1).padStart(2, '0')}`);
  return {
    nodes,
    tasksPerNode: Number(header.get('--ntasks-per-node') ?? 1),
    gpusPerNode: over.gpusPerNode ?? header.get('--gpus-per-node') ?? '',
    cpusPerTask: Number(header.get('--cpus-per-task') ?? 1),
    gpuNumbering: numbering,
    restartCount: over.restartCount,
    exitCodes: over.exitCodes,
  };
}

/** The facefill command lines of a dry run, parsed, with where each ran. */
function dryRunInvocations(t: ExecutionContext, calls: readonly NodeCall[]) {
  return calls.map((c) => {
    t.regex(c.args[0] ?? '', /(^|\/)dist\/src\/cli\.js$/, 'node runs the built CLI');
    return { call: c, inv: parsed({ origin: `dry run ${c.node} task ${c.localId || 'batch'}`, argv: c.args.slice(1) }) };
  });
}

for (const [numbering, gpusPerNode] of [
  ['relative', undefined],
  ['global', 'a100:4'],
] as [GpuNumbering, string | undefined][]) {
  test(`Slurm dry run (GPUs numbered ${numbering}${gpusPerNode ? `, --gpus-per-node=${gpusPerNode}` : ''}): the coordinator on the first node, facefill workers on every node with one worker per GPU, each on its own GPU and metrics port`, (t) => {
    const header = sbatchOptions(readText(DEPLOY.sbatch));
    t.truthy(header.get('--gpus-per-node'), '#SBATCH --gpus-per-node');
    const job = headerJob(numbering, { gpusPerNode });
    t.true(job.nodes.length > 0, '#SBATCH --nodes');
    const perNode = Number(job.gpusPerNode.slice(job.gpusPerNode.lastIndexOf(':') + 1));
    const gpus = nodeGpus(numbering, perNode);
    const run = dryRunSbatch(DEPLOY.sbatch, job);
    t.is(run.status, 0, `${run.stdout}\n${run.stderr}`);
    const invs = dryRunInvocations(t, run.calls);
    const coordinators = invs.filter((x) => x.inv.command === 'coordinator');
    t.is(coordinators.length, 1);
    const { call: cc, inv: coordinator } = coordinators[0];
    t.is(cc.node, job.nodes[0], 'the coordinator runs on the first node');
    t.true(has(coordinator, '--exit-when-done'), 'the job ends with the run');
    const launchers = invs.filter((x) => x.inv.command === 'workers');
    t.deepEqual(launchers.map((l) => l.call.node).sort(), [...job.nodes].sort(), 'one facefill workers per node');
    t.true(invs.every((x) => x.inv.command === 'coordinator' || x.inv.command === 'workers'), `only the coordinator and facefill workers: ${invs.map((x) => x.inv.command).join(', ')}`);
    let started = 0;
    for (const { call, inv } of launchers) {
      const node = call.node;
      t.false(call.args.some(isDeferred), `${node}: every word expanded: ${call.args.join(' ')}`);
      t.is(flag(inv, '--gpus'), call.cudaVisibleDevices, `${node}: facefill workers runs on the GPUs Slurm gave the task`);
      t.is(flag(inv, '--coordinator'), `${job.nodes[0]}:${flag(coordinator, '--port')}`, node);
      t.true(Number(flag(inv, '--max-restarts')) >= 1, `${node}: crashed workers are restarted`);
      // What it starts, as the CLI builds it, on a host whose nvidia-smi lists gpus.listed.
      const workers = launchedWorkers(inv, specs, gpus.listed);
      started += workers.length;
      t.is(workers.length, perNode, `${node}: one worker per GPU`);
      t.deepEqual(workers.map((w) => w.env.CUDA_VISIBLE_DEVICES).sort(), gpus.job.map(String).sort(), `${node}: each worker alone on one of the job's GPUs`);
      const ports = workers.flatMap((w) => [...listeningPortsOrZero(parsed(w))]);
      if (node === job.nodes[0]) ports.push(Number(flag(coordinator, '--port')), Number(flag(coordinator, '--metrics-port')));
      t.is(new Set(ports).size, ports.length, `${node}: no port used twice: ${ports.join(', ')}`);
    }
    t.is(Number(flag(coordinator, '--workers')), started, 'the coordinator waits for as many workers as the job starts');
  });
}

/** The fixed ports a worker listens on (0, any free port, left out). */
function listeningPortsOrZero(inv: ParsedInvocation): number[] {
  return ['--data-port', '--metrics-port'].map((f) => Number(effectiveValue(inv, specs, f))).filter((p) => p !== 0);
}

test('Slurm: the job is requeued after a node failure or preemption and the coordinator resumes the same run folder; one failed worker does not end the step; the job ends as the run did', (t) => {
  const header = sbatchOptions(readText(DEPLOY.sbatch));
  t.true(header.has('--requeue') && !header.has('--no-requeue'), '#SBATCH --requeue');
  t.is(header.get('--open-mode'), 'append', '#SBATCH --open-mode=append: a requeued job adds to its log instead of truncating it');
  // Each dry run has a checkout of its own: compare run folders relative to it.
  const coordinatorOf = (run: ReturnType<typeof dryRunSbatch>) => {
    t.is(run.status, 0, `${run.stdout}\n${run.stderr}`);
    const found = dryRunInvocations(t, run.calls).filter((x) => x.inv.command === 'coordinator');
    t.is(found.length, 1);
    return { inv: found[0].inv, out: relative(run.submitDir, flag(found[0].inv, '--out')) };
  };
  const first = coordinatorOf(dryRunSbatch(DEPLOY.sbatch, headerJob('relative')));
  const requeued = coordinatorOf(dryRunSbatch(DEPLOY.sbatch, headerJob('relative', { restartCount: 1 })));
  for (const c of [first, requeued]) t.true(has(c.inv, '--resume'), `${c.inv.origin}: --resume, on the first start as after a requeue`);
  t.is(requeued.out, first.out, 'a requeued job finds the run folder of its first start');
  t.false(first.out.startsWith('..'), `the run folder is in the checkout, which every node sees: ${first.out}`);
  t.true(first.out.includes('4242'), `the run folder is the job's own: ${first.out}`);
  const min = Number(flag(first.inv, '--min-workers'));
  t.true(min >= 1 && min <= Number(flag(first.inv, '--workers')), `--min-workers ${min} within 1..--workers`);

  const run = dryRunSbatch(DEPLOY.sbatch, headerJob('relative'));
  const step = run.srunOptions.filter((o) => o.some((w) => /(^|\/)cli\.js/.test(w)));
  t.is(step.length, 1, 'one srun step runs the workers');
  t.true(step[0].includes('--kill-on-bad-exit=0'), `srun --kill-on-bad-exit=0 (a site's KillOnBadExit=1 would end every node's workers when one fails): ${step[0].slice(0, 4).join(' ')}`);
  t.true(step[0].includes('--ntasks-per-node=1'), 'one facefill workers task per node');

  // The job's exit status is the coordinator's: a run that finished while a worker was stopped (3) is a success.
  t.is(dryRunSbatch(DEPLOY.sbatch, headerJob('relative', { exitCodes: { workers: 3 } })).status, 0, 'finished run, a worker stopped');
  t.is(dryRunSbatch(DEPLOY.sbatch, headerJob('relative', { exitCodes: { coordinator: 1 } })).status, 1, 'failed run');
});

test('Prometheus finds every facefill metrics endpoint: the compose services as static targets, the pods by their component label', (t) => {
  const { composeProcs, k8sProcs } = deployment();
  const file = join(REPO_ROOT, 'deploy/prometheus/prometheus.yml');
  if (!existsSync(file)) {
    t.log(`${repoPath(file)} is not there yet: nothing to cross-check`);
    t.pass();
    return;
  }
  const scrapes = list(record(readYamlDocuments(file)[0], repoPath(file)).scrape_configs, 'scrape_configs').map((s) => record(s, 'scrape_config'));
  const targets = scrapes.flatMap((s) => list(s.static_configs, 'static_configs').flatMap((c) => texts(record(c, 'static_config').targets, 'targets')));
  for (const p of composeProcs) {
    for (const inv of processesOf(p)) {
      const metrics = listeningPorts(inv, specs).get('--metrics-port');
      if (metrics !== undefined) t.true(targets.includes(`${p.name}:${metrics}`), `${inv.origin}: ${p.name}:${metrics} is no static target of ${repoPath(file)} (${targets.join(', ')})`);
    }
  }
  for (const p of k8sProcs) {
    if (!listeningPorts(parsed(p), specs).has('--metrics-port')) continue;
    t.is(record(p.pod?.metadata.labels, `${p.origin} labels`)['app.kubernetes.io/component'], p.argv[0], `${p.origin}: the component label names its job`);
  }
});

test('the checks catch what the CLI would refuse, and find command lines where a shell would run them', (t) => {
  const problems = (...argv: string[]) => parseInvocation({ origin: 'case', argv }, specs).problems;
  t.deepEqual(problems('worker', '--coordinator', 'c:7700', '--data-port', '7701'), []);
  t.regex(problems('wroker', '--coordinator', 'c:7700').join(), /not a facefill command/);
  t.regex(problems('worker', '--coordinator', 'c:7700', '--dataport', '7701').join(), /has no flag --dataport/);
  t.regex(problems('worker', '--coordinator=c:7700', '--backend=cuda').join(), /--backend cuda/);
  t.regex(problems('worker', '--coordinator=c:7700', '--data-port=77o1').join(), /whole number/);
  t.regex(problems('credentials', '--out', 'c').join(), /needs --address/);
  t.deepEqual(problems('credentials', '--out', 'c', '--address', 'a:7700', '--san', 'b', '--san', 'c'), [], '--san is repeatable');
  t.regex(problems('coordinator', '--data', 'd', '--workers', '2', '--exit-when-done=yes').join(), /switch/);
  t.regex(problems('coordinator', '--data', 'd', '--workers', '2', '--port', '1', '--port', '2').join(), /twice/);
  t.deepEqual(problems('coordinator', '--data', 'd', '--workers', '2', '--set', 'a.b=1', '--set', 'c.d=2'), []);
  t.regex(problems('workers', '--coordinator', 'c:7700', '--gpus', 'all', '--', '--data-port', '7701', '--metrics-port', '9500').join(), /would override/);
  t.regex(problems('workers', '--coordinator', 'c:7700', '--gpus', 'all', '--', '--bogus').join(), /has no flag --bogus/);
  t.regex(problems('workers', '--join', 'j.json', '--gpus', 'all', '--', '--join', 'k.json').join(), /--join after -- would override/);
  t.deepEqual(problems('--help'), []);
  const found = (script: string) => findShellInvocations(script, 's').map((i) => i.argv.join(' '));
  t.deepEqual(found('useradd --gid facefill --shell /bin/false facefill && chown facefill:facefill /x'), []);
  t.deepEqual(found(`srun --ntasks=2 bash -c '\n  exec node "$H/dist/src/cli.js" worker \\\n    --gpu "$((1 + SLURM_LOCALID))" --coordinator "$C" &\n' &`), ['worker --gpu $((1 + SLURM_LOCALID)) --coordinator $C']);
  t.deepEqual(found('A=1 facefill pull --coordinator c:7700 --out "my dir" # a comment\nfacefill presets'), ['pull --coordinator c:7700 --out my dir', 'presets']);
  // The restart checks: pod failure policies decided as the Job controller does.
  const policy = (...rules: unknown[]) => ({ podFailurePolicy: { rules } });
  const ignoreEvicted = { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] };
  const failOn = (action: string, values: number[]) => ({ action, onExitCodes: { containerName: 'worker', operator: 'In', values } });
  const evicted = { exitCodes: { worker: 3 }, conditions: ['DisruptionTarget'] };
  t.is(podFailureAction(policy(failOn('FailJob', [2, 3]), ignoreEvicted), evicted), 'FailJob', 'the first matching rule wins: here an evicted worker fails the Job');
  t.is(podFailureAction(policy(ignoreEvicted, failOn('FailJob', [2, 3])), evicted), 'Ignore');
  t.is(podFailureAction(policy(failOn('FailJob', [2])), { exitCodes: { sidecar: 2, worker: 1 } }), 'Count', 'containerName limits a rule to its container');
  t.is(podFailureAction(policy({ action: 'FailJob', onExitCodes: { operator: 'NotIn', values: [1] } }), { exitCodes: { worker: 0 } }), 'Count', 'exit code 0 never matches');
  t.is(podFailureAction({}, { exitCodes: { worker: 2 } }), 'Count', 'without a policy every failure counts');
  t.deepEqual(retryBudget({}), { retries: 6, perIndex: false });
  t.deepEqual(retryBudget({ backoffLimit: 0, backoffLimitPerIndex: 2 }), { retries: 2, perIndex: true });
  // facefill workers: the workers it starts, as the CLI builds them.
  const launcher = (...argv: string[]) => parsed({ origin: 'case', argv: ['workers', '--coordinator', 'c:7700', ...argv] });
  const launched = launchedWorkers(launcher('--gpus', '1,3', '--metrics-port', '9500', '--', '--data-port', '7701'), specs, [0, 1, 2, 3]);
  t.deepEqual(
    launched.map((w) => [w.env.CUDA_VISIBLE_DEVICES, flag(parsed(w), '--gpu'), flag(parsed(w), '--metrics-port'), flag(parsed(w), '--data-port')]),
    [
      ['1', '1', '9500', '7701'],
      ['3', '3', '9501', '7701'],
    ],
  );
  t.throws(() => launchedWorkers(launcher('--gpus', '4'), specs, [0, 1]), { message: /GPU 4 not found/ });
  t.throws(() => launchedWorkers(launcher('--gpus', 'all'), specs), { message: /depends on the host/ });
  t.is(seconds('1m30s'), 90);
  t.throws(() => seconds('30'), { message: /not a compose duration/ });
});

testIfTool('kubectl', 'kubectl kustomize renders deploy/k8s: every listed manifest unchanged but for the labels and images it sets, selectors still matching their pods', async (t, kubectl) => {
  const r = await runTool(kubectl, ['kustomize', DEPLOY.k8s]);
  t.is(r.code, 0, r.stderr);
  const rendered = parseYamlDocuments(r.stdout, 'kubectl kustomize deploy/k8s').map((d, i) => record(d, `rendered document ${i + 1}`));
  const kustomization = record(readYamlDocuments(K8S_KUSTOMIZATION)[0], 'kustomization.yaml');
  const listed = new Set(texts(kustomization.resources, 'resources').map((f) => join(DEPLOY.k8s, f)));
  const sources = deployment().k8sObjects.filter((o) => listed.has(o.file)).map((o) => o.obj);
  const key = (o: Record<string, unknown>) => `${String(o.kind)}/${nameOf(o)}`;
  t.deepEqual(rendered.map(key).sort(), sources.map(key).sort(), 'the rendered objects are the listed manifests');
  const partOf = list(kustomization.labels, 'labels').map((l) => record(record(l, 'label').pairs, 'pairs'));
  const images = new Map(list(kustomization.images, 'images').map((i) => [text(record(i, 'image').name, 'image name'), record(i, 'image')]));
  for (const obj of rendered) {
    const source = sources.find((s) => key(s) === key(obj));
    const labels = record(record(obj.metadata, 'metadata').labels, `${key(obj)} labels`);
    for (const pairs of partOf) for (const [k, v] of Object.entries(pairs)) t.is(labels[k], v, `${key(obj)}: label ${k}`);
    // Images are rewritten by the images list; everything else in the spec is passed through as written.
    const template = podTemplate(obj, key(obj));
    for (const c of list(template?.spec.containers, 'containers').map((x) => record(x, 'container'))) {
      const image = text(c.image, 'image');
      const rule = images.get(image.split(':')[0].split('/').at(-1) ?? '');
      if (rule) t.is(image, `${String(rule.newName ?? image.split(':')[0])}:${String(rule.newTag ?? image.split(':')[1])}`, `${key(obj)}: image ${image}`);
    }
    t.deepEqual(withoutImages(obj.spec ?? obj.data), withoutImages(source?.spec ?? source?.data), `${key(obj)}: passed through`);
  }
  const pods = rendered.map((o) => ({ o, template: podTemplate(o, key(o)) })).filter((x) => x.template);
  for (const selecting of rendered.filter((o) => o.kind === 'Service' || o.kind === 'PodDisruptionBudget' || o.kind === 'Deployment')) {
    const spec = record(selecting.spec, `${key(selecting)} spec`);
    const selector = record(selecting.kind === 'Service' ? spec.selector : record(spec.selector, 'selector').matchLabels, `${key(selecting)} selector`);
    const matched = pods.filter(({ template }) => Object.entries(selector).every(([k, v]) => record(template?.metadata.labels ?? {}, 'labels')[k] === v));
    t.true(matched.length > 0, `${key(selecting)} selects no pod template`);
  }
});

/** A copy of a manifest's spec with every container image left out. */
function withoutImages(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutImages);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'image').map(([k, v]) => [k, withoutImages(v)]));
}
