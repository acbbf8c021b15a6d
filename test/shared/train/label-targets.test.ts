import test from 'ava';
import { labelTargets } from '../../../src/shared/train/label-targets';

const quiet = { softLabels: false, noisyLabels: false, labelNoiseStd: 0.1 };

test('without noise, real targets are 1 (0.9 with soft labels) and fake targets 0', (t) => {
  t.deepEqual(Array.from(labelTargets(quiet, 1, 0, [4, 5]).real), [1, 1]);
  t.deepEqual(Array.from(labelTargets({ ...quiet, softLabels: true }, 1, 0, [4, 5]).real), [0.9, 0.9].map(Math.fround));
  t.deepEqual(Array.from(labelTargets(quiet, 1, 0, [4, 5]).fake), [0, 0]);
});

test('noisy targets are clipped to [0, 1] and spread with about the configured std', (t) => {
  const ids = Array.from({ length: 4000 }, (_, i) => i);
  const { real, fake } = labelTargets({ softLabels: true, noisyLabels: true, labelNoiseStd: 0.1 }, 2, 9, ids);
  t.true([...real, ...fake].every((v) => v >= 0 && v <= 1));
  // Fake targets are 0 + N(0, 0.1) clipped at 0: about half sit at 0, the rest have mean 0.1 * sqrt(2 / pi).
  const positive = Array.from(fake).filter((v) => v > 0);
  t.true(Math.abs(positive.length / ids.length - 0.5) < 0.04);
  const meanPositive = positive.reduce((a, b) => a + b, 0) / positive.length;
  t.true(Math.abs(meanPositive - 0.1 * Math.sqrt(2 / Math.PI)) < 0.01, `mean of positive fake targets ${meanPositive}`);
});

test('a sample\'s noisy targets depend on its global id and the step, not on its batch', (t) => {
  const loss = { softLabels: true, noisyLabels: true, labelNoiseStd: 0.2 };
  const whole = labelTargets(loss, 5, 3, [8, 1, 6]);
  const shard = labelTargets(loss, 5, 3, [6, 8]);
  t.deepEqual([shard.real[0], shard.real[1], shard.fake[0], shard.fake[1]], [whole.real[2], whole.real[0], whole.fake[2], whole.fake[0]]);
  t.notDeepEqual(Array.from(labelTargets(loss, 5, 4, [8, 1, 6]).real), Array.from(whole.real));
});
