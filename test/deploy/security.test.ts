import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { configFromFlags } from '../../src/commands/config-options';
import { readCredentials } from '../../src/shared/security/credentials-store';
import { readJoinFile } from '../../src/shared/security/join-file';
import { type Invocation, rawFlagValues } from './_cli-spec';
import { DEPLOY, list, optionalRecord, parseYamlDocuments, readText, record, repoPath, REPO_ROOT, text, yamlFilesIn } from './_deploy-files';
import { type DeployedProcess } from './_deployed';
import { deployment, K8S_KUSTOMIZATION, nameOf, objectsOfKind } from './_deployment';
import { documentedInvocations } from './_documented';
import { hostPort } from './_facefill-ports';
import { composeJoinOrigin, k8sJoinOrigin, mountOf, volumeLocation } from './_join-origin';
import { schemaProblems } from './_k8s-schema';
import { type AppliedPolicy, connectionAllowed, type PolicyPod, selectorMatches } from './_network-policy';
import { canRead, processIdentity, projectedKeys, secretFile } from './_secret-volume';
import { findShellInvocations } from './_shell-words';
import { dryRunAttempts, dryRunSbatch, type DryRunJob, sbatchOptions, STUB_RUN_TOKEN } from './_slurm-dry-run';
import { execForm, instructionsOf } from './_dockerfile';
import { run as runTool, testIfTool } from './_tools';

// The trust the deployment files set up (deploy/README.md, "Threat model"): the run's
// credentials reach the coordinator only, workers and clients get the join file only, nothing
// runs without TLS and the token, no token is ever on a command line, and the network lets in
// only what each port is for. Flags are read from the words here, so these checks hold whatever
// the CLI declares; manifests.test.ts checks the flags against the CLI.

const README = join(REPO_ROOT, 'deploy/README.md');
/** The namespace the manifests are applied in (they set none), and the one Prometheus runs in (network-policy.yaml's default). */
const APP_NS = 'facefill';
const MONITORING_NS = 'monitoring';

const flagOf = (argv: readonly string[], name: string): string | undefined => rawFlagValues(argv, name).at(-1);
const byCommand = (procs: readonly DeployedProcess[], command: string) => procs.filter((p) => p.argv[0] === command);
const isWorker = (p: { argv: readonly string[] }) => p.argv[0] === 'worker' || p.argv[0] === 'workers';
const where = (obj: Record<string, unknown>) => `${String(obj.kind)}/${nameOf(obj)}`;

/** Every facefill command line of the deployment files and the README's shell blocks, with a dry run of the Slurm script. */
function everyCommandLine(): Invocation[] {
  const { composeProcs, k8sProcs } = deployment();
  const dry = dryRunSbatch(DEPLOY.sbatch, headerJob());
  return [
    ...composeProcs,
    ...k8sProcs,
    ...findShellInvocations(readText(DEPLOY.sbatch), repoPath(DEPLOY.sbatch)),
    ...dry.calls.map((c) => ({ origin: `Slurm dry run ${c.node} task ${c.localId || 'batch'}`, argv: c.args.slice(1) })),
    ...documentedInvocations(readText(README), 'deploy/README.md'),
    ...[...deployment().dockerfiles].flatMap(([file, stages]) =>
      stages.flatMap((stage) => [
        ...instructionsOf(stage, 'RUN').flatMap((r) => findShellInvocations(r.args, `${repoPath(file)} RUN`)),
        { origin: `${repoPath(file)} ENTRYPOINT+CMD`, argv: [...instructionsOf(stage, 'ENTRYPOINT'), ...instructionsOf(stage, 'CMD')].flatMap(execForm) },
      ]),
    ),
  ];
}

