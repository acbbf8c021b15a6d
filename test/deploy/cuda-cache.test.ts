import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import test from 'ava';
import { program } from '../../src/cli';
import { RECOMMENDED_CUDA_CACHE_BYTES } from '../../src/shared/preflight/preflight';
import { parseInvocation, readCommandSpecs } from './_cli-spec';
import { DEPLOY, list, optionalRecord, readText, record, REPO_ROOT, text, texts } from './_deploy-files';
import { type DeployedProcess } from './_deployed';
import { deployment, runtimeStage } from './_deployment';
import { instructionsOf } from './_dockerfile';
import { documentedInvocations } from './_documented';
import { mountOf } from './_join-origin';
import { shellWords } from './_shell-words';
import { dryRunSbatch, type DryRunJob, sbatchOptions } from './_slurm-dry-run';

// A GPU above compute capability 8.0 JIT-compiles libtensorflow 2.9.1's PTX at its first start
// (TensorFlow: "30 minutes or longer"). Every GPU deployment must keep the result: a CUDA cache
// of 4 GiB (CUDA_CACHE_MAXSIZE) in a folder (CUDA_CACHE_PATH) that outlives the process, the
// container and the pod. docs/gpu.md and deploy/README.md say why.

const MAXSIZE = String(RECOMMENDED_CUDA_CACHE_BYTES);
const isGpuWorker = (p: DeployedProcess) => p.image.startsWith('facefill-gpu') && (p.argv[0] === 'worker' || p.argv[0] === 'workers');

/** A container's environment: a compose `environment` (mapping or list) or a Kubernetes `env` (literal values only). */
function envOf(p: DeployedProcess): Map<string, string> {
  if (p.platform === 'k8s') {
    return new Map(list(p.container.env, `${p.origin} env`).flatMap((e) => {
      const v = record(e, 'env');
      return v.value === undefined ? [] : [[text(v.name, 'env name'), text(v.value, 'env value')]];
    }));
  }
  const env = p.container.environment;
  if (Array.isArray(env)) return new Map(texts(env, `${p.origin} environment`).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return new Map(Object.entries(optionalRecord(env, `${p.origin} environment`) ?? {}).map(([k, v]) => [k, text(v, `${p.origin} ${k}`)]));
}

test('the GPU image sets a 4 GiB CUDA cache in a folder of its own, which its user owns', (t) => {
  const stage = runtimeStage(deployment().dockerfiles, DEPLOY.dockerGpu);
  const env = new Map(instructionsOf(stage, 'ENV').flatMap((e) => shellWords(e.args).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const)));
  t.is(env.get('CUDA_CACHE_MAXSIZE'), MAXSIZE);
  const path = env.get('CUDA_CACHE_PATH') ?? '';
  t.true(posix.isAbsolute(path), `CUDA_CACHE_PATH '${path}' is an absolute path`);
  t.false(env.has('CUDA_CACHE_DISABLE'), 'the cache is not disabled');
  const user = instructionsOf(stage, 'USER').at(-1)?.args ?? '';
  const runs = instructionsOf(stage, 'RUN').map((r) => r.args);
  t.true(runs.some((r) => new RegExp(`mkdir -p [^&]*${path}\\b`).test(r) && new RegExp(`chown ${user}:${user} [^&]*${path}\\b`).test(r)), `a RUN makes ${path} and gives it to ${user}, so a new volume there is writable`);
});

test('compose: every GPU worker keeps its CUDA cache on a named volume, writable, at 4 GiB', (t) => {
  const { composeProcs, compose } = deployment();
  const workers = composeProcs.filter(isGpuWorker);
  t.true(workers.length > 0);
  const declared = Object.keys(record(compose.volumes, 'volumes'));
  for (const w of workers) {
    const env = envOf(w);
    t.is(env.get('CUDA_CACHE_MAXSIZE'), MAXSIZE, `${w.origin}: CUDA_CACHE_MAXSIZE`);
    t.false(env.has('CUDA_CACHE_DISABLE'), w.origin);
    const mount = mountOf(w, env.get('CUDA_CACHE_PATH') ?? '/nowhere');
    t.regex(mount?.source ?? 'none', /^volume:/, `${w.origin}: CUDA_CACHE_PATH is on a named volume, which outlives the container`);
    t.false(mount?.readOnly, `${w.origin}: the cache is written`);
    t.true(declared.includes(mount?.source.slice('volume:'.length) ?? ''), `${w.origin}: ${mount?.source ?? '?'} is declared`);
  }
});

