import { BackendUnavailableError, ConfigInvalidError, GpuUnavailableError } from '../errors';
import type { Logger } from '../log';
import type { BackendName, BackendProbe, ComputeBackend, DeviceKind, SelectedBackend } from './api';
import { describeDiagnosis, diagnoseGpuLoad, type GpuDiagnosis } from './gpu-diagnosis';

/** What a process asks of its backend. */
export interface ComputeRequest {
  preference: 'auto' | BackendName;
  /** The GPU ordinal the process was started for (`--gpu`), or -1 for a CPU process. */
  gpu: number;
  /** Compute on the CPU, with a warning, rather than fail when the GPU cannot be used (`--allow-cpu-fallback`). */
  allowCpuFallback: boolean;
  probe: BackendProbe;
  log?: Logger;
}

/**
 * Activates the tensor backend and says what it computes on. A process started for a GPU must
 * compute on it: tfjs-node-gpu has to load and report a GPU device (`isUsingGpuDevice`), since
 * libtensorflow quietly runs on the CPU when it finds none and `auto` quietly falls to wasm,
 * either one many times slower, holding back every rank of a synchronous ring. Unless
 * `allowCpuFallback`, that is an error naming the GPU and the likely cause, read from what
 * TensorFlow printed while it loaded.
 * @throws GpuUnavailableError when a GPU process would not compute on its GPU.
 * @throws ConfigInvalidError when a GPU process is asked for a backend that never uses a GPU.
 * @throws BackendUnavailableError when the preferred backend (or, with `auto`, every one) cannot load.
 */
export async function selectComputeBackend(r: ComputeRequest): Promise<ComputeBackend> {
  const strict = r.gpu >= 0 && !r.allowCpuFallback;
  if (strict && r.preference !== 'auto' && r.preference !== 'tensorflow-gpu') {
    throw new ConfigInvalidError(`--gpu ${r.gpu} starts a GPU worker, but --backend ${r.preference} never computes on a GPU: use --backend auto or tensorflow-gpu, --gpu -1 for a CPU worker, or --allow-cpu-fallback`);
  }
  let selected: SelectedBackend;
  try {
    selected = await r.probe.select(r.preference);
  } catch (err) {
    // tensorflow-gpu asked for by name and not there: the same failure as falling past it.
    if (!strict || !(err instanceof BackendUnavailableError)) throw err;
    throw new GpuUnavailableError(r.gpu, gpuUnavailableMessage(r.gpu, { loaded: false, fellTo: null }, diagnoseGpuLoad(err.message)));
  }
  const device: DeviceKind = onGpuDevice(selected, r.probe) ? 'gpu' : 'cpu';
  if (r.gpu < 0 || device === 'gpu') return { ...selected, device };
  const gpuSkipped = selected.skipped.find((s) => s.name === 'tensorflow-gpu');
  const loaded = selected.name === 'tensorflow-gpu';
  if (!loaded && !gpuSkipped) {
    // Only with --allow-cpu-fallback: the backend asked for never tries the GPU, so there is nothing to diagnose.
    r.log?.warn({ gpu: r.gpu, backend: selected.name }, `GPU ${r.gpu}: --backend ${selected.name} computes on the CPU (going on: --allow-cpu-fallback)`);
    return { ...selected, device };
  }
  // The text to read: the load error of tensorflow-gpu, or (it loaded, without a device) what TensorFlow printed.
  const text = loaded ? await r.probe.gpuLoadTranscript() : (gpuSkipped?.reason ?? '');
  const message = gpuUnavailableMessage(r.gpu, { loaded, fellTo: loaded ? null : selected.name }, diagnoseGpuLoad(text));
  if (!r.allowCpuFallback) throw new GpuUnavailableError(r.gpu, message);
  r.log?.warn({ gpu: r.gpu, backend: selected.name, device }, `${message} (going on: --allow-cpu-fallback)`);
  return { ...selected, device };
}

/** Whether the active backend computes on a GPU device: tensorflow-gpu whose tfjs-node backend says `isUsingGpuDevice`. */
export function onGpuDevice(selected: SelectedBackend, probe: Pick<BackendProbe, 'find'>): boolean {
  if (selected.name !== 'tensorflow-gpu') return false;
  const backend = probe.find('tensorflow');
  return backend !== undefined && 'isUsingGpuDevice' in backend && backend.isUsingGpuDevice === true;
}

/**
 * The message of a GPU that cannot be used: the GPU, what the process would compute on instead,
 * the likely cause with what to do, and where to look further. `loaded`: tfjs-node-gpu loaded
 * but has no device; else it did not load and the process fell to `fellTo` (null: nothing was tried after it).
 */
export function gpuUnavailableMessage(gpu: number, how: { loaded: boolean; fellTo: BackendName | null }, d: GpuDiagnosis): string {
  const instead = how.loaded ? 'the CPU' : how.fellTo ? `${how.fellTo} (the CPU)` : null;
  const what = how.loaded ? 'tfjs-node-gpu loaded but TensorFlow registered no GPU device' : 'tfjs-node-gpu did not load';
  const impact = instead ? `, so this worker would compute on ${instead}, many times slower, holding back every rank of the ring` : '';
  const libraries = d.missing.length > 0 && d.cause !== 'libraries-missing' ? ` (TensorFlow could not load ${d.missing.join(', ')})` : '';
  return `GPU ${gpu} cannot be used: ${what}${impact}; ${describeDiagnosis(d)}${libraries}. Check this host with \`facefill doctor\`; --allow-cpu-fallback runs on the CPU anyway`;
}
