import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import {
  bceWithLogits,
  discriminatorLoss,
  generatorAdversarialLoss,
  generatorTotalLoss,
  l2Loss,
} from '../../../src/shared/model';

test.before(async () => {
  await tf.setBackend('cpu');
});

const close = (a: number, b: number, tol = 1e-5): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
const value = (x: tf.Tensor): number => x.dataSync()[0];
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

test('BCE of logit 0 is ln 2 for any target', (t) => {
  for (const z of [0, 0.3, 1]) t.true(close(value(bceWithLogits(tf.scalar(0), tf.scalar(z))), Math.LN2));
});

test('BCE matches -z log(p) - (1-z) log(1-p) for moderate logits', (t) => {
  for (const x of [-3, -0.5, 0.7, 2.5]) {
    for (const z of [0, 0.1, 0.9, 1]) {
      const p = sigmoid(x);
      t.true(close(value(bceWithLogits(tf.scalar(x), tf.scalar(z))), -z * Math.log(p) - (1 - z) * Math.log(1 - p)));
    }
  }
});

test('BCE stays finite and exact for extreme logits', (t) => {
  t.true(close(value(bceWithLogits(tf.scalar(100), tf.scalar(1))), 0));
  t.true(close(value(bceWithLogits(tf.scalar(-100), tf.scalar(1))), 100));
  t.true(close(value(bceWithLogits(tf.scalar(100), tf.scalar(0))), 100));
});

test('BCE gradient is sigmoid(x) - z, also at x = 0', (t) => {
  for (const x of [0, 1.5, -2]) {
    const grad = tf.grad((l: tf.Tensor) => bceWithLogits(l, tf.scalar(0.9)))(tf.scalar(x));
    t.true(close(value(grad), sigmoid(x) - 0.9));
  }
});

test('D loss is the mean BCE over per-sample targets', (t) => {
  const logits = tf.tensor2d([[0], [2]]);
  const expected = (Math.LN2 + (-0.9 * Math.log(sigmoid(2)) - 0.1 * Math.log(1 - sigmoid(2)))) / 2;
  t.true(close(value(discriminatorLoss(logits, tf.tensor1d([1, 0.9]))), expected));
});

test('generator adversarial losses: unique uses the real label, reverse is -log D, saturating is log(1 - D)', (t) => {
  const logits = tf.tensor2d([[-1], [0.5]]);
  const mean = (f: (x: number) => number) => (f(-1) + f(0.5)) / 2;
  const bce = (x: number, z: number) => -z * Math.log(sigmoid(x)) - (1 - z) * Math.log(1 - sigmoid(x));
  t.true(close(value(generatorAdversarialLoss(logits, { generatorLoss: 'unique', softLabels: true })), mean((x) => bce(x, 0.9))));
  t.true(close(value(generatorAdversarialLoss(logits, { generatorLoss: 'unique', softLabels: false })), mean((x) => bce(x, 1))));
  t.true(close(value(generatorAdversarialLoss(logits, { generatorLoss: 'reverse', softLabels: true })), mean((x) => -Math.log(sigmoid(x)))));
  t.true(close(value(generatorAdversarialLoss(logits, { generatorLoss: 'saturating', softLabels: true })), mean((x) => Math.log(1 - sigmoid(x)))));
});

test('L2 over the hole is the per-sample mean over hole pixels, averaged over samples', (t) => {
  // Two 2x2 samples: the first has a 1-pixel hole with error 2, the second a 2-pixel hole with errors 1 and 3.
  const raw = tf.tensor4d([2, 5, 5, 5, 1, 3, 9, 9], [2, 2, 2, 1]);
  const real = tf.tensor4d([0, 0, 0, 0, 0, 0, 0, 0], [2, 2, 2, 1]);
  const mask = tf.tensor4d([1, 0, 0, 0, 1, 1, 0, 0], [2, 2, 2, 1]);
  t.true(close(value(l2Loss(raw, real, mask, 'hole')), (4 + (1 + 9) / 2) / 2));
  t.true(close(value(l2Loss(raw, real, mask, 'image')), (4 + 25 * 3 + 1 + 9 + 81 * 2) / 8));
  // A sample without a hole contributes 0 rather than NaN.
  t.is(value(l2Loss(raw, real, tf.zerosLike(mask), 'hole')), 0);
});

test('the total G loss weights and selects terms by mode', (t) => {
  const adv = tf.scalar(2);
  const l2 = tf.scalar(0.5);
  const weights = { ganWeight: 3, l2Weight: 10 };
  t.is(value(generatorTotalLoss(adv, l2, { mode: 'gan', ...weights })), 6);
  t.is(value(generatorTotalLoss(null, l2, { mode: 'l2', ...weights })), 5);
  t.is(value(generatorTotalLoss(adv, l2, { mode: 'gan+l2', ...weights })), 11);
});
