import test from 'ava';
import { COSINE_FLOOR } from '../../../src/shared/config';
import { learningRateFactor } from '../../../src/shared/train/learning-rate-schedule';
import { tinyConfig } from './_tiny';

test('constant keeps the rates; cosine falls from 1 to the floor, monotonically, half way at the middle', (t) => {
  const constant = tinyConfig({ train: { steps: 101 } });
  const cosine = tinyConfig({ optimizer: { schedule: 'cosine' }, train: { steps: 101 } });
  for (const step of [0, 50, 100]) t.is(learningRateFactor(constant, step), 1);
  t.is(learningRateFactor(cosine, 0), 1);
  t.true(Math.abs(learningRateFactor(cosine, 50) - (1 + COSINE_FLOOR) / 2) < 1e-12);
  t.true(Math.abs(learningRateFactor(cosine, 100) - COSINE_FLOOR) < 1e-12);
  for (let step = 1; step <= 100; step++) t.true(learningRateFactor(cosine, step) < learningRateFactor(cosine, step - 1));
  // Past the end (a run resumed with fewer steps) stays at the floor.
  t.true(Math.abs(learningRateFactor(cosine, 500) - COSINE_FLOOR) < 1e-12);
  t.is(learningRateFactor(tinyConfig({ optimizer: { schedule: 'cosine' }, train: { steps: 1 } }), 0), 1);
});