test('nothing runs without TLS and the run token: no --insecure on any command line, and the ring stays encrypted', (t) => {
  const lines = everyCommandLine();
  t.true(lines.length > 10, `found ${lines.length} command lines`);
  const insecure = lines.filter((l) => l.argv.some((w) => w === '--insecure' || w.startsWith('--insecure=')));
  t.deepEqual(insecure.map((l) => l.origin), []);
  // cluster.ringEncryption resolves to curve for each run config, with the coordinator's --set.
  const dir = mkdtempSync(join(tmpdir(), 'facefill-ring-'));
  try {
    const { composeProcs, k8sProcs } = deployment();
    for (const c of byCommand([...composeProcs, ...k8sProcs], 'coordinator')) {
      const file = join(dir, 'run.json');
      writeFileSync(file, mountedText(c, flagOf(c.argv, '--config') ?? ''));
      const config = configFromFlags({ preset: flagOf(c.argv, '--preset'), config: file, set: rawFlagValues(c.argv, '--set') });
      t.is(config.cluster.ringEncryption, 'curve', `${c.origin}: the ring's gradients are encrypted`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no run token on a command line or in a literal environment value: only files, or env from a Secret', (t) => {
  const tokenFlags = everyCommandLine().filter((l) => l.argv.some((w) => /^--[\w-]*(token|secret|password)/i.test(w)));
  t.deepEqual(tokenFlags.map((l) => `${l.origin}: ${l.argv.join(' ')}`), []);
  const secretish = /^FACEFILL_JOIN$|TOKEN|SECRET/i;
  const { composeProcs, k8sProcs } = deployment();
  for (const p of k8sProcs) {
    for (const e of list(p.container.env, `${p.origin} env`).map((x) => record(x, 'env'))) {
      if (!secretish.test(text(e.name, 'env name'))) continue;
      t.truthy(optionalRecord(optionalRecord(e.valueFrom, 'valueFrom')?.secretKeyRef, 'secretKeyRef'), `${p.origin}: env ${String(e.name)} must come from a Secret (secretKeyRef), not a value in the manifest`);
    }
  }
  for (const p of composeProcs) {
    const env = p.container.environment;
    const names = Array.isArray(env) ? env.map((e) => String(e).split('=')[0]) : Object.keys(optionalRecord(env, `${p.origin} environment`) ?? {});
    t.deepEqual(names.filter((n) => secretish.test(n)), [], `${p.origin}: a token in the compose file is a token in the repository`);
  }
  // The Slurm script: the stub `facefill credentials` writes a known token; no process gets it in its argv.
  for (const run of dryRunAttempts(DEPLOY.sbatch, [headerJob(), headerJob({ restartCount: 1 })])) {
    t.is(run.status, 0, run.stderr);
    const argvs = [...run.calls.map((c) => c.args), ...run.srunOptions];
    t.deepEqual(argvs.filter((a) => a.some((w) => w.includes(STUB_RUN_TOKEN))), [], 'the token is read from files only');
  }
});

test('every Kubernetes object in deploy/k8s is valid against the Kubernetes API schema of its apiVersion and kind', async (t) => {
  const { k8sObjects } = deployment();
  t.true(k8sObjects.length >= 10, `${k8sObjects.length} objects`);
  const problems = (await Promise.all(k8sObjects.map(({ file, obj }) => schemaProblems(obj, `${repoPath(file)} ${where(obj)}`)))).flat();
  t.deepEqual(problems, []);
});

testIfTool('kubectl', 'kubectl kustomize deploy/k8s builds from a clean clone (no generated Secret), and every object it renders is valid against the API schema', async (t, kubectl) => {
  const r = await runTool(kubectl, ['kustomize', DEPLOY.k8s]);
  t.is(r.code, 0, r.stderr);
  const rendered = parseYamlDocuments(r.stdout, 'kubectl kustomize deploy/k8s').map((d, i) => record(d, `rendered document ${i + 1}`));
  t.true(rendered.some((o) => o.kind === 'NetworkPolicy'), 'the NetworkPolicies are part of the build');
  t.false(rendered.some((o) => o.kind === 'Secret'), 'no key material in the build: the Secret is the user\'s');
  const kustomization = record(parseYamlDocuments(readText(K8S_KUSTOMIZATION), 'kustomization.yaml')[0], 'kustomization.yaml');
  t.is(kustomization.secretGenerator, undefined, 'a secretGenerator needs files a clean clone does not have');
  const problems = (await Promise.all(rendered.map((o) => schemaProblems(o, `rendered ${where(o)}`)))).flat();
  t.deepEqual(problems, []);
});

test('the schema check catches a wrong type, a missing required field, an unknown kind and an unknown apiVersion', async (t) => {
  const job = (spec: unknown) => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'x' }, spec });
  const template = { spec: { containers: [{ name: 'c', image: 'i' }], restartPolicy: 'Never' } };
  t.deepEqual(await schemaProblems(job({ template }), 'ok'), []);
  t.regex((await schemaProblems(job({ template, completions: '2' }), 'case')).join(), /completions must be integer/);
  t.regex((await schemaProblems(job({ completions: 2 }), 'case')).join(), /template/);
  t.regex((await schemaProblems({ ...job({ template }), kind: 'Jobb' }, 'case')).join(), /no kind Jobb/);
  t.regex((await schemaProblems({ ...job({ template }), kind: 'PodSpec', apiVersion: 'v1' }, 'case')).join(), /no kind PodSpec/);
  t.regex((await schemaProblems({ ...job({ template }), apiVersion: 'batch/v9' }, 'case')).join(), /not one kubernetes-models knows/);
  const policy = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 7700, protocol: 'TCPX' }] }] } };
  t.regex((await schemaProblems(policy, 'case')).join(), /protocol/);
  const secretVolume = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c' }], volumes: [{ name: 's', secret: { secretName: 's', defaultMode: '0400' } }] } };
  t.regex((await schemaProblems(secretVolume, 'case')).join(), /defaultMode must be integer/);
});

test('the YAML files read the same under YAML 1.1 (Kubernetes, kustomize) and YAML 1.2 (this test\'s parser): no octal modes, no yes/no booleans', (t) => {
  for (const file of [DEPLOY.compose, ...yamlFilesIn(DEPLOY.k8s)]) {
    const as = (version: '1.1' | '1.2') => parseAllDocuments(readText(file), { version, merge: true }).map((d) => d.toJS() as unknown);
    t.deepEqual(as('1.1'), as('1.2'), `${repoPath(file)}: e.g. defaultMode: 0400 is 256 in YAML 1.1 and 400 in 1.2; write 256`);
  }
});

