import { MAX_BUILT_COMPUTE_CAPABILITY, MIN_DRIVER_VERSION } from '../backend/gpu-requirements';
import { compareVersions } from '../backend/nvidia-smi';
import type { TensorflowGpuLog } from '../backend/tensorflow-log';
import type { StepOutcome } from './probe-protocol';
import type { BackendStatus, GpuInventory, GpuVerdict, LibraryStatus } from './report';

/** What {@link judgeGpu} weighs: the host's GPUs and libraries, and how the tensorflow-gpu backend fared on the GPU. */
export interface GpuEvidence {
  gpus: GpuInventory;
  cudaLibraries: readonly LibraryStatus[];
  driverLibrary: LibraryStatus;
  /** The tensorflow-gpu backend's status, probed with only this GPU visible (as `facefill workers` starts a worker). */
  tensorflowGpu: BackendStatus;
  /** libtensorflow's GPU log from that probe, or null when the package is not installed. */
  gpuLog: TensorflowGpuLog | null;
  /** The tiny step, when it ran on tensorflow-gpu. */
  step: StepOutcome | null;
}

/**
 * Whether GPU `index` (nvidia-smi's ordinal) can run a facefill worker, and each reason it
 * cannot: no driver, not listed, a driver too old for CUDA 11, CUDA or cuDNN libraries the
 * loader cannot find, a tensorflow-gpu backend that does not load, that loads but computes
 * on the CPU, or whose train step fails there. Every reason found is listed, not just the
 * first: an operator fixing a node wants the whole list at once.
 */
export function judgeGpu(index: number, e: GpuEvidence): GpuVerdict {
  const problems: string[] = [];
  const { gpus } = e;
  if (gpus.nvidiaSmi === 'absent') {
    problems.push('nvidia-smi not found: no NVIDIA driver on this host (in a container: no GPU was passed in)');
  } else if (gpus.nvidiaSmi !== 'ok') {
    problems.push(`nvidia-smi -L failed: ${gpus.detail ?? gpus.nvidiaSmi}`);
  } else if (!gpus.devices.some((d) => d.index === index)) {
    problems.push(`nvidia-smi lists no GPU ${index} (this host has ${gpus.devices.map((d) => d.index).join(', ') || 'none'})`);
  }
  if (gpus.driverVersion !== null && compareVersions(gpus.driverVersion, MIN_DRIVER_VERSION) < 0) {
    problems.push(`NVIDIA driver ${gpus.driverVersion} is older than ${MIN_DRIVER_VERSION}, the oldest CUDA 11 runs on`);
  }
  const missing = e.cudaLibraries.filter((l) => l.path === null).map((l) => l.soname);
  if (missing.length > 0) problems.push(`CUDA/cuDNN libraries not found by the loader: ${missing.join(', ')} (CUDA 11.2 and cuDNN 8.1; see docs/gpu.md)`);
  if (gpus.nvidiaSmi === 'ok' && e.driverLibrary.path === null) problems.push(`${e.driverLibrary.soname} not found by the loader: the driver's library is not installed or not mounted`);
  const tf = e.tensorflowGpu;
  const cc = gpus.devices.find((d) => d.index === index)?.computeCapability ?? null;
  // A probe killed at its time limit on such a GPU is most likely compiling PTX (runBounded's words).
  const jitHint = (why: string) =>
    cc !== null && cc > MAX_BUILT_COMPUTE_CAPABILITY && /did not finish within/.test(why)
      ? ` (compute capability ${cc}: the first start JIT-compiles PTX, which can take 30 minutes or more; run doctor again with a larger --timeout and a persistent CUDA cache, docs/gpu.md)`
      : '';
  if (!tf.loaded) {
    const why = tf.reason ?? 'unknown reason';
    problems.push(`the tensorflow-gpu backend does not load: ${why}${jitHint(why)}`);
  } else if (tf.usesGpu === false) {
    // TensorFlow prints a library's line again each time it tries it: name each once.
    const missing = new Set(e.gpuLog?.dlopenFailures.map((f) => f.library));
    const said = [...[...missing].map((l) => `could not load ${l}`), ...(e.gpuLog?.refusals ?? [])];
    problems.push(`TensorFlow found no usable GPU and computes on the CPU${said.length > 0 ? `: ${said.slice(0, 3).join('; ')}` : ''}`);
  }
  if (tf.loaded && e.step && e.step.backend === 'tensorflow-gpu' && !e.step.ok) {
    const why = e.step.error ?? 'unknown error';
    problems.push(`the train step failed on GPU ${index}: ${why}${jitHint(why)}`);
  }
  return { index, usable: problems.length === 0, problems };
}
