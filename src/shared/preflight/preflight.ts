import { DRIVER_LIBRARY, MAX_BUILT_COMPUTE_CAPABILITY, REQUIRED_CUDA_LIBRARIES } from '../backend/gpu-requirements';
import { compareVersions, GPU_QUERY_ARGS, mergeGpuQuery, NVIDIA_SMI_TIMEOUT_MS, parseGpuQuery, parseNvidiaSmiList } from '../backend/nvidia-smi';
import type { TensorflowGpuLog } from '../backend/tensorflow-log';
import type { BackendName } from '../config';
import type { RunOutcome } from '../util/bounded-run';
import { type BackendProber, surveyBackends } from './backend-survey';
import { isGpuVisible, parseVisibleDevices } from './cuda-visible-devices';
import { judgeGpu } from './gpu-verdict';
import { type CachedLibrary, ldconfigArchFlag, parseLdconfigCache, resolveLibraries, splitLdLibraryPath } from './library-resolution';
import type { CudaCacheStatus, DiskStatus, DoctorReport, GpuInventory, LibraryStatus, ZeromqStatus } from './report';

/** The oldest Node.js facefill runs on: package.json's `engines.node` (a test keeps the two equal). */
export const REQUIRED_NODE = '20.8';

/** How long `ldconfig -p` may take. */
export const LDCONFIG_TIMEOUT_MS = 10_000;
/** The size the deploy files give the CUDA JIT cache: the most the driver accepts (4 GiB). */
export const RECOMMENDED_CUDA_CACHE_BYTES = 4 * 2 ** 30;

// ldconfig lives in /sbin, which is not on every user's PATH.
const LDCONFIG_CANDIDATES = ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig'];

/** What the doctor was asked to check. */
export interface PreflightOptions {
  /** The backend preference a worker would get (`--backend`). */
  preference: 'auto' | BackendName;
  /** The GPU (nvidia-smi's ordinal) a worker would run on, or null. */
  gpu: number | null;
  /** Where the worker keeps its data (`--work-dir`). */
  workDir: string;
}

/** What the doctor reads of the host, apart from the backends (real ones in host-probes.ts, fakes in tests). */
export interface HostFacts {
  nodeVersion: string;
  os: string;
  arch: string;
  env: NodeJS.ProcessEnv;
  /** Runs a program with a time limit (host-probes.ts: runBounded). */
  run(command: string, args: readonly string[], timeoutMs: number): Promise<RunOutcome>;
  /** The file names in a directory; none when it cannot be read. */
  listDirectory(dir: string): Promise<string[]>;
  zeromq(): ZeromqStatus;
  disk(workDir: string): Promise<DiskStatus>;
}

/**
 * The environment of a probe child: this process's, with TensorFlow's log at INFO (its GPU
 * lines are what parseTensorflowLog reads) and, for a `--gpu`, that GPU alone visible with
 * memory grown on demand, exactly as `facefill workers` starts a worker on it.
 */
export function probeEnvironment(env: NodeJS.ProcessEnv, gpu: number | null): NodeJS.ProcessEnv {
  return { ...env, TF_CPP_MIN_LOG_LEVEL: '0', ...(gpu === null ? {} : { CUDA_VISIBLE_DEVICES: String(gpu), TF_FORCE_GPU_ALLOW_GROWTH: 'true' }) };
}

/**
 * Runs every check of `facefill doctor` and assembles the report: the host facts and the
 * backend survey concurrently (each bounded by its own time limit), then the `--gpu`
 * verdict and the notes, which are pure.
 */
export async function runPreflight(o: PreflightOptions, host: HostFacts, prober: BackendProber): Promise<DoctorReport> {
  const [gpus, libraries, survey, disk] = await Promise.all([inventoryGpus(host), findLibraries(host), surveyBackends(o.preference, prober), host.disk(o.workDir)]);
  const [driverLibrary, ...cudaLibraries] = libraries.resolved;
  const tensorflowGpu = survey.backends.find((b) => b.name === 'tensorflow-gpu');
  const report: DoctorReport = {
    node: { version: host.nodeVersion, required: REQUIRED_NODE, ok: compareVersions(host.nodeVersion, REQUIRED_NODE) >= 0 },
    platform: { os: host.os, arch: host.arch },
    preference: o.preference,
    backends: survey.backends,
    chosenBackend: survey.chosen,
    trainStep: survey.step,
    gpus,
    cudaLibraries,
    driverLibrary,
    cudaVisibleDevices: host.env.CUDA_VISIBLE_DEVICES ?? null,
    cudaCache: cudaCache(host.env),
    zeromq: host.zeromq(),
    disk,
    requestedGpu:
      o.gpu === null || tensorflowGpu === undefined
        ? null
        : judgeGpu(o.gpu, { gpus, cudaLibraries, driverLibrary, tensorflowGpu, gpuLog: survey.gpuLog, step: survey.chosen === 'tensorflow-gpu' ? survey.step : null }),
    notes: [],
  };
  report.notes = notesOn(report, o, survey.gpuLog, libraries.cacheError);
  return report;
}

async function inventoryGpus(host: HostFacts): Promise<GpuInventory> {
  const [list, query] = await Promise.all([host.run('nvidia-smi', ['-L'], NVIDIA_SMI_TIMEOUT_MS), host.run('nvidia-smi', GPU_QUERY_ARGS, NVIDIA_SMI_TIMEOUT_MS)]);
  if (list.status !== 'ok') return { nvidiaSmi: list.status, detail: list.detail, driverVersion: null, devices: [] };
  // The query is a bonus (compute capability, driver version): an old nvidia-smi refuses it.
  const q = query.status === 'ok' ? parseGpuQuery(query.stdout) : null;
  return { nvidiaSmi: 'ok', detail: null, driverVersion: q?.driverVersion ?? null, devices: mergeGpuQuery(parseNvidiaSmiList(list.stdout), q) };
}