test('Kubernetes: the coordinator mounts the whole credentials Secret, workers and clients only its join.json; read-only, 0400, readable by the pod\'s user alone', (t) => {
  const { k8sProcs } = deployment();
  const [coordinator, ...others] = byCommand(k8sProcs, 'coordinator');
  t.deepEqual(others, []);
  const credentials = flagOf(coordinator.argv, '--credentials');
  t.truthy(credentials, `${coordinator.origin}: --credentials names the Secret's mount`);
  const credentialsMount = mountOf(coordinator, credentials ?? '');
  t.is(credentialsMount?.target, credentials, `${coordinator.origin}: --credentials is the Secret's mount point`);
  const secret = /^secret:(.+)$/.exec(credentialsMount?.source ?? '')?.[1];
  t.truthy(secret, `${coordinator.origin}: --credentials is on a Secret, not ${credentialsMount?.source ?? 'no volume'}`);
  t.deepEqual([...projectedKeys(credentialsMount?.volume ?? {}, coordinator.origin).keys()], ['*'], 'the coordinator gets every key: CA, server certificate and key, token');

  const readers = k8sProcs.filter((p) => p !== coordinator && p.mounts.some((m) => m.source.startsWith('secret:')));
  const workers = byCommand(k8sProcs, 'worker');
  t.true(workers.length > 0 && workers.every((w) => readers.includes(w)), 'every worker reads the run\'s join file');
  for (const p of readers) {
    const join = flagOf(p.argv, '--join');
    t.truthy(join, `${p.origin}: --join, the only way it gets the token`);
    const mount = mountOf(p, join ?? '');
    t.is(mount?.source, `secret:${String(secret)}`, `${p.origin}: --join ${String(join)} is the run's Secret`);
    for (const m of p.mounts.filter((x) => x.source.startsWith('secret:'))) {
      t.deepEqual([...projectedKeys(m.volume ?? {}, p.origin)], [['join.json', 'join.json']], `${p.origin}: only the join.json key of ${m.source} (no CA or server key, which would let it impersonate the coordinator)`);
    }
    t.is(join, posix.join(mount?.target ?? '', 'join.json'), `${p.origin}: --join is that key's file`);
    for (const e of list(p.container.envFrom, 'envFrom')) t.is(record(e, 'envFrom').secretRef, undefined, `${p.origin}: no Secret as environment`);
  }

  // Every Secret mount of a facefill pod: read-only, 0400, and readable by the container's user, not by others.
  for (const p of k8sProcs) {
    for (const m of p.mounts.filter((x) => x.source.startsWith('secret:'))) {
      const volume = record(m.volume?.secret, `${p.origin} ${m.source}`);
      t.true(m.readOnly, `${p.origin}: ${m.target} is mounted readOnly`);
      t.is(volume.defaultMode, 0o400, `${p.origin}: ${m.source} defaultMode 0400 (256)`);
      for (const item of list(volume.items, 'items')) t.true([undefined, 0o400].includes(record(item, 'item').mode as number | undefined), `${p.origin}: item mode 0400`);
      const podContext = optionalRecord(p.pod?.spec.securityContext, `${p.origin} pod securityContext`);
      t.truthy(podContext?.runAsUser, `${p.origin}: runAsUser (a non-root check needs a numeric user)`);
      t.truthy(podContext?.fsGroup, `${p.origin}: fsGroup: without it the Secret's 0400 files are root's and the pod's user cannot read them`);
      const who = processIdentity(p.pod?.spec ?? {}, p.container, p.origin);
      for (const path of projectedKeys(m.volume ?? {}, p.origin).keys()) {
        const file = secretFile(m.volume ?? {}, path, podContext, p.origin);
        t.true(canRead(file, who), `${p.origin}: ${m.target}/${path} (mode ${file.mode.toString(8)}, ${file.uid}:${file.gid}) must be readable by uid ${who.uid}`);
        t.is(file.mode & 0o007, 0, `${p.origin}: ${m.target}/${path} is not readable by others`);
        t.false(canRead(file, { uid: who.uid + 1, gids: [who.uid + 1] }), `${p.origin}: another user cannot read ${m.target}/${path}`);
      }
    }
  }
  // The model of the kubelet: without fsGroup a 0400 Secret file is root's alone.
  const volume = { secret: { secretName: 's', defaultMode: 0o400 } };
  t.false(canRead(secretFile(volume, 'token', { runAsUser: 10001 }, 'case'), { uid: 10001, gids: [10001] }));
  t.true(canRead(secretFile(volume, 'token', { runAsUser: 10001, fsGroup: 10001 }, 'case'), { uid: 10001, gids: [10001] }));
});