test('Kubernetes: every GPU worker keeps its CUDA cache on a node folder (hostPath), which an init container gives to the worker\'s user and nothing more', (t) => {
  const workers = deployment().k8sProcs.filter(isGpuWorker);
  t.true(workers.length > 0);
  for (const w of workers) {
    const env = envOf(w);
    t.is(env.get('CUDA_CACHE_MAXSIZE'), MAXSIZE, `${w.origin}: CUDA_CACHE_MAXSIZE`);
    t.false(env.has('CUDA_CACHE_DISABLE'), w.origin);
    const path = env.get('CUDA_CACHE_PATH') ?? '/nowhere';
    const mount = mountOf(w, path);
    t.is(mount?.target, path, `${w.origin}: CUDA_CACHE_PATH is a volume's mount point`);
    t.false(mount?.readOnly, `${w.origin}: the cache is written`);
    const hostPath = optionalRecord(mount?.volume?.hostPath, `${w.origin} cache volume hostPath`);
    t.truthy(hostPath, `${w.origin}: the cache is on the node (hostPath), where the next pod on it finds it; an emptyDir dies with the pod`);
    t.is(hostPath?.type, 'DirectoryOrCreate', `${w.origin}: the kubelet makes the folder on a new node`);
    t.regex(text(hostPath?.path, 'hostPath path'), /^\/var\/cache\/facefill\//, `${w.origin}: a folder of facefill's own on the node`);

    // The kubelet makes a hostPath folder root's: one init container hands it over.
    const podSpec = w.pod?.spec ?? {};
    const owner = record(podSpec.securityContext, 'pod securityContext');
    const volumeName = text(mount?.volume?.name, 'volume name');
    const inits = list(podSpec.initContainers, `${w.origin} initContainers`).map((c) => record(c, 'initContainer'));
    const onCache = inits.filter((c) => list(c.volumeMounts, 'volumeMounts').some((m) => record(m, 'mount').name === volumeName));
    t.is(onCache.length, 1, `${w.origin}: one init container prepares the cache folder`);
    const init = onCache[0] ?? {};
    const initMount = record(list(init.volumeMounts, 'volumeMounts').find((m) => record(m, 'mount').name === volumeName), 'init mount');
    t.deepEqual(texts(init.command, 'command'), ['chown', `${String(owner.runAsUser)}:${String(owner.runAsGroup)}`, text(initMount.mountPath, 'mountPath')], `${w.origin}: it only gives the folder to the worker's user`);
    t.deepEqual(list(init.volumeMounts, 'volumeMounts').length, 1, `${w.origin}: the init container sees the cache folder alone`);
    const sc = record(init.securityContext, 'init securityContext');
    const caps = record(sc.capabilities, 'capabilities');
    t.deepEqual(texts(caps.drop, 'drop'), ['ALL']);
    t.deepEqual(texts(caps.add, 'add'), ['CHOWN'], `${w.origin}: root with CAP_CHOWN alone`);
    t.is(sc.allowPrivilegeEscalation, false);
    t.is(sc.readOnlyRootFilesystem, true);
    t.is(init.image, w.image, `${w.origin}: the worker's own image, already on the node: nothing more to pull or trust`);
  }
});

function slurmJob(over: Partial<DryRunJob> = {}): DryRunJob {
  const header = sbatchOptions(readText(DEPLOY.sbatch));
  return {
    nodes: ['gpu-c01', 'gpu-c02'],
    tasksPerNode: Number(header.get('--ntasks-per-node') ?? 1),
    gpusPerNode: header.get('--gpus-per-node') ?? '',
    cpusPerTask: Number(header.get('--cpus-per-task') ?? 1),
    gpuNumbering: 'relative',
    ...over,
  };
}

test('Slurm: the workers keep their CUDA cache in a folder of the node\'s scratch that outlives the job, 0700, at 4 GiB', (t) => {
  const run = dryRunSbatch(DEPLOY.sbatch, slurmJob());
  t.is(run.status, 0, `${run.stdout}\n${run.stderr}`);
  const launchers = run.calls.filter((c) => c.args[1] === 'workers');
  t.is(launchers.length, 2);
  const uid = process.getuid?.() ?? 0;
  for (const c of launchers) {
    t.deepEqual(c.cudaCache, { path: join(run.nodeScratch, `facefill-cuda-cache-${uid}`), maxSize: MAXSIZE, disable: 'unset' }, `${c.node}: the cache settings`);
  }
  t.is(run.nodeScratchModes.get(`facefill-cuda-cache-${uid}`), 0o700, 'the cache folder is the user\'s alone');
  t.is(run.calls.find((c) => c.args[1] === 'coordinator')?.cudaCache.maxSize, MAXSIZE, 'exported for the whole job');
});

test('Slurm: a CUDA_CACHE_PATH of the user\'s own is kept; one that is a symlink (someone else\'s folder) turns the cache off, saying so', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'facefill-cache-'));
  try {
    const mine = dryRunSbatch(DEPLOY.sbatch, slurmJob({ env: { CUDA_CACHE_PATH: join(dir, 'mine') } }));
    t.is(mine.status, 0, mine.stderr);
    for (const c of mine.calls.filter((x) => x.args[1] === 'workers')) t.like(c.cudaCache, { path: join(dir, 'mine'), disable: 'unset' });
    mkdirSync(join(dir, 'elsewhere'));
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'link'));
    const linked = dryRunSbatch(DEPLOY.sbatch, slurmJob({ env: { CUDA_CACHE_PATH: join(dir, 'link') } }));
    t.is(linked.status, 0, linked.stderr);
    for (const c of linked.calls.filter((x) => x.args[1] === 'workers')) t.is(c.cudaCache.disable, '1', `${c.node}: CUDA_CACHE_DISABLE=1`);
    t.regex(linked.stderr, /is not a folder of yours on .*: no CUDA cache in this job/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('deploy/README.md and docs/gpu.md explain the cache, and every facefill command line in docs/gpu.md is one the CLI accepts', (t) => {
  const readme = readText(join(REPO_ROOT, 'deploy/README.md'));
  const gpu = readText(join(REPO_ROOT, 'docs/gpu.md'));
  for (const [name, doc] of [['deploy/README.md', readme], ['docs/gpu.md', gpu]] as const) {
    for (const word of ['CUDA_CACHE_MAXSIZE', 'CUDA_CACHE_PATH', 'PTX', 'facefill doctor']) t.true(doc.includes(word), `${name} mentions ${word}`);
  }
  const specs = readCommandSpecs(program);
  const found = documentedInvocations(gpu, 'docs/gpu.md');
  t.true(found.some((i) => i.argv[0] === 'doctor'), 'docs/gpu.md shows facefill doctor');
  t.deepEqual(found.flatMap((i) => parseInvocation(i, specs).problems), []);
});
