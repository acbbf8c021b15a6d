import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import type { RunConfig } from '../../../src/shared/config';
import { buildDiscriminator, buildGenerator, fitGeneratorPrior } from '../../../src/shared/model';
import { loadCheckpoint, saveCheckpoint } from '../../../src/shared/train/checkpoint';
import { Trainer } from '../../../src/shared/train/trainer';
import { boxBatch, maxAbsDiff, syntheticFaces, tinyConfig } from './_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const N = 3;
const faces = syntheticFaces(16, 16);
const batchAt = (step: number) => boxBatch(faces, [0, 1, 2, 3].map((i) => (step * 4 + i) % 16), 1, step);
const allWeights = (trainer: Trainer): Float32Array =>
  Float32Array.from([trainer.generator, trainer.discriminator].flatMap((m) => m.getWeights().flatMap((w) => Array.from(w.dataSync()))));

const fresh = (config: RunConfig): Trainer => {
  const generator = buildGenerator(config.generator, 16, config.train.seed);
  fitGeneratorPrior(generator, config.generator, faces);
  return new Trainer(config, { generator, discriminator: buildDiscriminator(config.discriminator, 16, config.train.seed) });
};

async function resumed(config: RunConfig, restoreOptimizers: boolean): Promise<Trainer> {
  const first = fresh(config);
  for (let step = 0; step < N; step++) await first.step(batchAt(step), step);
  const out = mkdtempSync(join(tmpdir(), 'facefill-resume-'));
  const optimizers = await first.optimizerStates();
  await saveCheckpoint(out, { step: N, config, manifestHash: 'm', networks: first, optimizers });
  const loaded = await loadCheckpoint(out);
  const second = new Trainer(config, loaded.networks);
  if (restoreOptimizers) await second.loadOptimizerStates(loaded.optimizers);
  for (let step = loaded.step; step < 2 * N; step++) await second.step(batchAt(step), step);
  return second;
}

// Dropout, noisy labels, batch norm and minibatch discrimination are all on in tinyConfig.
for (const [what, config] of [['', tinyConfig()], [', with a face prior', tinyConfig({ generator: { prior: 4 } })]] as const) {
  test(`N steps, a checkpoint, a resume and N more steps give the weights of 2N straight steps${what}`, async (t) => {
    const straight = fresh(config);
    for (let step = 0; step < 2 * N; step++) await straight.step(batchAt(step), step);
    const diff = maxAbsDiff(allWeights(straight), allWeights(await resumed(config, true)));
    t.log(`largest weight difference after resuming: ${diff}`);
    t.true(diff <= 1e-6, `resumed weights differ by ${diff}`);
    // The comparison is sensitive: dropping the optimizers' state breaks it.
    t.true(maxAbsDiff(allWeights(straight), allWeights(await resumed(config, false))) > 1e-4);
  });
}