test('Kubernetes: the Secret is the one the README has the user make, with `facefill credentials --address` naming the coordinator\'s Service and port', (t) => {
  const { k8sProcs } = deployment();
  const readme = readText(README);
  const [coordinator] = byCommand(k8sProcs, 'coordinator');
  const port = Number(flagOf(coordinator.argv, '--port'));
  for (const p of k8sProcs.filter((x) => flagOf(x.argv, '--join') !== undefined)) {
    const origin = k8sJoinOrigin(readme, p, flagOf(p.argv, '--join') ?? '');
    t.truthy(origin, `${p.origin}: deploy/README.md must show the facefill credentials and kubectl create secret commands that make its join file`);
    if (!origin) continue;
    const address = hostPort(flagOf(origin.argv, '--address') ?? '', origin.origin);
    const service = objectsOfKind(deployment(), 'Service').find((s) => nameOf(s) === address.host.split('.')[0]);
    t.truthy(service, `${origin.origin}: --address ${address.host} is no Service of the manifests`);
    const servicePort = list(record(service?.spec, 'spec').ports, 'ports').map((x) => record(x, 'port')).find((x) => Number(x.port) === address.port);
    t.truthy(servicePort, `${origin.origin}: the Service has no port ${address.port}`);
    const target = servicePort?.targetPort;
    const containerPort = typeof target === 'string' ? list(coordinator.container.ports, 'ports').map((x) => record(x, 'port')).find((x) => x.name === target)?.containerPort : target;
    t.is(Number(containerPort), port, `${origin.origin}: the Service port reaches the coordinator's --port`);
  }
  // No key material in the repository: no Secret object in the manifests.
  t.deepEqual(objectsOfKind(deployment(), 'Secret').map(nameOf), []);
});

test('the join file each coordinator writes beside its run names it: --advertise is the compose service, the Kubernetes Service', (t) => {
  const { composeProcs, k8sProcs } = deployment();
  const [composeCoordinator] = byCommand(composeProcs, 'coordinator');
  t.true(composeCoordinator.hostnames.includes(flagOf(composeCoordinator.argv, '--advertise') ?? ''), `${composeCoordinator.origin}: --advertise`);
  const [k8sCoordinator] = byCommand(k8sProcs, 'coordinator');
  const service = objectsOfKind(deployment(), 'Service').find((s) => nameOf(s) === flagOf(k8sCoordinator.argv, '--advertise'));
  const selector = record(record(service?.spec, `${k8sCoordinator.origin}: --advertise names no Service`).selector, 'selector');
  const labels = record(k8sCoordinator.pod?.metadata.labels, 'labels');
  t.true(Object.entries(selector).every(([k, v]) => labels[k] === v), `${k8sCoordinator.origin}: the Service --advertise names selects the coordinator`);
});

/**
 * Lays out a Secret volume as the kubelet's atomic writer does: the files in a timestamped
 * folder, `..data` a link to it, and each projected path a link through `..data`; each file with
 * the mode `secretFile` models for the pod (0440 for 0400 with fsGroup; the owner here is this
 * process's user, not root). Returns the mount point.
 */
function kubeletSecretVolume(at: string, source: string, volume: Record<string, unknown>, podContext: Record<string, unknown> | undefined, where: string): string {
  const stamp = '..2025_01_01_00_00_00.000000000';
  mkdirSync(join(at, stamp), { recursive: true });
  const keys = projectedKeys(volume, where);
  const paths = keys.has('*') ? new Map(readdirSync(source).map((f) => [f, f])) : keys;
  for (const [path, key] of paths) {
    writeFileSync(join(at, stamp, path), readFileSync(join(source, key)));
    chmodSync(join(at, stamp, path), secretFile(volume, path, podContext, where).mode);
    symlinkSync(posix.join('..data', path), join(at, path));
  }
  symlinkSync(stamp, join(at, '..data'));
  chmodSync(join(at, stamp), 0o555);
  return at;
}

