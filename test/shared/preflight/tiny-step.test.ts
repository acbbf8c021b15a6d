import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { selectBackend } from '../../../src/shared/backend/select';
import { timeTinySteps, tinyStepConfig } from '../../../src/shared/preflight/tiny-step';

test.before(async () => {
  // The backend the doctor chooses on a host without a native package.
  await selectBackend('wasm');
});

test('the tiny step is the default architecture at 32x32, batch 4, and two steps of it run, timed, leaking nothing', async (t) => {
  const config = tinyStepConfig();
  t.like(config.data, { imageSize: 32, batchSize: 4 });
  t.is(config.discriminator.minibatch, 'discrimination');
  t.is(config.loss.mode, 'gan+l2');
  const before = tf.memory().numTensors;
  const timing = await timeTinySteps(config);
  t.is(tf.memory().numTensors, before);
  t.like(timing, { imageSize: 32, batchSize: 4 });
  for (const s of [timing.buildSeconds, timing.firstStepSeconds, timing.stepSeconds]) t.true(Number.isFinite(s) && s > 0);
});
