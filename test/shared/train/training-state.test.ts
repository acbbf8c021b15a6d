import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { buildDiscriminator, buildGenerator } from '../../../src/shared/model';
import { readWeights } from '../../../src/shared/train/replica-weights';
import { Trainer } from '../../../src/shared/train/trainer';
import { TrainingState } from '../../../src/shared/train/training-state';
import { boxBatch, syntheticFaces, tinyConfig } from './_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const config = tinyConfig();
const batch = boxBatch(syntheticFaces(12, 16), [1, 4, 7, 9]);
const newTrainer = () =>
  new Trainer(config, { generator: buildGenerator(config.generator, 16, 3), discriminator: buildDiscriminator(config.discriminator, 16, 3) });

const adam = async (trainer: Trainer): Promise<number[]> => {
  const states = await trainer.optimizerStates();
  const values = [...states.generator, ...states.discriminator].flatMap((s) => Array.from(s.tensor.dataSync()));
  tf.dispose([...states.generator, ...states.discriminator].map((s) => s.tensor));
  return values;
};

test.serial('restore puts back every weight (batch-norm statistics too) and both Adam states of the commit, and the next step is the same', async (t) => {
  const trainer = newTrainer();
  await trainer.step(batch, 0);
  const state = new TrainingState(trainer);
  await state.commit(1);
  const [weights, moments] = [readWeights(trainer, 'all'), await adam(trainer)];
  const afterOne = await trainer.step(batch, 1);
  await trainer.step(batch, 2);
  t.notDeepEqual(readWeights(trainer, 'all'), weights);
  t.is(await state.restore(), 1);
  t.deepEqual(readWeights(trainer, 'all'), weights);
  t.deepEqual(await adam(trainer), moments);
  const again = await trainer.step(batch, 1);
  t.is(again.gLoss, afterOne.gLoss, 'the restored state trains on exactly as before');
  state.dispose();
  trainer.dispose();
});

test.serial('commits replace each other without leaking tensors', async (t) => {
  const trainer = newTrainer();
  await trainer.step(batch, 0);
  const state = new TrainingState(trainer);
  await state.commit(1);
  const before = tf.memory().numTensors;
  for (let s = 1; s < 4; s++) {
    await trainer.step(batch, s);
    await state.commit(s + 1);
  }
  await state.restore();
  t.is(tf.memory().numTensors, before);
  t.is(state.step, 4);
  state.dispose();
  t.is(state.step, -1);
  await t.throwsAsync(state.restore(), { message: /before the first commit/ });
  trainer.dispose();
});