test('Kubernetes: the credentials the README makes, mounted as these Secret volumes lay them out, are accepted by the coordinator and by every worker and client (and the same files at 0644 are not)', async (t) => {
  const { k8sProcs } = deployment();
  const readme = readText(README);
  const reader = k8sProcs.find((p) => flagOf(p.argv, '--join') !== undefined);
  const made = reader && k8sJoinOrigin(readme, reader, flagOf(reader.argv, '--join') ?? '');
  t.truthy(made, 'deploy/README.md shows the facefill credentials command behind the Secret');
  if (!made) return;
  const root = mkdtempSync(join(tmpdir(), 'facefill-secret-'));
  try {
    // The documented command line, run with the built CLI into a scratch folder.
    const out = join(root, 'credentials');
    const argv = made.argv.map((w, i) => (made.argv[i - 1] === '--out' ? out : w.startsWith('--out=') ? `--out=${out}` : w));
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/src/cli.js'), ...argv], { encoding: 'utf8', env: { ...process.env, FACEFILL_LOG_LEVEL: 'warn' } });
    t.is(r.status, 0, r.stderr);
    let n = 0;
    for (const p of k8sProcs) {
      const podContext = optionalRecord(p.pod?.spec.securityContext, `${p.origin} pod securityContext`);
      for (const m of p.mounts.filter((x) => x.source.startsWith('secret:'))) {
        const mounted = kubeletSecretVolume(join(root, `mount-${n++}`), out, m.volume ?? {}, podContext, p.origin);
        const credentials = flagOf(p.argv, '--credentials');
        const joinFile = flagOf(p.argv, '--join');
        if (credentials === m.target) await t.notThrowsAsync(readCredentials(mounted), `${p.origin}: the coordinator reads ${m.target}`);
        else if (joinFile?.startsWith(`${m.target}/`)) await t.notThrowsAsync(readJoinFile(join(mounted, posix.relative(m.target, joinFile))), `${p.origin}: it reads ${joinFile}`);
        else t.fail(`${p.origin}: ${m.target} is mounted but read by no flag`);
      }
    }
    t.true(n >= 3, `${n} Secret mounts checked`);
    // The mode check is live: a Secret left at Kubernetes' default 0644 is refused.
    const loose = kubeletSecretVolume(join(root, 'loose'), out, { secret: { secretName: 's', items: [{ key: 'join.json', path: 'join.json' }] } }, {}, 'case');
    await t.throwsAsync(readJoinFile(join(loose, 'join.json')), { message: /mode 0644/ });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** A facefill pod of the manifests as NetworkPolicies see it, in the application namespace. */
function policyPod(p: DeployedProcess): PolicyPod {
  const labels = record(p.pod?.metadata.labels ?? {}, `${p.origin} labels`) as Record<string, string>;
  const ports = list(p.container.ports, `${p.origin} ports`).map((x) => {
    const port = record(x, 'port');
    return { name: port.name as string | undefined, containerPort: Number(port.containerPort), protocol: port.protocol as string | undefined };
  });
  return { namespace: APP_NS, namespaceLabels: { 'kubernetes.io/metadata.name': APP_NS }, labels, ports };
}

test('Kubernetes NetworkPolicies admit exactly what each port is for: the control plane from workers and clients, the ring from workers, /metrics from the monitoring namespace', (t) => {
  const { k8sProcs } = deployment();
  const policies: AppliedPolicy[] = objectsOfKind(deployment(), 'NetworkPolicy').map((policy) => ({ namespace: APP_NS, policy }));
  t.true(policies.length > 0, 'network-policy.yaml');
  const one = (command: string) => {
    const found = byCommand(k8sProcs, command);
    t.is(found.length, 1, `one ${command} pod template`);
    return found[0];
  };
  const coordinator = one('coordinator');
  const worker = one('worker');
  const client = one('status');
  const ingest = one('ingest');
  // Pods that NetworkPolicies cannot bypass: none on the host's network.
  for (const p of k8sProcs) t.not(p.pod?.spec.hostNetwork, true, `${p.origin}: a host-network pod is not matched by pod selectors`);
  // The ring: a worker connects to the next one at its advertised --host, the pod IP, which is what the policy's pod selectors match.
  const host = /^\$\((\w+)\)$/.exec(flagOf(worker.argv, '--host') ?? '')?.[1];
  const hostEnv = list(worker.container.env, 'env').map((e) => record(e, 'env')).find((e) => e.name === host);
  t.is(record(record(hostEnv?.valueFrom, 'valueFrom').fieldRef, 'fieldRef').fieldPath, 'status.podIP', `${worker.origin}: the ring address is the pod IP`);

  const sources: Record<string, PolicyPod> = {
    worker: policyPod(worker),
    coordinator: policyPod(coordinator),
    client: policyPod(client),
    ingest: policyPod(ingest),
    'an unlabelled pod of the namespace': { namespace: APP_NS, namespaceLabels: { 'kubernetes.io/metadata.name': APP_NS }, labels: {} },
    'a pod labelled as a worker in another namespace': { namespace: 'tenant-b', namespaceLabels: { 'kubernetes.io/metadata.name': 'tenant-b' }, labels: policyPod(worker).labels },
    'Prometheus in the monitoring namespace': { namespace: MONITORING_NS, namespaceLabels: { 'kubernetes.io/metadata.name': MONITORING_NS }, labels: { 'app.kubernetes.io/name': 'prometheus' } },
  };
  // What each listening port is for, by the flag that opens it.
  const intended: Record<string, Record<string, string[]>> = {
    coordinator: { '--port': ['worker', 'client'], '--metrics-port': ['Prometheus in the monitoring namespace'] },
    worker: { '--data-port': ['worker'], '--metrics-port': ['Prometheus in the monitoring namespace'] },
  };
  const mismatches: string[] = [];
  let admitted = 0;
  for (const [role, dest] of [['coordinator', coordinator], ['worker', worker]] as const) {
    const to = policyPod(dest);
    for (const [flagName, allowedFrom] of Object.entries(intended[role])) {
      const port = Number(flagOf(dest.argv, flagName));
      t.true(to.ports?.some((p) => p.containerPort === port), `${dest.origin}: ${flagName} ${port} is a containerPort`);
      for (const [name, from] of Object.entries(sources)) {
        const allowed = connectionAllowed(policies, { from, to, port });
        if (allowed) admitted++;
        if (allowed !== allowedFrom.includes(name)) mismatches.push(`${name} → ${role} ${flagName} ${port}: ${allowed ? 'admitted' : 'refused'}`);
      }
    }
    // Any other port of these pods is refused to everyone.
    for (const [name, from] of Object.entries(sources)) if (connectionAllowed(policies, { from, to, port: 12345 })) mismatches.push(`${name} → ${role} port 12345: admitted`);
  }
  t.deepEqual(mismatches, []);
  t.is(admitted, 5, 'worker and client → 7700, worker → 7701, monitoring → 9400 and 9401');
});

test('the NetworkPolicy evaluator follows the API: isolation by selection, OR of peers, AND within a peer, named ports, egress', (t) => {
  const pod = (namespace: string, labels: Record<string, string>, ports: PolicyPod['ports'] = []): PolicyPod => ({ namespace, namespaceLabels: { 'kubernetes.io/metadata.name': namespace, team: namespace === 'ml' ? 'ml' : 'other' }, labels, ports });
  const policy = (spec: Record<string, unknown>, namespace = 'ml'): AppliedPolicy => ({ namespace, policy: { metadata: { name: 'p' }, spec } });
  const server = pod('ml', { app: 'server' }, [{ name: 'grpc', containerPort: 7700 }]);
  const client = pod('ml', { app: 'client' });
  const stranger = pod('other', { app: 'client' });
  const c = (from: PolicyPod, port = 7700) => ({ from, to: server, port });
  t.true(connectionAllowed([], c(stranger)), 'no policy: everything is admitted');
  t.false(connectionAllowed([policy({ podSelector: {}, policyTypes: ['Ingress'] })], c(client)), 'selected with no rules: nothing is admitted');
  t.true(connectionAllowed([policy({ podSelector: { matchLabels: { app: 'other' } }, ingress: [] })], c(client)), 'a policy that does not select the pod does not isolate it');
  const peers = (from: unknown[]) => [policy({ podSelector: { matchLabels: { app: 'server' } }, ingress: [{ from, ports: [{ port: 'grpc' }] }] })];
  t.true(connectionAllowed(peers([{ podSelector: { matchLabels: { app: 'client' } } }]), c(client)));
  t.false(connectionAllowed(peers([{ podSelector: { matchLabels: { app: 'client' } } }]), c(stranger)), 'a pod selector alone: the policy\'s namespace only');
  t.false(connectionAllowed(peers([{ podSelector: { matchLabels: { app: 'client' } } }]), c(client, 7701)), 'only the named port');
  t.true(connectionAllowed(peers([{ namespaceSelector: { matchLabels: { team: 'other' } } }]), c(stranger)));
  t.true(connectionAllowed(peers([{ namespaceSelector: { matchLabels: { team: 'other' } } }, { podSelector: { matchLabels: { app: 'nobody' } } }]), c(stranger)), 'two peers: either');
  t.false(connectionAllowed(peers([{ namespaceSelector: { matchLabels: { team: 'other' } }, podSelector: { matchLabels: { app: 'nobody' } } }]), c(stranger)), 'one peer with both selectors: both');
  t.false(connectionAllowed([policy({ podSelector: {}, ingress: [{ ports: [{ port: 7700, protocol: 'UDP' }] }] })], c(client)), 'protocol');
  t.true(connectionAllowed([policy({ podSelector: {}, ingress: [{ ports: [{ port: 7000, endPort: 8000 }] }] })], c(client)), 'endPort range');
  t.false(connectionAllowed([policy({ podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }] }] })], c(client)), 'egress isolates the source');
  t.true(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'server'] }, { key: 'gone', operator: 'DoesNotExist' }] }, { app: 'server' }, 'case'));
  t.false(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['server'] }] }, { app: 'server' }, 'case'));
  t.throws(() => connectionAllowed(peers([{ ipBlock: { cidr: '10.0.0.0/8' } }]), c(client)), { message: /ipBlock/ });
});

