import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import test from 'ava';
import { program } from '../../src/cli';
import { configFromFlags } from '../../src/commands/config-options';
import { resolveConfig } from '../../src/shared/config';
import { effectiveValue, type Invocation, isDeferred, type ParsedInvocation, parseInvocation, readCommandSpecs } from './_cli-spec';
import { DEPLOY, list, readText, readYamlDocuments, record, repoPath, REPO_ROOT, text, texts, yamlFilesIn } from './_deploy-files';
import { deployment, K8S_KUSTOMIZATION, K8S_OPTIONAL, lastExecForm, nameOf, objectsOfKind, runtimeStage } from './_deployment';
import { type DeployedProcess, facefillArgv, type Mount } from './_deployed';
import { instructionsOf } from './_dockerfile';
import { hostPort, listeningPorts } from './_facefill-ports';
import { findShellInvocations } from './_shell-words';
import { dryRunSbatch, type GpuBinding, sbatchOptions } from './_slurm-dry-run';

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
  t.is(readYamlDocuments(join(DEPLOY.k8s, 'coordinator.yaml')).length, 2);
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
  for (const expected of ['v1 ConfigMap', 'v1 PersistentVolumeClaim', 'apps/v1 Deployment', 'v1 Service', 'batch/v1 Job']) {
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

test('every facefill command line in the Dockerfiles, compose file, manifests and Slurm script names a real command and only its flags', (t) => {
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
  const problems = found.flatMap((inv) => parseInvocation(inv, specs).problems);
  t.deepEqual(problems, []);
  // The extraction itself must see the commands each platform runs.
  for (const [platform, procs] of [
    ['compose', composeProcs],
    ['k8s', k8sProcs],
    ['slurm', slurm],
  ] as const) {
    const commands = new Set(procs.map((p) => p.argv[0]));
    t.true(commands.has('coordinator') && commands.has('worker'), `${platform}: found ${[...commands].join(', ')}`);
  }
});

test('compose: each facefill service declares exactly its ports; workers reach the coordinator service on its --port, advertise their own name and get their own GPU', (t) => {
  const { composeProcs } = deployment();
  for (const p of composeProcs) {
    const ports = [...listeningPorts(parsed(p), specs).values()].sort();
    t.deepEqual([...p.declaredPorts].sort(), ports, `${p.origin}: ports + expose must be what it listens on`);
  }
  const [coordinator, ...others] = byCommand(composeProcs, 'coordinator');
  t.deepEqual(others, [], 'one coordinator');
  const workers = byCommand(composeProcs, 'worker');
  t.is(Number(flag(parsed(coordinator), '--workers')), workers.length, 'the coordinator waits for as many workers as there are worker services');
  const gpuIds: string[] = [];
  for (const w of workers) {
    const inv = parsed(w);
    const target = hostPort(flag(inv, '--coordinator'), w.origin);
    t.true(coordinator.hostnames.includes(target.host), `${w.origin}: --coordinator ${target.host} is not the coordinator service`);
    t.is(target.port, Number(flag(parsed(coordinator), '--port')), `${w.origin}: --coordinator port`);
    t.true(w.hostnames.includes(flag(inv, '--host')), `${w.origin}: --host must be a name the other workers resolve to it`);
    const devices = list(record(record(record(w.container.deploy, `${w.origin} deploy`).resources, 'resources').reservations, 'reservations').devices, 'devices');
    t.is(devices.length, 1, `${w.origin}: one device reservation`);
    const device = record(devices[0], `${w.origin} device`);
    t.is(device.driver, 'nvidia', w.origin);
    t.true(texts(device.capabilities, 'capabilities').includes('gpu'), w.origin);
    const ids = texts(device.device_ids, `${w.origin} device_ids`);
    t.true(ids.length === 1 || (ids.length === 0 && device.count === 1 && workers.length === 1), `${w.origin}: one GPU each, by device_ids when several workers share the host`);
    gpuIds.push(...ids);
  }
  t.is(new Set(gpuIds).size, gpuIds.length, `no GPU is given to two workers: ${gpuIds.join(', ')}`);
});

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
    const target = hostPort(flag(inv, '--coordinator'), w.origin);
    const service = objectsNamed('Service').find((s) => nameOf(s) === target.host.split('.')[0]);
    t.truthy(service, `${w.origin}: --coordinator names no Service`);
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
    t.is(replicas, Number(flag(parsed(coordinator), '--workers')), `${w.origin}: as many worker pods as the coordinator's --workers`);
    if (job.kind === 'Job') t.is(jobSpec.parallelism, replicas, `${w.origin}: all workers run at once (synchronous training)`);
  }
  const workload = objectsNamed('Deployment').find((d) => nameOf(d) === coordinator.name);
  const spec = record(workload?.spec, 'coordinator Deployment spec');
  t.is(spec.replicas, 1, 'one coordinator');
  t.is(record(spec.strategy, 'strategy').type, 'Recreate', 'never two coordinators on the run folder');
  const matchLabels = record(record(spec.selector, 'selector').matchLabels, 'matchLabels');
  for (const [k, v] of Object.entries(matchLabels)) t.is(record(coordinator.pod?.metadata.labels, 'labels')[k], v, `selector ${k}`);
});

