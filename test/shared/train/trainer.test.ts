import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { COSINE_FLOOR, type RunConfig } from '../../../src/shared/config';
import { GradientSizeMismatchError } from '../../../src/shared/errors';
import { buildDiscriminator, buildGenerator } from '../../../src/shared/model';
import { learningRateFactor } from '../../../src/shared/train/learning-rate-schedule';
import { type GradientReducer, Trainer } from '../../../src/shared/train/trainer';
import { boxBatch, maxAbsDiff, sliceBatch, syntheticFaces, tinyConfig } from './_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const faces = syntheticFaces(16, 16);
const batch = boxBatch(faces, [3, 9, 1, 14, 6, 0]);

const makeTrainer = (config: RunConfig, reduce?: GradientReducer, share = 1): Trainer =>
  new Trainer(
    config,
    {
      generator: buildGenerator(config.generator, config.data.imageSize, config.train.seed),
      discriminator: buildDiscriminator(config.discriminator, config.data.imageSize, config.train.seed),
    },
    reduce ? { reduce, share } : undefined,
  );

const trainableValues = (model: tf.LayersModel): number[] => model.trainableWeights.flatMap((w) => Array.from(w.read().dataSync()));

const mean = (a: Float32Array, b: Float32Array): Float32Array => a.map((v, i) => (v + b[i]) / 2);

// Without batch norm or minibatch features, samples do not interact, so the mean of the
// gradients of two half batches must equal the full batch's gradient.
for (const [label, over] of [
  ['no dropout, isolated', { generator: { dropout: 0 }, discriminator: { dropout: 0 } }],
  ['seeded dropout and noisy labels, mixed D pass', { loss: { isolatedMinibatches: false } }],
] as const) {
  test(`averaged half-batch gradients equal the full-batch gradient (${label})`, async (t) => {
    const config = tinyConfig({
      ...over,
      generator: { norm: 'none', ...over.generator },
      discriminator: { minibatch: 'none', ...('discriminator' in over ? over.discriminator : {}) },
    });
    const trainer = makeTrainer(config);
    const [a, b] = [sliceBatch(batch, 0, 3), sliceBatch(batch, 3, 6)];
    const step = 5;
    const dFull = await trainer.discriminatorGradients(batch, step);
    const dHalves = mean((await trainer.discriminatorGradients(a, step)).flat, (await trainer.discriminatorGradients(b, step)).flat);
    const gFull = await trainer.generatorGradients(batch, step);
    const gHalves = mean((await trainer.generatorGradients(a, step)).flat, (await trainer.generatorGradients(b, step)).flat);
    const scale = (v: Float32Array) => Math.max(...Array.from(v, Math.abs));
    t.true(scale(dFull.flat) > 0 && scale(gFull.flat) > 0);
    t.true(maxAbsDiff(dFull.flat, dHalves) <= 1e-5 * scale(dFull.flat), `D differs by ${maxAbsDiff(dFull.flat, dHalves)}`);
    t.true(maxAbsDiff(gFull.flat, gHalves) <= 1e-5 * scale(gFull.flat), `G differs by ${maxAbsDiff(gFull.flat, gHalves)}`);
  });
}

test('a step updates both networks and reports finite losses, scores, norms and timings', async (t) => {
  const trainer = makeTrainer(tinyConfig());
  const [g0, d0] = [trainableValues(trainer.generator), trainableValues(trainer.discriminator)];
  const r = await trainer.step(batch, 0);
  t.true(maxAbsDiff(g0, trainableValues(trainer.generator)) > 0);
  t.true(maxAbsDiff(d0, trainableValues(trainer.discriminator)) > 0);
  for (const v of [r.dLossReal, r.dLossFake, r.gAdversarialLoss, r.gL2Loss, r.gLoss, r.gGradNorm, r.dGradNorm]) {
    t.true(typeof v === 'number' && Number.isFinite(v));
  }
  for (const s of [r.dScoreReal, r.dScoreFake]) t.true(s !== null && s > 0 && s < 1);
  t.true(Object.values(r.seconds).every((s) => s >= 0) && r.seconds.total > 0);
});

test.serial('no tensors leak across steps', async (t) => {
  const trainer = makeTrainer(tinyConfig());
  await trainer.step(batch, 0); // Adam creates its moment variables on the first update.
  const before = tf.memory().numTensors;
  for (let step = 1; step <= 3; step++) await trainer.step(batch, step);
  t.is(tf.memory().numTensors, before);
});