/** The text of a file a process reads from its mounts: a host file (compose) or a ConfigMap key (Kubernetes). */
function mountedText(p: DeployedProcess, path: string): string {
  const mount = mountOf(p, path);
  const rel = posix.relative(mount?.target ?? '', path);
  if (mount?.source.startsWith('file:')) return readFileSync(join(mount.source.slice('file:'.length), rel), 'utf8');
  if (mount?.source.startsWith('configMap:')) {
    const map = objectsOfKind(deployment(), 'ConfigMap').find((m) => nameOf(m) === mount.source.slice('configMap:'.length));
    return text(record(map?.data, 'ConfigMap data')[rel], `${mount.source} ${rel}`);
  }
  throw new Error(`${p.origin}: ${path} is on ${mount?.source ?? 'no volume'}, which this test cannot read`);
}

test('compose: a one-off service makes the credentials; the coordinator reads them read-only, the workers only a copy of join.json; `up` waits for it', (t) => {
  const { composeProcs } = deployment();
  const [maker, ...more] = byCommand(composeProcs, 'credentials');
  t.truthy(maker, 'a compose service runs facefill credentials');
  t.deepEqual(more, []);
  const [coordinator] = byCommand(composeProcs, 'coordinator');
  const out = flagOf(maker.argv, '--out') ?? '';
  const made = volumeLocation(maker, out);
  t.truthy(made, `${maker.origin}: --out ${out} is on a volume`);
  t.regex(made ?? '', /^volume:/, `${maker.origin}: a named volume, never the checkout`);
  // The address the workers dial and verify is the coordinator's.
  const address = hostPort(flagOf(maker.argv, '--address') ?? '', maker.origin);
  t.true(coordinator.hostnames.includes(address.host), `${maker.origin}: --address ${address.host} is the coordinator service`);
  t.is(address.port, Number(flagOf(coordinator.argv, '--port')), `${maker.origin}: --address port is the coordinator's --port`);
  // The coordinator: that folder, read-only.
  const credentials = flagOf(coordinator.argv, '--credentials') ?? '';
  t.is(volumeLocation(coordinator, credentials), made, `${coordinator.origin}: --credentials is the folder the credentials service made`);
  t.true(mountOf(coordinator, credentials)?.readOnly, `${coordinator.origin}: the credentials are mounted read-only`);
  // Only the coordinator and the maker see the credentials volume.
  const credentialsVolume = made?.split(':').slice(0, 2).join(':');
  const services = Object.entries(record(deployment().compose.services, 'services'));
  const seeing = services.filter(([, s]) => list(record(s, 'service').volumes, 'volumes').some((v) => String(typeof v === 'string' ? v : record(v, 'volume').source).split(':')[0] === credentialsVolume?.split(':')[1]));
  t.deepEqual(seeing.map(([name]) => name).sort(), [coordinator.name, maker.name].sort(), `only the coordinator and ${maker.name} mount ${String(credentialsVolume)}`);
  // The workers: --join, on a read-only copy of the join file only.
  const workers = composeProcs.filter(isWorker);
  t.true(workers.length > 0);
  for (const w of workers) {
    const join = flagOf(w.argv, '--join');
    t.truthy(join, `${w.origin}: --join`);
    t.is(composeJoinOrigin(composeProcs, w, join ?? ''), maker, `${w.origin}: --join ${String(join)} is the join.json ${maker.name} made`);
    t.true(mountOf(w, join ?? '')?.readOnly, `${w.origin}: the join file is mounted read-only`);
    t.is(flagOf(w.argv, '--credentials'), undefined, w.origin);
  }
  // `docker compose up` from scratch: the credentials exist before the coordinator and workers start.
  for (const p of [coordinator, ...workers]) {
    const dependsOn = optionalRecord(p.container.depends_on, `${p.origin} depends_on`) ?? {};
    t.is(optionalRecord(dependsOn[maker.name], 'depends_on')?.condition, 'service_completed_successfully', `${p.origin}: depends_on ${maker.name} (service_completed_successfully)`);
  }
  t.true([undefined, 'no'].includes(maker.container.restart as string | undefined), `${maker.origin}: a one-off`);
});

