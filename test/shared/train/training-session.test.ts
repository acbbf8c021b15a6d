import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import type { RunConfig } from '../../../src/shared/config';
import { NonFiniteTrainingError } from '../../../src/shared/errors';
import type { Probe } from '../../../src/shared/monitor/validation-probe';
import { makeBatch } from '../../../src/shared/train/batch';
import type { BatchTensors } from '../../../src/shared/train/batch-tensors';
import { saveCheckpoint } from '../../../src/shared/train/checkpoint';
import { EpochPlan } from '../../../src/shared/train/epoch-plan';
import { type FaceSetTrainingOptions, type Replica, trainOnFaceSet } from '../../../src/shared/train/train-loop';
import { type StepResult, Trainer } from '../../../src/shared/train/trainer';
import { checkpointWeights, syntheticFaces, tinyConfig } from './_tiny';

// The session's batches, built ahead (data.prefetch 1, 2) or when each step starts (0): the same run.
// Serial: these tests watch a shared Trainer method and the backend's tensor count.

test.before(async () => {
  await tf.setBackend('cpu');
});

const faces = syntheticFaces(24, 16);
const tmp = (): string => mkdtempSync(join(tmpdir(), 'facefill-prefetch-'));
const withPrefetch = (config: RunConfig, prefetch: 0 | 1 | 2): RunConfig => ({ ...config, data: { ...config.data, prefetch } });
const run = (config: RunConfig, outDir: string, more: Partial<FaceSetTrainingOptions> = {}) =>
  trainOnFaceSet({ config, set: faces, manifestHash: 'm', outDir, resume: false, ...more });

// The only rank of a ring whose all-reduce waits on the event loop, as one over sockets does. The
// cpu backend's step never yields otherwise, so this is where batches really get built ahead.
const waitingReplica = (outDir: string): Replica => ({
  rank: 0,
  worldSize: 1,
  reduce: async (flat) => {
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    return flat;
  },
  synchronize: async (_trainer, steps) => steps,
  checkpoint: (content) => saveCheckpoint(outDir, content),
});

interface SeenBatch {
  step: number;
  epoch: number;
  ids: number[];
  real: number[];
  mask: number[];
}
const seen = (t: BatchTensors, step: number): SeenBatch => ({
  step,
  epoch: t.epoch,
  ids: Array.from(t.ids),
  real: Array.from(t.real.dataSync()),
  mask: Array.from(t.mask.dataSync()),
});

// Runs `fn` while recording every batch a trainer steps on.
async function recordingBatches(fn: () => Promise<unknown>): Promise<SeenBatch[]> {
  const batches: SeenBatch[] = [];
  const original = Trainer.prototype.stepOnTensors;
  Trainer.prototype.stepOnTensors = function (this: Trainer, tensors, step, dataSeconds) {
    batches.push(seen(tensors, step));
    return original.call(this, tensors, step, dataSeconds);
  };
  try {
    await fn();
  } finally {
    Trainer.prototype.stepOnTensors = original;
  }
  return batches;
}

// The batch the loop would build itself at `step`, without the session.
const expectedBatch = (config: RunConfig, step: number): SeenBatch => {
  const { epoch, ids } = new EpochPlan(faces.count, config).at(step);
  const b = makeBatch(faces, ids, config, epoch);
  return { step, epoch, ids: Array.from(b.ids), real: Array.from(b.real), mask: Array.from(b.mask) };
};

// 24 faces in batches of 4: 6 steps an epoch, so 14 steps cross two epoch boundaries.
const config = tinyConfig({ train: { steps: 14, checkpointEvery: 0 } });

test.serial('every prefetch depth steps on exactly the batches the loop would build, across epochs, and ends on the same weights', async (t) => {
  const expected = Array.from({ length: 14 }, (_, step) => expectedBatch(config, step));
  t.deepEqual(new Set(expected.map((b) => b.epoch)), new Set([0, 1, 2]));
  for (const ring of [false, true]) {
    const weights: Float32Array[] = [];
    for (const prefetch of [0, 1, 2] as const) {
      const out = tmp();
      const batches = await recordingBatches(() => run(withPrefetch(config, prefetch), out, ring ? { replica: waitingReplica(out) } : {}));
      t.deepEqual(batches, expected, `data.prefetch ${prefetch}${ring ? ' in a ring' : ''}`);
      weights.push(await checkpointWeights(out));
    }
    t.deepEqual(weights[1], weights[0], `prefetch 1 ends on the weights of no prefetch, bit for bit${ring ? ' in a ring' : ''}`);
    t.deepEqual(weights[2], weights[0], `prefetch 2 ends on the weights of no prefetch, bit for bit${ring ? ' in a ring' : ''}`);
  }
});

