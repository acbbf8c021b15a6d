import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { MemoryRing } from '../../../src/shared/collective/memory-transport';
import { createAllReduce } from '../../../src/shared/collective/ring-allreduce';
import type { RunConfig } from '../../../src/shared/config';
import { ConfigInvalidError } from '../../../src/shared/errors';
import { createLogger } from '../../../src/shared/log';
import { buildDiscriminator, buildGenerator } from '../../../src/shared/model';
import { EmulatedTrainer } from '../../../src/shared/train/emulated-trainer';
import { discriminatorParameters, generatorParameters } from '../../../src/shared/train/parameter-count';
import { trainOnFaceSet } from '../../../src/shared/train/train-loop';
import { type GradientReducer, Trainer } from '../../../src/shared/train/trainer';
import { trainerFor } from '../../../src/shared/train/trainer-for';
import { boxBatch, checkpointWeights, syntheticFaces, tinyConfig } from './_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const faces = syntheticFaces(12, 16);
const batch = boxBatch(faces, [0, 1, 2, 3]);
const networks = (config: RunConfig) => ({
  generator: buildGenerator(config.generator, config.data.imageSize, config.train.seed),
  discriminator: buildDiscriminator(config.discriminator, config.data.imageSize, config.train.seed),
});

test('the config picks the emulated trainer only with train.emulateComputeMs', (t) => {
  const real = tinyConfig();
  const emulated = tinyConfig({ train: { emulateComputeMs: 5 } });
  t.false(trainerFor(real, networks(real)) instanceof EmulatedTrainer);
  t.true(trainerFor(real, networks(real)) instanceof Trainer);
  t.true(trainerFor(emulated, networks(emulated)) instanceof EmulatedTrainer);
  t.throws(() => tinyConfig({ train: { emulateComputeMs: 0 } }), { instanceOf: ConfigInvalidError, message: /train\.emulateComputeMs/ });
});

test('a step reduces D, then G, gradients as long as the networks\' trainable weights, weighted by the rank\'s share', async (t) => {
  const config = tinyConfig({ train: { emulateComputeMs: 2 } });
  const seen: { phase: string; step: number; length: number; first: number }[] = [];
  const reduce: GradientReducer = async (flat, phase, step) => {
    seen.push({ phase, step, length: flat.length, first: flat[0] });
    return flat.map(() => 1);
  };
  const trainer = new EmulatedTrainer(config, networks(config), 2, { reduce, share: 0.25 });
  const r = await trainer.step(batch, 7);
  const size = config.data.imageSize;
  t.deepEqual(seen, [
    { phase: 'D', step: 7, length: discriminatorParameters(config.discriminator, size).trainable, first: 0.25 },
    { phase: 'G', step: 7, length: generatorParameters(config.generator, size).trainable, first: 0.25 },
  ]);
  t.is(r.skipped, null);
  t.is(r.gGradNorm, Math.sqrt(seen[1].length));
  t.is(r.dGradNorm, Math.sqrt(seen[0].length));
  t.is(r.dLossReal, null);
  t.true(r.seconds.dReduce >= 0 && r.seconds.gReduce >= 0 && r.seconds.total >= r.seconds.dReduce + r.seconds.gReduce);
});

test('without a discriminator to train (l2 mode) only G\'s gradient is reduced', async (t) => {
  const config = tinyConfig({ loss: { mode: 'l2' }, train: { emulateComputeMs: 1 } });
  const phases: string[] = [];
  const trainer = new EmulatedTrainer(config, networks(config), 1, { reduce: async (flat, phase) => (phases.push(phase), flat), share: 1 });
  const r = await trainer.step(batch, 0);
  t.deepEqual(phases, ['G']);
  t.is(r.dGradNorm, null);
});

test('ranks on a ring sum their shares to ones, and a non-finite sum skips the step', async (t) => {
  const config = tinyConfig({ train: { emulateComputeMs: 1 } });
  const ring = new MemoryRing(3, createLogger('test', 'silent'));
  const shares = [0.5, 0.25, 0.25];
  const ranks = shares.map((share, rank) => new EmulatedTrainer(config, networks(config), 1, { reduce: createAllReduce({ transport: ring.transport(rank), run: 'emulated', timeoutMs: 10_000 }), share }));
  const results = await Promise.all(ranks.map((trainer) => trainer.step(batch, 0)));
  const length = generatorParameters(config.generator, config.data.imageSize).trainable;
  for (const r of results) t.is(r.gGradNorm, Math.sqrt(length));
  const poisoned = new EmulatedTrainer(config, networks(config), 1, { reduce: async (flat) => flat.fill(Number.NaN), share: 1 });
  t.regex((await poisoned.step(batch, 1)).skipped ?? '', /not finite/);
});

test('a run with train.emulateComputeMs trains its steps and leaves the weights as built', async (t) => {
  const config = tinyConfig({ train: { steps: 3, emulateComputeMs: 1 } });
  const out = mkdtempSync(join(tmpdir(), 'facefill-emulated-'));
  const summary = await trainOnFaceSet({ config, set: faces, manifestHash: 'emulated', outDir: out, resume: false });
  t.is(summary.stepsRun, 3);
  const built = networks(config);
  const initial = Float32Array.from([built.generator, built.discriminator].flatMap((m) => m.getWeights().flatMap((w) => Array.from(w.dataSync()))));
  t.deepEqual(await checkpointWeights(out), initial);
});
