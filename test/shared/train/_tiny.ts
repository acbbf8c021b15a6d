import type { RunConfig } from '../../../src/shared/config';
import { DEFAULT_CONFIG, validateConfig } from '../../../src/shared/config';
import type { FaceSet } from '../../../src/shared/data/api';
import { NO_AUGMENT } from '../../../src/shared/data/augmentation';
import { generatedFaceSet } from '../../../src/shared/data/generated-face-set';
import type { Batch } from '../../../src/shared/train/batch';
import { loadCheckpoint } from '../../../src/shared/train/checkpoint';
import { readWeights } from '../../../src/shared/train/replica-weights';
import { Rng } from '../../../src/shared/util/rng';

type Overlay = { [K in keyof RunConfig]?: RunConfig[K] extends object ? Partial<RunConfig[K]> : RunConfig[K] };

/** A 16x16 config with every randomised feature on (dropout, noisy labels, minibatch features), small enough for the cpu backend. */
export function tinyConfig(over: Overlay = {}): RunConfig {
  const base: RunConfig = {
    ...DEFAULT_CONFIG,
    backend: 'cpu',
    generator: { layers: 4, baseFilters: 4, maxFilters: 8, kernelSize: 3, skip: true, bottleneck: 0, dropout: 0.2, norm: 'batch', upsample: 'transposed', mirrorInput: false, globalLinear: false, prior: 0 },
    discriminator: { layers: 2, baseFilters: 4, maxFilters: 8, kernelSize: 3, dropout: 0.2, minibatch: 'discrimination', minibatchKernels: 4, minibatchDims: 2 },
    loss: { ...DEFAULT_CONFIG.loss, noisyLabels: true },
    optimizer: { ...DEFAULT_CONFIG.optimizer, lrG: 2e-3, lrD: 1e-3, schedule: 'constant' },
    data: { imageSize: 16, batchSize: 4, maxImages: 0, occlusion: { box: 1 }, eyesBox: null, augment: { ...NO_AUGMENT }, prefetch: 2 },
    train: { ...DEFAULT_CONFIG.train, steps: 6, seed: 3, checkpointEvery: 0, logEvery: 1 },
  };
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const prev = merged[k];
    merged[k] = prev && typeof prev === 'object' && v && typeof v === 'object' ? { ...prev, ...v } : v;
  }
  return validateConfig(merged);
}

/** Smooth synthetic "faces" (a per-image brightness, ramp and blob), predictable from their surroundings. */
export function syntheticFaces(count: number, size: number, seed = 1): FaceSet {
  const pixels = new Uint8Array(count * size * size);
  for (let n = 0; n < count; n++) {
    const rng = new Rng(seed * 7919 + n);
    const [level, ramp, cx, cy] = [rng.uniform(60, 190), rng.uniform(-40, 40), rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const blob = 50 * Math.exp(-((x / size - cx) ** 2 + (y / size - cy) ** 2) * 12);
        pixels[n * size * size + y * size + x] = Math.max(0, Math.min(255, Math.round(level + (ramp * x) / size + blob)));
      }
    }
  }
  return generatedFaceSet(pixels, count, size, 'synthetic');
}

/** A batch of the given synthetic faces with a random rectangular hole each (independent of the data package). */
export function boxBatch(set: FaceSet, ids: number[], seed = 1, epoch = 0): Batch {
  const S = set.size;
  const area = S * S;
  const real = new Float32Array(ids.length * area);
  const mask = new Float32Array(ids.length * area);
  ids.forEach((id, n) => {
    const rng = new Rng(seed * 31 + id);
    const [x0, y0] = [rng.int(0, S / 2), rng.int(0, S / 2)];
    const [w, h] = [rng.int(3, S / 2), rng.int(3, S / 2)];
    for (let i = 0; i < area; i++) {
      real[n * area + i] = set.pixels[id * area + i] / 127.5 - 1;
      const [x, y] = [i % S, Math.floor(i / S)];
      mask[n * area + i] = x >= x0 && x < x0 + w && y >= y0 && y < y0 + h ? 1 : 0;
    }
  });
  return { ids: Int32Array.from(ids), real, mask, count: ids.length, size: S, epoch };
}

/** Rows [start, end) of a batch, as a data-parallel rank would receive them. */
export function sliceBatch(batch: Batch, start: number, end: number): Batch {
  const area = batch.size * batch.size;
  return {
    ...batch,
    ids: batch.ids.slice(start, end),
    real: batch.real.slice(start * area, end * area),
    mask: batch.mask.slice(start * area, end * area),
    count: end - start,
  };
}

/** Largest absolute difference between two equally long vectors. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Every weight of the checkpoint in `dir` (a checkpoint or a run folder), as one flat array. */
export async function checkpointWeights(dir: string): Promise<Float32Array> {
  const { networks } = await loadCheckpoint(dir);
  const flat = readWeights(networks, 'all');
  networks.generator.dispose();
  networks.discriminator.dispose();
  return flat;
}
