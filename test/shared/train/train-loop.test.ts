import { cpSync, mkdtempSync, readdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import pino from 'pino';
import type { RunConfig } from '../../../src/shared/config';
import { CheckpointError, ConfigInvalidError, NonFiniteTrainingError, RunStoppedError } from '../../../src/shared/errors';
import type { Logger } from '../../../src/shared/log';
import type { Probe } from '../../../src/shared/monitor/validation-probe';
import { installCheckpoint, loadCheckpoint, saveCheckpoint } from '../../../src/shared/train/checkpoint';
import type { StepResult } from '../../../src/shared/train/trainer';
import { type Replica, type Rollback, trainOnFaceSet } from '../../../src/shared/train/train-loop';
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
  const totals: number[] = [];
  const summary = await train(tinyConfig({ train: { steps: 32, checkpointEvery: 15 } }), out, false, 'manifest-1', (r) => {
    l2.push(r.gL2Loss);
    totals.push(r.seconds.total);
  });
  t.is(summary.stepsRun, 32);
  t.is(summary.last?.step, 31);
  t.true(summary.imagesPerSecond > 0);
  // The summary's phases are the steps' means.
  t.true(Math.abs(summary.phaseSeconds.total - totals.reduce((a, b) => a + b, 0) / totals.length) <= 1e-4);
  t.true(summary.phaseSeconds.gCompute > 0 && summary.phaseSeconds.gCompute <= summary.phaseSeconds.total);
  // The loop's CPU: spent (the steps compute), and no more than every core busy for the loop's span.
  t.true(summary.cpuSeconds > 0 && summary.cpuSeconds <= summary.seconds * availableParallelism() + 0.02, `${summary.cpuSeconds} CPU s in ${summary.seconds} s`);
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

// The monitor's actions, driven by a scripted probe: `ratios[k]` is the diversity its k-th evaluation reports.
const scriptedProbe = (ratios: number[]): Probe & { calls: number } => {
  const probe = {
    calls: 0,
    evaluate: async () => ({ diversityRatio: ratios[probe.calls++] ?? 1, holePsnrDb: 20, ssim: 0.5 }),
  };
  return probe;
};
const monitored = (collapseAction: RunConfig['monitor']['collapseAction'], over: { checkpointEvery?: number } = {}) =>
  tinyConfig({
    train: { steps: 12, checkpointEvery: over.checkpointEvery ?? 4 },
    monitor: { probeEvery: 2, collapseWindow: 2, diversityThreshold: 0.2, collapseAction, rollbackLrFactor: 0.5 },
  });
const capture = (): { log: Logger; warnings: () => string[] } => {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  return { log, warnings: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg) };
};

test('checkpoints record the eyes box the masks used, and resuming on the same data sees no changed setting', async (t) => {
  const config = tinyConfig({ train: { steps: 4, checkpointEvery: 2 } });
  const out = tmp();
  await trainOnFaceSet({ config: { ...config, train: { ...config.train, steps: 2 } }, set: faces, manifestHash: 'm', outDir: out, resume: false });
  t.is(config.data.eyesBox, null);
  t.deepEqual((await loadCheckpoint(out)).config.data.eyesBox, faces.eyesBox);
  const { log, warnings } = capture();
  await trainOnFaceSet({ config, set: faces, manifestHash: 'm', outDir: out, resume: true, log });
  t.deepEqual(warnings(), []);
  const chosen = { top: 0.25, bottom: 0.5, left: 0.125, right: 0.875 };
  const other = tmp();
  await trainOnFaceSet({ config: { ...config, data: { ...config.data, eyesBox: chosen } }, set: faces, manifestHash: 'm', outDir: other, resume: false });
  t.deepEqual((await loadCheckpoint(other)).config.data.eyesBox, chosen);
});