test('compose: the credentials service, run twice with the real CLI, makes the credentials once and keeps them (a restarted coordinator resumes with the same token), and gives the workers a join file they accept', async (t) => {
  const { composeProcs } = deployment();
  const [maker] = byCommand(composeProcs, 'credentials');
  const [coordinator] = byCommand(composeProcs, 'coordinator');
  const script = maker.words[2];
  t.is(maker.words.length, 3, `${maker.origin}: sh -c '<script>'`);
  t.false(/(^|[^$])\$(?!\$)/.test(script), `${maker.origin}: compose substitutes $ in a command; write $$ or none`);
  // Its volumes become folders here; it runs in the checkout, where dist/src/cli.js is, as in the image's /app.
  const root = mkdtempSync(join(tmpdir(), 'facefill-compose-credentials-'));
  const here = (p: DeployedProcess, path: string) => {
    const location = volumeLocation(p, path) ?? '';
    const m = maker.mounts.find((x) => location.startsWith(`${x.source}:`));
    if (!m) throw new Error(`${p.origin}: ${path} is on no volume of ${maker.name}`);
    return join(root, m.target, location.slice(m.source.length + 1));
  };
  try {
    let local = script;
    for (const m of maker.mounts) {
      mkdirSync(join(root, m.target), { recursive: true, mode: 0o700 });
      local = local.replace(new RegExp(`(?<![\\w/.])${m.target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=/|\\s|$)`, 'g'), join(root, m.target));
    }
    const worker = composeProcs.find(isWorker);
    const copy = here(worker ?? maker, flagOf(worker?.argv ?? [], '--join') ?? '');
    const token = join(here(coordinator, flagOf(coordinator.argv, '--credentials') ?? ''), 'token');
    const tokens: string[] = [];
    for (const attempt of [1, 2]) {
      const r = spawnSync('/bin/sh', ['-c', local], { cwd: REPO_ROOT, encoding: 'utf8', env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, FACEFILL_LOG_LEVEL: 'warn' } });
      t.is(r.status, 0, `attempt ${attempt}: ${r.stderr}`);
      tokens.push(readFileSync(token, 'utf8'));
      // What a worker does with it: the real reader, mode check included.
      const info = await readJoinFile(copy);
      t.is(info.token, tokens[0].trim(), `attempt ${attempt}: the workers' join file carries the coordinator's token`);
      t.is(info.address, flagOf(maker.argv, '--address') ?? '(none)', `attempt ${attempt}`);
    }
    t.is(tokens[1], tokens[0], 'the second `up` keeps the credentials: same token');
    // And what the coordinator does with its folder.
    await t.notThrowsAsync(readCredentials(dirname(token)));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('compose: every port published on the host is bound to 127.0.0.1 (/metrics is plaintext, Grafana has a default login)', (t) => {
  for (const [name, s] of Object.entries(record(deployment().compose.services, 'services'))) {
    for (const p of list(record(s, name).ports, `${name} ports`)) {
      const hostIp = typeof p === 'object' && p !== null ? record(p, 'port').host_ip : String(p).split(':').length === 3 ? String(p).split(':')[0] : undefined;
      t.is(hostIp, '127.0.0.1', `${name}: ports ${JSON.stringify(p)}`);
    }
  }
});

/** The allocation of the #SBATCH header, as a dry run's job. */
function headerJob(over: Partial<DryRunJob> = {}): DryRunJob {
  const header = sbatchOptions(readText(DEPLOY.sbatch));
  return {
    nodes: Array.from({ length: Number(header.get('--nodes')) }, (_, i) => `gpu-b${String(i + 1).padStart(2, '0')}`),
    tasksPerNode: Number(header.get('--ntasks-per-node') ?? 1),
    gpusPerNode: header.get('--gpus-per-node') ?? '',
    cpusPerTask: Number(header.get('--cpus-per-task') ?? 1),
    gpuNumbering: 'relative',
    ...over,
  };
}

test('Slurm: the run\'s credentials live in the run folder and a requeue keeps them; the coordinator reads them and names this node in its join file; the workers get that file and this job\'s first node; the run folder is private', (t) => {
  // The requeued job runs on other nodes, in the same run folder.
  const jobs = [headerJob(), headerJob({ restartCount: 1, nodes: ['gpu-c01', 'gpu-c02'] })];
  const runs = dryRunAttempts(DEPLOY.sbatch, jobs);
  const tokens: (string | undefined)[] = [];
  for (const [i, run] of runs.entries()) {
    const name = i === 0 ? 'first start' : 'requeued';
    const job = jobs[i];
    t.is(run.status, 0, `${name}: ${run.stdout}\n${run.stderr}`);
    const calls = run.calls.map((c) => ({ c, argv: c.args.slice(1) }));
    const coordinator = calls.find((x) => x.argv[0] === 'coordinator');
    t.truthy(coordinator, name);
    if (!coordinator) continue;
    const port = flagOf(coordinator.argv, '--port');
    const runDir = flagOf(coordinator.argv, '--out') ?? '';
    const credentials = flagOf(coordinator.argv, '--credentials') ?? '';
    t.true(credentials.startsWith(`${runDir}/`), `${name}: the credentials are in the run folder, which a requeue keeps: ${credentials}`);
    t.is(flagOf(coordinator.argv, '--advertise'), job.nodes[0], `${name}: the join file names this attempt's first node`);
    tokens.push(run.texts.get(relative(run.submitDir, posix.join(credentials, 'token'))));
    const launchers = calls.filter((x) => x.argv[0] === 'workers');
    t.is(launchers.length, job.nodes.length, name);
    for (const w of launchers) {
      t.is(flagOf(w.argv, '--join'), posix.join(runDir, 'join.json'), `${w.c.node}: --join is the file the coordinator writes`);
      t.is(flagOf(w.argv, '--coordinator'), `${job.nodes[0]}:${port}`, `${w.c.node}: this job's coordinator`);
      t.is(flagOf(w.argv, '--credentials'), undefined, `${w.c.node}: the workers never see the credentials folder`);
    }
    const rel = relative(run.submitDir, runDir);
    t.is(run.modes.get(rel), 0o700, `${name}: ${rel} is the user's alone (umask 077)`);
    t.is(run.modes.get(relative(run.submitDir, credentials)), 0o700, `${name}: the credentials folder too`);
  }
  t.truthy(tokens[0], 'the first start made the credentials');
  t.is(tokens[1], tokens[0], 'the requeued coordinator (--resume) goes on with the same token');
});

test('Slurm: the workers wait for the join file a bounded time, and not at all once the coordinator is gone', (t) => {
  const started = Date.now();
  const hung = dryRunSbatch(DEPLOY.sbatch, headerJob({ noJoinFile: 'hangs', env: { JOIN_TIMEOUT: '2' } }));
  t.is(hung.status, 1, `a coordinator that never writes the join file is stopped and the job fails: ${hung.stderr}`);
  t.true(Date.now() - started < 30_000, 'within JOIN_TIMEOUT, and the coordinator was stopped (a stub left running would hold the dry run 60 s)');
  t.deepEqual(hung.calls.map((c) => c.args[1]), ['coordinator'], 'no workers started');
  const failed = dryRunSbatch(DEPLOY.sbatch, headerJob({ noJoinFile: 'exits', exitCodes: { coordinator: 2 } }));
  t.is(failed.status, 2, `the job ends with the status of a coordinator that exited before writing it: ${failed.stderr}`);
  t.deepEqual(failed.calls.map((c) => c.args[1]), ['coordinator'], 'no workers started');
  // A requeue finds the join file of the earlier attempt: not the sign that this coordinator is up.
  const [, stale] = dryRunAttempts(DEPLOY.sbatch, [headerJob(), headerJob({ restartCount: 1, noJoinFile: 'hangs', env: { JOIN_TIMEOUT: '2' } })]);
  t.is(stale.status, 1, `a requeued coordinator that never writes its join file: ${stale.stderr}`);
  t.deepEqual(stale.calls.map((c) => c.args[1]), ['coordinator'], 'no workers started on the earlier attempt\'s join file');
});
