import { DEFAULT_CONFIG, type RunConfig, validateConfig } from '../config';
import type { FaceSet } from '../data/api';
import { generatedFaceSet } from '../data/generated-face-set';
import { drawSyntheticFace } from '../data/synthetic-face';
import { buildDiscriminator, buildGenerator } from '../model';
import { makeBatch } from '../train/batch';
import { Trainer } from '../train/trainer';

/** How long a tiny step took, from building the networks to the second step. */
export interface StepTiming {
  imageSize: number;
  batchSize: number;
  /** Building both networks (and their first weights). */
  buildSeconds: number;
  /** The first step: includes the backend's one-time work (kernel compilation, autotuning, on a GPU any PTX JIT). */
  firstStepSeconds: number;
  /** The second step: what a step costs once warm. */
  stepSeconds: number;
}

/**
 * The default preset's architecture scaled down to 32x32 pixels and a batch of 4: every layer
 * kind a real run uses (strided convolutions, skips, batch norm, minibatch discrimination,
 * dropout, both losses and both Adams) at a cost of a fraction of a second on wasm.
 */
export function tinyStepConfig(): RunConfig {
  return validateConfig({
    ...DEFAULT_CONFIG,
    generator: { ...DEFAULT_CONFIG.generator, layers: 4, baseFilters: 8, maxFilters: 16, prior: Math.min(DEFAULT_CONFIG.generator.prior, 8) },
    discriminator: { ...DEFAULT_CONFIG.discriminator, layers: 2, baseFilters: 8, maxFilters: 16, minibatchKernels: 4, minibatchDims: 2 },
    data: { ...DEFAULT_CONFIG.data, imageSize: 32, batchSize: 4 },
    train: { ...DEFAULT_CONFIG.train, steps: 2, checkpointEvery: 0 },
  });
}

/**
 * Runs two training steps of `config` with the project's trainer on the active tensor backend,
 * on generated faces, and times them. Throws when a step reports a non-finite loss: a backend
 * that computes garbage is no more usable than one that does not load.
 */
export async function timeTinySteps(config: RunConfig = tinyStepConfig()): Promise<StepTiming> {
  const size = config.data.imageSize;
  const count = config.data.batchSize;
  const t0 = performance.now();
  const trainer = new Trainer(config, {
    generator: buildGenerator(config.generator, size, config.train.seed),
    discriminator: buildDiscriminator(config.discriminator, size, config.train.seed),
  });
  const t1 = performance.now();
  try {
    const batch = makeBatch(generatedFaces(count, size), Array.from({ length: count }, (_, i) => i), config, 0);
    const seconds: number[] = [];
    for (let step = 0; step < 2; step++) {
      const start = performance.now();
      const r = await trainer.step(batch, step);
      seconds.push((performance.now() - start) / 1000);
      if (!Number.isFinite(r.gLoss) || (r.dLossReal !== null && !Number.isFinite(r.dLossReal))) {
        throw new Error(`step ${step} computed a non-finite loss (G ${r.gLoss}, D real ${r.dLossReal})`);
      }
    }
    return { imageSize: size, batchSize: count, buildSeconds: (t1 - t0) / 1000, firstStepSeconds: seconds[0], stepSeconds: seconds[1] };
  } finally {
    trainer.dispose();
    trainer.generator.dispose();
    trainer.discriminator.dispose();
  }
}

function generatedFaces(count: number, size: number): FaceSet {
  const pixels = new Uint8Array(count * size * size);
  for (let i = 0; i < count; i++) pixels.set(drawSyntheticFace(0, i, size).pixels, i * size * size);
  return generatedFaceSet(pixels, count, size, 'doctor');
}
