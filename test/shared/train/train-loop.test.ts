import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import type { RunConfig } from '../../../src/shared/config';
import { CheckpointError, ConfigInvalidError } from '../../../src/shared/errors';
import { loadCheckpoint } from '../../../src/shared/train/checkpoint';
import type { StepResult } from '../../../src/shared/train/trainer';
import { trainOnFaceSet } from '../../../src/shared/train/train-loop';
import { maxAbsDiff, syntheticFaces, tinyConfig } from './_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const faces = syntheticFaces(24, 16);
const tmp = (): string => mkdtempSync(join(tmpdir(), 'facefill-loop-'));
const train = (config: RunConfig, outDir: string, resume = false, manifestHash = 'manifest-1', onStep?: (r: StepResult) => void) =>
  trainOnFaceSet({ config, set: faces, manifestHash, outDir, resume, onStep });
const weights = async (outDir: string): Promise<Float32Array> => {
  const { networks } = await loadCheckpoint(outDir);
  return Float32Array.from([networks.generator, networks.discriminator].flatMap((m) => m.getWeights().flatMap((w) => Array.from(w.dataSync()))));
};

test('a short run lowers the L2 loss and checkpoints every checkpointEvery steps and at the end', async (t) => {
  const out = tmp();
  const l2: number[] = [];
  const summary = await train(tinyConfig({ train: { steps: 32, checkpointEvery: 15 } }), out, false, 'manifest-1', (r) => l2.push(r.gL2Loss));
  t.is(summary.stepsRun, 32);
  t.is(summary.last?.step, 31);
  t.true(summary.imagesPerSecond > 0);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const [early, late] = [mean(l2.slice(0, 5)), mean(l2.slice(-5))];
  t.log(`L2 loss: first 5 steps ${early.toFixed(4)}, last 5 steps ${late.toFixed(4)}`);
  t.true(late < early * 0.8, `L2 went from ${early} to ${late}`);
  t.deepEqual(readdirSync(join(out, 'checkpoints')).sort(), ['latest', 'step-000015', 'step-000030', 'step-000032']);
  t.is(summary.checkpoint, join(out, 'checkpoints', 'step-000032'));
});

test('resuming runs only the remaining steps and ends where an uninterrupted run ends', async (t) => {
  const config = tinyConfig({ train: { steps: 8, checkpointEvery: 4 } });
  const straight = tmp();
  await train(config, straight);
  const split = tmp();
  await train({ ...config, train: { ...config.train, steps: 4 } }, split);
  const resumed = await train(config, split, true);
  t.is(resumed.startStep, 4);
  t.is(resumed.stepsRun, 4);
  t.is(resumed.resumedFrom, join(split, 'checkpoints', 'step-000004'));
  t.true(maxAbsDiff(await weights(straight), await weights(split)) <= 1e-6);
});

test('a new run refuses to overwrite an existing one', async (t) => {
  const out = tmp();
  await train(tinyConfig({ train: { steps: 1 } }), out);
  await t.throwsAsync(train(tinyConfig({ train: { steps: 2 } }), out), { instanceOf: CheckpointError, message: /already holds a run/ });
});

test('resuming refuses another dataset or another architecture, naming what differs', async (t) => {
  const out = tmp();
  await train(tinyConfig({ train: { steps: 1 } }), out);
  await t.throwsAsync(train(tinyConfig({ train: { steps: 2 } }), out, true, 'manifest-2'), {
    instanceOf: CheckpointError,
    message: /dataset manifest manifest-1, this dataset's is manifest-2/,
  });
  await t.throwsAsync(train(tinyConfig({ train: { steps: 2 }, generator: { layers: 6 } }), out, true), {
    instanceOf: CheckpointError,
    message: /architecture differs \(generator\.layers: 4 → 6\)/,
  });
});

test('resuming with nothing to resume starts a new run', async (t) => {
  const summary = await train(tinyConfig({ train: { steps: 1 } }), tmp(), true);
  t.is(summary.startStep, 0);
  t.is(summary.resumedFrom, null);
});

test('a dataset of another image size is a config error', async (t) => {
  await t.throwsAsync(trainOnFaceSet({ config: tinyConfig({ data: { imageSize: 32 } }), set: faces, manifestHash: 'm', outDir: tmp(), resume: false }), {
    instanceOf: ConfigInvalidError,
    message: /16x16 images but data.imageSize is 32/,
  });
});

test('the loop yields to the event loop between steps, so timers and I/O run during training', async (t) => {
  let ticksDuringSteps = 0;
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  try {
    await train(tinyConfig({ train: { steps: 4 } }), tmp(), false, 'manifest-1', () => {
      ticksDuringSteps = ticks;
    });
  } finally {
    clearInterval(timer);
  }
  t.true(ticksDuringSteps >= 3, `a 0 ms timer fired ${ticksDuringSteps} times during 4 steps`);
});