test('a cosine schedule scales each update by the factor of its step: the last step of a run moves the weights COSINE_FLOOR as far', async (t) => {
  const run = async (schedule: RunConfig['optimizer']['schedule']): Promise<number[]> => {
    const config = tinyConfig({ optimizer: { schedule }, train: { steps: 2 } });
    const trainer = makeTrainer(config);
    await trainer.step(batch, 0);
    const before = trainableValues(trainer.generator);
    await trainer.step(batch, 1);
    const moved = trainableValues(trainer.generator).map((v, i) => v - before[i]);
    trainer.dispose();
    return moved;
  };
  const [constant, cosine] = [await run('constant'), await run('cosine')];
  t.is(learningRateFactor(tinyConfig({ optimizer: { schedule: 'cosine' }, train: { steps: 2 } }), 1), COSINE_FLOOR);
  const ratios = constant.map((d, i) => cosine[i] / d).filter((_, i) => Math.abs(constant[i]) > 1e-5);
  t.true(ratios.length > 10);
  for (const r of ratios) t.true(Math.abs(r - COSINE_FLOOR) < 0.01, `an update ${r} times the constant one`);
});

test('in l2 mode the discriminator is never trained and D statistics are null', async (t) => {
  const trainer = makeTrainer(tinyConfig({ loss: { mode: 'l2' } }));
  const d0 = trainer.discriminator.getWeights().map((w) => Array.from(w.dataSync()));
  const r = await trainer.step(batch, 0);
  t.deepEqual(trainer.discriminator.getWeights().map((w) => Array.from(w.dataSync())), d0);
  t.is(r.dLossReal, null);
  t.is(r.gAdversarialLoss, null);
  t.is(r.dGradNorm, null);
  t.true(r.gL2Loss > 0);
});

test('the reducer gets D then G flat gradients, and what it returns is what gets applied', async (t) => {
  const calls: string[] = [];
  const zeroing: GradientReducer = async (flat, phase, step) => {
    calls.push(`${phase}@${step}`);
    return new Float32Array(flat.length);
  };
  const trainer = makeTrainer(tinyConfig(), zeroing);
  const [g0, d0] = [trainableValues(trainer.generator), trainableValues(trainer.discriminator)];
  const r = await trainer.step(batch, 7);
  t.deepEqual(calls, ['D@7', 'G@7']);
  // Adam's update of a zero gradient (with zero moments) is zero.
  t.deepEqual(trainableValues(trainer.generator), g0);
  t.deepEqual(trainableValues(trainer.discriminator), d0);
  t.is(r.gGradNorm, 0);
});

test('the reducer gets the gradient weighted by the rank\'s share of the global batch', async (t) => {
  const seen: Float32Array[] = [];
  const keep: GradientReducer = async (flat) => (seen.push(flat.slice()), flat);
  const config = tinyConfig({ generator: { dropout: 0 }, discriminator: { dropout: 0 } });
  await makeTrainer(config, keep, 0.25).step(batch, 3);
  const whole = makeTrainer(config);
  const d = await whole.discriminatorGradients(batch, 3);
  t.true(maxAbsDiff(seen[0], d.flat.map((v) => v * 0.25)) <= 1e-7 * Math.max(...Array.from(d.flat, Math.abs)));
});

// A reducer that makes one phase's sum non-finite, as an all-reduce does when any rank's gradient is.
const poisoning = (phase: 'D' | 'G', value: number): GradientReducer => async (flat, p) => {
  if (p === phase) flat[flat.length >> 1] = value;
  return flat;
};

for (const [phase, value] of [['D', Number.NaN], ['G', Number.POSITIVE_INFINITY]] as const) {
  test(`a non-finite reduced ${phase} gradient is not applied and the step says so`, async (t) => {
    const trainer = makeTrainer(tinyConfig(), poisoning(phase, value));
    const [g0, d0] = [trainableValues(trainer.generator), trainableValues(trainer.discriminator)];
    const r = await trainer.step(batch, 0);
    t.regex(r.skipped ?? '', new RegExp(`the ${phase === 'D' ? 'discriminator' : 'generator'} gradient is not finite`));
    t.deepEqual(trainableValues(trainer.generator), g0, 'G was updated');
    if (phase === 'D') {
      t.deepEqual(trainableValues(trainer.discriminator), d0, 'D was updated');
      t.true(Number.isNaN(r.gGradNorm), 'G\'s phase ran after a skipped D');
    }
  });
}

test('a rank whose own loss is not finite sends a non-finite gradient, so the sum skips the step on every rank', async (t) => {
  // Images of 1e20 overflow G's L2 loss on this rank; the other ranks' gradients are clean.
  const sent: boolean[] = [];
  const sumWithCleanRanks: GradientReducer = async (flat) => (sent.push(flat.every(Number.isFinite)), flat.map((v) => v + 0.5));
  const trainer = makeTrainer(tinyConfig({ loss: { mode: 'l2' } }), sumWithCleanRanks);
  const huge = { ...batch, real: batch.real.map((v) => v * 1e20) };
  const r = await trainer.step(huge, 0);
  t.deepEqual(sent, [false]);
  t.regex(r.skipped ?? '', /the generator gradient is not finite \(this rank's generator loss is (NaN|Infinity)\)/);
});

test('a reducer returning the wrong length is a typed error naming the network', async (t) => {
  const trainer = makeTrainer(tinyConfig(), async (flat) => flat.subarray(1));
  await t.throwsAsync(trainer.step(batch, 0), { instanceOf: GradientSizeMismatchError, message: /discriminator gradient has/ });
});