test.serial('with prefetch, a run stopped mid-way and resumed ends bit-identical to an uninterrupted one', async (t) => {
  const prefetched = withPrefetch(tinyConfig({ train: { steps: 10, checkpointEvery: 3 } }), 2);
  for (const ring of [false, true]) {
    const inRing = (out: string): Partial<FaceSetTrainingOptions> => (ring ? { replica: waitingReplica(out) } : {});
    const straight = tmp();
    await run(prefetched, straight, inRing(straight));
    const stopped = tmp();
    // A stop after step 7, with batches built ahead; the resume starts from step 6's checkpoint.
    const stop = (r: StepResult) => {
      if (r.step === 7) throw new Error('stopped');
    };
    await t.throwsAsync(run(prefetched, stopped, { ...inRing(stopped), onStep: stop }), { message: 'stopped' });
    const resumed = await run(prefetched, stopped, { ...inRing(stopped), resume: true });
    t.is(resumed.startStep, 6);
    t.deepEqual(await checkpointWeights(stopped), await checkpointWeights(straight), ring ? 'in a ring' : 'single process');
  }
});

test.serial('a rollback steps on the rolled-back steps’ own batches, not the ones built ahead', async (t) => {
  const scripted = (ratios: number[]): Probe => {
    let calls = 0;
    return { evaluate: async () => ({ diversityRatio: ratios[calls++] ?? 1, holePsnrDb: 20, ssim: 0.5 }) };
  };
  const rollback = tinyConfig({
    train: { steps: 12, checkpointEvery: 4 },
    monitor: { probeEvery: 2, collapseWindow: 2, diversityThreshold: 0.2, collapseAction: 'rollback', rollbackLrFactor: 0.5 },
  });
  // Probes at steps 2..10, low at 8 and 10: a collapse at step 10 rolls back to step 8's checkpoint.
  const batches = await recordingBatches(() => run(rollback, tmp(), { monitor: { probe: scripted([1, 1, 1, 0.1, 0.05]) } }));
  const steps = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11];
  t.deepEqual(
    batches,
    steps.map((step) => expectedBatch(rollback, step)),
  );
});

test.serial('no tensor outlives the run: batches built ahead are freed at the end, on a stop and on a failure', async (t) => {
  const prefetched = withPrefetch(tinyConfig({ train: { steps: 8, checkpointEvery: 0 } }), 2);
  // A first run warms the backend up (it keeps a few tensors of its own).
  await run(prefetched, tmp());
  const before = tf.memory().numTensors;
  await run(prefetched, tmp());
  t.is(tf.memory().numTensors, before, 'after a run to the end');
  // Stopped after step 2 in a ring, whose all-reduce waits give the prefetch time to fill.
  const tensorsAtStop = async (prefetch: 0 | 2): Promise<number> => {
    const out = tmp();
    let held = 0;
    const stop = (r: StepResult) => {
      held = tf.memory().numTensors;
      if (r.step === 2) throw new Error('stopped');
    };
    await t.throwsAsync(run(withPrefetch(prefetched, prefetch), out, { replica: waitingReplica(out), onStep: stop }), { message: 'stopped' });
    t.is(tf.memory().numTensors, before, `after a stop with data.prefetch ${prefetch}`);
    return held;
  };
  t.is((await tensorsAtStop(2)) - (await tensorsAtStop(0)), 2 * 2, 'two batches (real and mask each) were built ahead at the stop');
  // NaN gradients at steps 1..3 with no checkpoint to roll back to: the run fails at step 3.
  const failing = withPrefetch(tinyConfig({ train: { steps: 8, checkpointEvery: 0, maxSkippedSteps: 2 } }), 2);
  await t.throwsAsync(run(failing, tmp(), { nanGradientSteps: new Set([1, 2, 3]) }), { instanceOf: NonFiniteTrainingError });
  t.is(tf.memory().numTensors, before, 'after a failure');
});
