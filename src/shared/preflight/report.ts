import type { GpuDevice } from '../backend/nvidia-smi';
import type { BackendName } from '../config';
import type { RunStatus } from '../util/bounded-run';
import type { ResolvedLibrary } from './library-resolution';
import type { StepOutcome } from './probe-protocol';

/*
 * What `facefill doctor` finds, field for field what `--json` prints; the table is made from
 * it too (format-report.ts). Every field is plain data: a report can be compared, stored and
 * read back.
 */

/** The Node.js running facefill, against what package.json's engines asks. */
export interface NodeStatus {
  version: string;
  required: string;
  ok: boolean;
}

/** One tensor backend: whether it loads here, and why not. */
export interface BackendStatus {
  name: BackendName;
  /** The npm package it needs, for the native ones. */
  package: string | null;
  loaded: boolean;
  /** Why it did not load: not installed, the load's error, the probe's time limit. */
  reason: string | null;
  loadSeconds: number | null;
  /** Native backends: whether TensorFlow computes on a GPU (false: it fell back to the CPU); null when unknown. */
  usesGpu: boolean | null;
  /** Native backends: the libtensorflow version the binding reports. */
  libtensorflow: string | null;
}

/** The GPUs nvidia-smi lists, or why it lists none. */
export interface GpuInventory {
  /** ok: it ran; absent: no nvidia-smi (no NVIDIA driver); failed or timeout: it is there but broken. */
  nvidiaSmi: RunStatus;
  /** What went wrong, when it did not run cleanly. */
  detail: string | null;
  driverVersion: string | null;
  devices: GpuDevice[];
}

/** One CUDA or cuDNN library the tensorflow-gpu backend opens, and where the loader finds it. */
export interface LibraryStatus extends ResolvedLibrary {
  what: string;
}

/** The zeromq binding the ring runs on. */
export interface ZeromqStatus {
  /** The libzmq version, or null when the binding does not load. */
  version: string | null;
  /** Whether libzmq was built with CURVE (the ring's encryption, cluster.ringEncryption 'curve'). */
  curve: boolean;
  error: string | null;
}

/** Free space where `facefill worker` keeps its data. */
export interface DiskStatus {
  workDir: string;
  /** The directory measured: the work directory or, before it exists, its nearest existing ancestor. */
  measured: string | null;
  freeBytes: number | null;
  totalBytes: number | null;
  /** The least `facefill pull` and the workers leave free (max(256 MiB, 1%)). */
  marginBytes: number | null;
  error: string | null;
}

/** The CUDA driver's JIT cache, as this process's environment sets it (read by the driver when a process starts). */
export interface CudaCacheStatus {
  /** CUDA_CACHE_PATH, or null for the driver's default (~/.nv/ComputeCache). */
  path: string | null;
  /** CUDA_CACHE_MAXSIZE in bytes, or null when unset (the driver's default) or not a number. */
  maxSizeBytes: number | null;
  /** CUDA_CACHE_DISABLE=1: nothing JIT-compiled is kept. */
  disabled: boolean;
}

/** Whether the GPU asked for with `--gpu` can run a worker, and everything that stops it. */
export interface GpuVerdict {
  index: number;
  usable: boolean;
  problems: string[];
}

/** Everything `facefill doctor` found. */
export interface DoctorReport {
  node: NodeStatus;
  platform: { os: string; arch: string };
  /** The backend preference checked (`--backend`, default auto). */
  preference: 'auto' | BackendName;
  backends: BackendStatus[];
  /** The backend a worker would compute on (the first that loads, in auto's order), or null when none does. */
  chosenBackend: BackendName | null;
  /** The timed tiny train step on the chosen backend, or null when none loads. */
  trainStep: StepOutcome | null;
  gpus: GpuInventory;
  cudaLibraries: LibraryStatus[];
  /** libcuda.so.1, the driver's library: found only where a driver is installed or mounted. */
  driverLibrary: LibraryStatus;
  /** CUDA_VISIBLE_DEVICES as this process has it, or null when unset. */
  cudaVisibleDevices: string | null;
  cudaCache: CudaCacheStatus;
  zeromq: ZeromqStatus;
  disk: DiskStatus;
  /** The `--gpu` verdict, or null when no GPU was asked for. */
  requestedGpu: GpuVerdict | null;
  /** Things worth knowing that are no failure (a GPU that JIT-compiles at its first start, a low disk). */
  notes: string[];
}