/** The containerPort a probe or Service targets: a number, or the name of one of the container's ports. */
function resolveContainerPort(p: DeployedProcess, target: unknown): number | undefined {
  if (typeof target === 'number') return p.declaredPorts.includes(target) ? target : undefined;
  const named = list(p.container.ports, 'ports').map((x) => record(x, 'port')).find((x) => x.name === target);
  return named ? Number(named.containerPort) : undefined;
}

test('the images EXPOSE exactly the ports the deployed containers listen on', (t) => {
  const { dockerfiles, composeProcs, k8sProcs } = deployment();
  const listening = new Set([...composeProcs, ...k8sProcs].flatMap((p) => [...listeningPorts(parsed(p), specs).values()]));
  for (const file of dockerfiles.keys()) {
    const exposed = instructionsOf(runtime(file), 'EXPOSE').flatMap((e) => e.args.split(' ').map((p) => Number(p.split('/')[0])));
    t.deepEqual(exposed.sort(), [...listening].sort(), `${repoPath(file)} EXPOSE`);
  }
});

test('the run configs are valid partial configs, and the global batch divides among the workers', (t) => {
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
    const config = configFromFlags({ preset: inv.values.get('--preset')?.at(-1), config: file, set: [...(inv.values.get('--set') ?? [])], steps: n('--steps'), batchSize: n('--batch-size'), seed: n('--seed') });
    const workers = Number(flag(inv, '--workers'));
    t.is(config.data.batchSize % workers, 0, `${c.origin}: data.batchSize ${config.data.batchSize} must divide by ${workers} workers`);
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

function mountOf(p: DeployedProcess, path: string): Mount | undefined {
  return p.mounts
    .filter((m) => path === m.target || path.startsWith(`${m.target.replace(/\/$/, '')}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
}

test('every path a facefill container reads or writes is on a volume, writable where it writes; the dataset ingested is the one the coordinator reads', (t) => {
  const { compose, composeProcs, k8sProcs } = deployment();
  const reads = ['--data', '--config', '--source'];
  const writes = ['--out', '--work-dir'];
  for (const p of [...composeProcs, ...k8sProcs]) {
    const inv = parsed(p);
    for (const name of [...reads, ...writes]) {
      for (const value of inv.values.get(name) ?? []) {
        if (!value.startsWith('/')) continue;
        const mount = mountOf(p, value);
        t.truthy(mount, `${p.origin}: ${name} ${value} is on no volume (it would vanish with the container)`);
        if (writes.includes(name)) t.false(mount?.readOnly, `${p.origin}: ${name} ${value} is on a read-only mount`);
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

for (const binding of ['per-task', 'all'] as GpuBinding[]) {
  test(`Slurm dry run (GPUs bound ${binding}): the coordinator on the first node, one worker per GPU task on its own GPU and metrics port`, (t) => {
    const script = readText(DEPLOY.sbatch);
    const header = sbatchOptions(script);
    t.is(header.get('--gpus-per-task'), '1', '#SBATCH --gpus-per-task=1');
    const nodes = Array.from({ length: Number(header.get('--nodes')) }, (_, i) => `gpu-a${String(i + 1).padStart(2, '0')}`);
    const tasksPerNode = Number(header.get('--ntasks-per-node'));
    t.true(nodes.length > 0 && tasksPerNode > 0, '#SBATCH --nodes and --ntasks-per-node');
    const run = dryRunSbatch(DEPLOY.sbatch, { nodes, tasksPerNode, gpuBinding: binding });
    t.is(run.status, 0, `${run.stdout}\n${run.stderr}`);
    t.true(run.srunOptions.some((o) => o.includes('--gpus-per-task=1')), 'srun --gpus-per-task=1');
    const invs = run.calls.map((c) => {
      t.regex(c.args[0] ?? '', /(^|\/)dist\/src\/cli\.js$/, 'node runs the built CLI');
      return { call: c, inv: parsed({ origin: `dry run ${c.node} task ${c.localId || 'batch'}`, argv: c.args.slice(1) }) };
    });
    const coordinators = invs.filter((x) => x.inv.command === 'coordinator');
    t.is(coordinators.length, 1);
    const { call: cc, inv: coordinator } = coordinators[0];
    t.is(cc.node, nodes[0], 'the coordinator runs on the first node');
    t.true(coordinator.values.has('--exit-when-done'), 'the job ends with the run');
    const workers = invs.filter((x) => x.inv.command === 'worker');
    t.is(workers.length, nodes.length * tasksPerNode);
    t.is(Number(flag(coordinator, '--workers')), workers.length);
    for (const node of nodes) {
      const here = workers.filter((w) => w.call.node === node);
      t.is(here.length, tasksPerNode, node);
      t.deepEqual(here.map((w) => w.call.cudaVisibleDevices).sort(), here.map((w) => w.call.localId).sort(), `${node}: each task alone on its GPU`);
      t.deepEqual(here.map((w) => flag(w.inv, '--gpu')).sort(), here.map((w) => w.call.localId).sort(), `${node}: --gpu is the task's local id`);
      const ports = here.flatMap((w) => [flag(w.inv, '--metrics-port'), flag(w.inv, '--data-port')].filter((p) => p !== '0'));
      if (node === nodes[0]) ports.push(flag(coordinator, '--port'), flag(coordinator, '--metrics-port'));
      t.is(new Set(ports).size, ports.length, `${node}: no port used twice: ${ports.join(', ')}`);
      for (const w of here) t.is(flag(w.inv, '--coordinator'), `${nodes[0]}:${flag(coordinator, '--port')}`, `${node} task ${w.call.localId}`);
      for (const w of here) t.false(w.call.args.some(isDeferred), `${node}: every word expanded: ${w.call.args.join(' ')}`);
    }
  });
}

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
    const metrics = listeningPorts(parsed(p), specs).get('--metrics-port');
    if (metrics !== undefined) t.true(targets.includes(`${p.name}:${metrics}`), `${p.origin}: ${p.name}:${metrics} is no static target of ${repoPath(file)} (${targets.join(', ')})`);
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
  t.regex(problems('worker', '--data-port=7701').join(), /needs --coordinator/);
  t.regex(problems('coordinator', '--data', 'd', '--workers', '2', '--exit-when-done=yes').join(), /switch/);
  t.regex(problems('coordinator', '--data', 'd', '--workers', '2', '--port', '1', '--port', '2').join(), /twice/);
  t.deepEqual(problems('coordinator', '--data', 'd', '--workers', '2', '--set', 'a.b=1', '--set', 'c.d=2'), []);
  t.regex(problems('workers', '--coordinator', 'c:7700', '--gpus', 'all', '--', '--data-port', '7701', '--metrics-port', '9500').join(), /would override/);
  t.regex(problems('workers', '--coordinator', 'c:7700', '--gpus', 'all', '--', '--bogus').join(), /has no flag --bogus/);
  t.deepEqual(problems('--help'), []);
  const found = (script: string) => findShellInvocations(script, 's').map((i) => i.argv.join(' '));
  t.deepEqual(found('useradd --gid facefill --shell /bin/false facefill && chown facefill:facefill /x'), []);
  t.deepEqual(found(`srun --ntasks=2 bash -c '\n  exec node "$H/dist/src/cli.js" worker \\\n    --gpu "$((1 + SLURM_LOCALID))" --coordinator "$C" &\n' &`), ['worker --gpu $((1 + SLURM_LOCALID)) --coordinator $C']);
  t.deepEqual(found('A=1 facefill pull --coordinator c:7700 --out "my dir" # a comment\nfacefill presets'), ['pull --coordinator c:7700 --out my dir', 'presets']);
});