test('the monitor probes every probeEvery steps and judges every step', async (t) => {
  const probe = scriptedProbe([]);
  const verdicts: number[] = [];
  const probed: number[] = [];
  await trainOnFaceSet({
    config: monitored('stop'),
    set: faces,
    manifestHash: 'm',
    outDir: tmp(),
    resume: false,
    monitor: { probe, onProbe: (_, step) => void probed.push(step), onVerdict: (_, step) => void verdicts.push(step) },
  });
  t.deepEqual(probed, [2, 4, 6, 8, 10, 12]);
  t.deepEqual(verdicts, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
});

test("'warn' logs each collapse once and trains to the end", async (t) => {
  const { log, warnings } = capture();
  // Low at steps 4 and 6 (collapse), recovered at 8, low again at 10 and 12 (a second collapse).
  const summary = await trainOnFaceSet({
    config: monitored('warn'),
    set: faces,
    manifestHash: 'm',
    outDir: tmp(),
    resume: false,
    log,
    monitor: { probe: scriptedProbe([1, 0.1, 0.05, 1, 0.1, 0.1]) },
  });
  t.is(summary.endStep, 12);
  t.deepEqual(
    warnings().filter((m) => m.startsWith('mode collapse')).map((m) => m.split(':')[0]),
    ['mode collapse at step 6', 'mode collapse at step 12'],
  );
});

test("'stop' ends the run with a RunStoppedError naming the step and the signal", async (t) => {
  const error = await t.throwsAsync(
    trainOnFaceSet({ config: monitored('stop'), set: faces, manifestHash: 'm', outDir: tmp(), resume: false, monitor: { probe: scriptedProbe([1, 1, 1, 0.1, 0.05]) } }),
    { instanceOf: RunStoppedError },
  );
  t.regex(error?.message ?? '', /^mode collapse at step 10: output diversity 0\.1, 0\.05 of the real holes' on 2 consecutive probes .*\(monitor\.collapseAction=stop\)$/);
});

test("'rollback' resumes from the last healthy checkpoint with D's learning rate multiplied, as a resume with that rate would", async (t) => {
  const config = monitored('rollback');
  const out = tmp();
  const steps: number[] = [];
  const rollbacks: Rollback[] = [];
  // Probes at steps 2..10: low at 8 (one low probe: still healthy, so step 8's checkpoint is) and 10 (collapse).
  const summary = await trainOnFaceSet({
    config,
    set: faces,
    manifestHash: 'm',
    outDir: out,
    resume: false,
    onStep: (r) => void steps.push(r.step),
    monitor: { probe: scriptedProbe([1, 1, 1, 0.1, 0.05]), onRollback: (r) => void rollbacks.push(r) },
  });
  const lrD = config.optimizer.lrD * 0.5;
  t.deepEqual(rollbacks.map((r) => ({ fromStep: r.fromStep, toStep: r.toStep, lrD: r.lrD })), [{ fromStep: 10, toStep: 8, lrD }]);
  t.is(rollbacks[0].checkpoint, join(out, 'checkpoints', 'step-000008'));
  t.deepEqual(steps, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11]);
  t.is(summary.stepsRun, 14);
  const final = await loadCheckpoint(out);
  t.is(final.step, 12);
  t.is(final.config.optimizer.lrD, lrD);

  // The optimizer really runs at the new rate: the same weights as resuming step 8 at lrD / 2, unlike resuming at lrD.
  const resumeFromStep8 = async (rate: number): Promise<Float32Array> => {
    const copy = mkdtempSync(join(tmpdir(), 'facefill-step8-'));
    cpSync(join(out, 'checkpoints', 'step-000008'), join(copy, 'step-000008'), { recursive: true });
    const run = tmp();
    await installCheckpoint(run, join(copy, 'step-000008'));
    await trainOnFaceSet({ config: { ...config, optimizer: { ...config.optimizer, lrD: rate } }, set: faces, manifestHash: 'm', outDir: run, resume: true });
    return weights(run);
  };
  const rolledBack = await weights(out);
  t.true(maxAbsDiff(rolledBack, await resumeFromStep8(lrD)) <= 1e-6);
  t.true(maxAbsDiff(rolledBack, await resumeFromStep8(config.optimizer.lrD)) > 1e-5);
});

test("'rollback' with no healthy checkpoint to go back to stops instead", async (t) => {
  await t.throwsAsync(
    trainOnFaceSet({
      config: monitored('rollback', { checkpointEvery: 0 }),
      set: faces,
      manifestHash: 'm',
      outDir: tmp(),
      resume: false,
      monitor: { probe: scriptedProbe([1, 0.1, 0.05]) },
    }),
    { instanceOf: RunStoppedError, message: /^mode collapse at step 6: .*no checkpoint was saved while the run was healthy, so it cannot roll back/ },
  );
});

test('a replica takes no action on a collapse (the coordinator does) but still reports the verdicts', async (t) => {
  const out = tmp();
  const replica: Replica = {
    rank: 0,
    worldSize: 1,
    reduce: async (flat) => flat,
    synchronize: async (_trainer, steps) => steps,
    checkpoint: (content) => saveCheckpoint(out, content),
  };
  const collapsed: number[] = [];
  const summary = await trainOnFaceSet({
    config: monitored('stop'),
    set: faces,
    manifestHash: 'm',
    outDir: out,
    resume: false,
    replica,
    monitor: { probe: scriptedProbe([1, 0.1, 0.05]), onVerdict: (v, step) => void (v.event && collapsed.push(step)) },
  });
  t.deepEqual(collapsed, [6]);
  t.is(summary.endStep, 12);
});

// Every weight and both Adam states of the checkpoint of `step` in `outDir`, as one list.
const stateAt = async (outDir: string, step: number): Promise<number[]> => {
  const { optimizers, networks } = await loadCheckpoint(join(outDir, 'checkpoints', `step-${String(step).padStart(6, '0')}`));
  const slots = [...optimizers.generator, ...optimizers.discriminator].map((s) => s.tensor);
  const values = [networks.generator, networks.discriminator].flatMap((m) => m.getWeights()).concat(slots).flatMap((w) => Array.from(w.dataSync()));
  tf.dispose(slots);
  networks.generator.dispose();
  networks.discriminator.dispose();
  return values;
};

test('a step with a NaN gradient is skipped: it changes no weight, statistic or Adam state, and training goes on', async (t) => {
  const out = tmp();
  const results: StepResult[] = [];
  await trainOnFaceSet({
    config: tinyConfig({ train: { steps: 5, checkpointEvery: 1 } }),
    set: faces,
    manifestHash: 'm',
    outDir: out,
    resume: false,
    nanGradientSteps: new Set([3]),
    onStep: (r) => void results.push(r),
  });
  t.deepEqual(results.map((r) => r.skipped !== null), [false, false, false, true, false]);
  t.regex(results[3].skipped ?? '', /discriminator gradient is not finite/);
  t.notDeepEqual(await stateAt(out, 3), await stateAt(out, 2), 'a step that ran changed the state');
  t.deepEqual(await stateAt(out, 4), await stateAt(out, 3), 'the skipped step changed the state');
  const last = await stateAt(out, 5);
  t.notDeepEqual(last, await stateAt(out, 4), 'training went on');
  t.true(last.every(Number.isFinite));
});

test('train.maxSkippedSteps NaN steps in a row roll back to the healthy checkpoint with both learning rates lowered', async (t) => {
  const out = tmp();
  const rollbacks: Rollback[] = [];
  const config = tinyConfig({ train: { steps: 10, checkpointEvery: 2, maxSkippedSteps: 3 }, monitor: { rollbackLrFactor: 0.5, maxRollbacks: 1 } });
  // Steps 4, 5 and 6 fail: the streak hits 3 at step 7 (completed), after the checkpoint of step 4.
  const summary = await trainOnFaceSet({
    config,
    set: faces,
    manifestHash: 'm',
    outDir: out,
    resume: false,
    nanGradientSteps: new Set([4, 5, 6]),
    monitor: { probe: null, onRollback: (r) => void rollbacks.push(r) },
  });
  t.deepEqual(rollbacks.map((r) => [r.fromStep, r.toStep, r.lrG, r.lrD]), [[7, 4, config.optimizer.lrG / 2, config.optimizer.lrD / 2]]);
  t.is(summary.endStep, 10);
  const final = await loadCheckpoint(out);
  t.deepEqual([final.step, final.config.optimizer.lrG, final.config.optimizer.lrD], [10, config.optimizer.lrG / 2, config.optimizer.lrD / 2]);
  final.networks.generator.dispose();
  final.networks.discriminator.dispose();
  t.true((await weights(out)).every(Number.isFinite));
});

test('a NaN streak with no rollback left fails naming the step and the tensor', async (t) => {
  await t.throwsAsync(
    trainOnFaceSet({
      config: tinyConfig({ train: { steps: 10, checkpointEvery: 0, maxSkippedSteps: 2 } }),
      set: faces,
      manifestHash: 'm',
      outDir: tmp(),
      resume: false,
      nanGradientSteps: new Set([1, 2, 3]),
    }),
    { instanceOf: NonFiniteTrainingError, message: /^2 steps in a row skipped for non-finite values, the last at step 3: the discriminator gradient is not finite; no checkpoint was saved/ },
  );
});

test('train.keepCheckpoints keeps the newest checkpoints and prunes the rest', async (t) => {
  const out = tmp();
  await train(tinyConfig({ train: { steps: 10, checkpointEvery: 2, keepCheckpoints: 2 } }), out);
  t.deepEqual(readdirSync(join(out, 'checkpoints')).filter((n) => n.startsWith('step-')).sort(), ['step-000008', 'step-000010']);
});