/** The driver's library first, then the CUDA and cuDNN ones, each resolved as the loader would. */
async function findLibraries(host: HostFacts): Promise<{ resolved: LibraryStatus[]; cacheError: string | null }> {
  let cache: CachedLibrary[] | null = null;
  let cacheError: string | null = null;
  for (const command of LDCONFIG_CANDIDATES) {
    const r = await host.run(command, ['-p'], LDCONFIG_TIMEOUT_MS);
    if (r.status === 'absent') continue;
    if (r.status === 'ok') cache = parseLdconfigCache(r.stdout);
    else cacheError = r.detail;
    break;
  }
  if (cache === null) cacheError ??= 'ldconfig not found';
  const dirs = splitLdLibraryPath(host.env.LD_LIBRARY_PATH);
  const ldLibraryPath = await Promise.all(dirs.map(async (dir) => ({ dir, files: await host.listDirectory(dir) })));
  const wanted = [DRIVER_LIBRARY, ...REQUIRED_CUDA_LIBRARIES];
  const resolved = resolveLibraries(
    wanted.map((l) => l.soname),
    { ldLibraryPath, cache, archFlag: ldconfigArchFlag(host.arch) },
  ).map((r, i) => ({ ...r, what: wanted[i].what }));
  return { resolved, cacheError };
}

function cudaCache(env: NodeJS.ProcessEnv): CudaCacheStatus {
  const size = env.CUDA_CACHE_MAXSIZE;
  return {
    path: env.CUDA_CACHE_PATH || null,
    maxSizeBytes: size !== undefined && /^\d+$/.test(size.trim()) ? Number(size) : null,
    disabled: env.CUDA_CACHE_DISABLE === '1',
  };
}

/** What is worth saying that is no failure of a requested GPU. */
function notesOn(r: DoctorReport, o: PreflightOptions, gpuLog: TensorflowGpuLog | null, ldconfigError: string | null): string[] {
  const notes: string[] = [];
  if (!r.node.ok) notes.push(`Node ${r.node.version} is older than ${r.node.required}, the oldest facefill supports (package.json engines)`);
  const tfGpu = r.backends.find((b) => b.name === 'tensorflow-gpu');
  if (o.gpu === null && tfGpu?.loaded && tfGpu.usesGpu === false) {
    notes.push('tensorflow-gpu loads but TensorFlow sees no GPU: a worker would train through it on the CPU; `facefill doctor --gpu <i>` says why');
  }
  const jit = new Set<number>(gpuLog?.jitComputeCapabilities ?? []);
  for (const d of r.gpus.devices) if (d.computeCapability !== null && d.computeCapability > MAX_BUILT_COMPUTE_CAPABILITY) jit.add(d.computeCapability);
  if (jit.size > 0) {
    notes.push(
      `compute capability ${[...jit].join(', ')} is above ${MAX_BUILT_COMPUTE_CAPABILITY.toFixed(1)}, the highest libtensorflow 2.9.1 has kernels for: the first start on such a GPU JIT-compiles PTX (TensorFlow warns it "could take 30 minutes or longer") unless the CUDA cache kept the result (docs/gpu.md)`,
    );
    const c = r.cudaCache;
    if (c.disabled) notes.push('CUDA_CACHE_DISABLE=1: every start JIT-compiles again');
    else if (c.maxSizeBytes === null || c.maxSizeBytes < RECOMMENDED_CUDA_CACHE_BYTES) {
      notes.push(`CUDA_CACHE_MAXSIZE is ${c.maxSizeBytes === null ? 'unset (the driver default)' : c.maxSizeBytes}: set ${RECOMMENDED_CUDA_CACHE_BYTES} so the JIT-compiled kernels fit, and CUDA_CACHE_PATH on storage that outlives the process`);
    }
    if (c.path === null) notes.push('CUDA_CACHE_PATH is unset: the cache is ~/.nv/ComputeCache, which a container loses when it is replaced');
  }
  if (o.gpu !== null) {
    const gpu = r.gpus.devices.find((d) => d.index === o.gpu) ?? { index: o.gpu, uuid: null };
    if (!isGpuVisible(gpu, parseVisibleDevices(r.cudaVisibleDevices ?? undefined))) {
      notes.push(`CUDA_VISIBLE_DEVICES=${r.cudaVisibleDevices ?? ''} hides GPU ${o.gpu} from a worker started by hand in this environment (facefill workers sets it for each worker; the doctor's probe did too)`);
    }
  }
  if (ldconfigError) notes.push(`the loader cache could not be read (${ldconfigError}): libraries were looked up in LD_LIBRARY_PATH only`);
  if (r.zeromq.error) notes.push(`zeromq does not load: ${r.zeromq.error}; a worker cannot join a ring`);
  else if (!r.zeromq.curve) notes.push('libzmq was built without CURVE: a run with cluster.ringEncryption curve (the default) cannot form its ring');
  const d = r.disk;
  if (d.freeBytes !== null && d.marginBytes !== null && d.freeBytes < d.marginBytes) {
    notes.push(`only ${d.freeBytes} bytes free under ${d.workDir}, less than the ${d.marginBytes} a worker keeps free: it will refuse to download the dataset`);
  }
  if (d.error) notes.push(`the work directory's disk could not be measured: ${d.error}`);
  return notes;
}
