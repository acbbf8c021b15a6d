import { ConfigInvalidError } from '../shared/errors';

/** One worker process to start: which device it gets and the environment that pins it there. */
export interface WorkerSlot {
  /** Local index of the worker on this host (0..n-1). */
  local: number;
  /** Physical GPU ordinal, or -1 for a CPU worker. */
  gpu: number;
  /** Variables to add to the worker's environment. */
  env: Record<string, string>;
}

/** What `facefill workers` was asked for: GPUs (`all` or ordinals) or a number of CPU workers. */
export type DeviceRequest = { gpus: 'all' | number[] } | { cpu: number };

/**
 * Plans one worker process per requested GPU (or per requested CPU core): each GPU worker
 * sees only its own device (CUDA_VISIBLE_DEVICES, so it is GPU 0 inside the process) and
 * grows its memory on demand (TF_FORCE_GPU_ALLOW_GROWTH) instead of grabbing the whole card;
 * CPU workers get no visible GPU at all.
 */
export function planWorkers(request: DeviceRequest, detectedGpus: readonly number[]): WorkerSlot[] {
  if ('cpu' in request) {
    if (!Number.isInteger(request.cpu) || request.cpu < 1) throw new ConfigInvalidError(`--cpu ${request.cpu}: expected a positive number of workers`);
    return Array.from({ length: request.cpu }, (_, local) => ({ local, gpu: -1, env: { CUDA_VISIBLE_DEVICES: '' } }));
  }
  const gpus = request.gpus === 'all' ? [...detectedGpus] : request.gpus;
  if (gpus.length === 0) throw new ConfigInvalidError('--gpus all: no GPU was detected on this host (nvidia-smi -L lists none); use --cpu N to run CPU workers');
  const missing = gpus.filter((g) => !detectedGpus.includes(g));
  if (missing.length > 0) throw new ConfigInvalidError(`--gpus ${gpus.join(',')}: GPU ${missing.join(', ')} not found; this host has ${detectedGpus.join(', ') || 'none'}`);
  if (new Set(gpus).size !== gpus.length) throw new ConfigInvalidError(`--gpus ${gpus.join(',')}: a GPU is listed twice`);
  return gpus.map((gpu, local) => ({ local, gpu, env: { CUDA_VISIBLE_DEVICES: String(gpu), TF_FORCE_GPU_ALLOW_GROWTH: 'true' } }));
}

/** Parses a `--gpus` value: `all` or comma-separated ordinals such as `0,1,3`. */
export function parseGpuList(value: string): 'all' | number[] {
  if (value.trim() === 'all') return 'all';
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) throw new ConfigInvalidError(`--gpus '${value}': expected 'all' or GPU ordinals like 0,1,3`);
  return parts.map(Number);
}
