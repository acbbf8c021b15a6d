import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import type { CheckpointPiece } from '../../src/coordinator/api';
import { Coordinator, type CoordinatorOptions } from '../../src/coordinator/coordinator';
import { planDataset } from '../../src/coordinator/dataset-plan';
import type { Registration } from '../../src/coordinator/rendezvous';
import { readRunState } from '../../src/coordinator/run-state';
import { readFilePieces } from '../../src/shared/control/file-transfer';
import { ingest } from '../../src/shared/data/ingest';
import { SyntheticSource } from '../../src/shared/data/synthetic-source';
import { ProtocolViolationError, RunMismatchError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';
import { CollapseMetrics } from '../../src/shared/metrics/collapse-metrics';
import { RecoveryMetrics } from '../../src/shared/metrics/recovery-metrics';
import { createRegistry } from '../../src/shared/metrics/registry';
import { buildDiscriminator, buildGenerator } from '../../src/shared/model';
import type { StepResult } from '../../src/shared/train/api';
import { checkpointFiles, loadCheckpoint, saveCheckpoint } from '../../src/shared/train/checkpoint';
import { tinyConfig } from '../shared/train/_tiny';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `facefill-coord-${p}-`));
const config = tinyConfig({ data: { batchSize: 4 }, train: { steps: 4, checkpointEvery: 2 } });
const log = createLogger('test', 'silent');
let data: string;

test.before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  data = tmp('data');
  await ingest({ source: new SyntheticSource(30, 2), out: join(data, 'set'), size: 16 });
  data = join(data, 'set');
});

/** A coordinator on a hand-driven clock, with two registered workers, exporting to `metrics`. */
async function running(worldSize = 2, runConfig = config, metrics: Pick<CoordinatorOptions, 'collapseMetrics' | 'recoveryMetrics'> = {}) {
  let clock = 0;
  const out = tmp('run');
  const c = new Coordinator({ config: runConfig, datasetDir: data, dataset: await planDataset(data), worldSize, outDir: out, log, now: () => clock, ...metrics });
  await c.start();
  const reg = (i: number): Registration => ({ host: 'h', gpu: i, backend: 'cpu', dataEndpoint: `tcp://h:${5700 + i}`, ipcEndpoint: '', pid: i });
  const assignments = await Promise.all(Array.from({ length: worldSize }, (_, i) => c.register(reg(i))));
  return { c, out, assignments, tick: (ms: number) => (clock += ms) };
}

const seconds = { data: 0, dCompute: 0.1, dReduce: 0, gCompute: 0.1, gReduce: 0, apply: 0, total: 0.25 };
const result = (step: number): StepResult => ({
  step,
  dLossReal: 0.6,
  dLossFake: 0.7,
  gAdversarialLoss: 0.8,
  gL2Loss: 0.1,
  gLoss: 10.8,
  dScoreReal: 0.5,
  dScoreFake: 0.5,
  gGradNorm: 1,
  dGradNorm: 1,
  skipped: null,
  seconds,
});

/** A real checkpoint of `step` as rank 0 would upload it. */
async function upload(runId: string, step: number, over: Partial<CheckpointPiece> = {}): Promise<AsyncIterable<CheckpointPiece>> {
  const networks = { generator: buildGenerator(config.generator, 16, 1), discriminator: buildDiscriminator(config.discriminator, 16, 1) };
  const optimizers = { generator: [], discriminator: [] };
  const dir = await saveCheckpoint(tmp('w0'), { step, config, manifestHash: 'm', networks, optimizers });
  async function* pieces(): AsyncIterable<CheckpointPiece> {
    for (const name of await checkpointFiles(dir)) for await (const p of readFilePieces(dir, name)) yield { ...p, runId, rank: 0, step, ...over };
  }
  return pieces();
}

const digest = (c: string) => c.repeat(64);

/** The run's end, or a failure after `ms`: no test waits on a run forever. */
function ended(c: Coordinator, ms = 10_000) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the run did not end within ${ms} ms: ${JSON.stringify(c.status())}`)), ms)));
  return Promise.race([c.done, late]).finally(() => clearTimeout(timer));
}

test('the run plan splits the global batch; every rank gets the ring, config and the dataset files', async (t) => {
  const { c, assignments } = await running();
  t.deepEqual(assignments.map((a) => a.rank), [0, 1]);
  t.is(assignments[0].plan.perRankBatch, 2);
  t.is(assignments[1].runId, c.runId);
  t.true(assignments[0].plan.dataset.files.some((f) => f.name === 'manifest.json'));
  t.is(c.status().state, 'running');
  c.close();
});

test('a checkpoint is merged once rank 0 uploaded it and all digests agree; then the run finishes', async (t) => {
  const { c, out } = await running();
  for (const rank of [0, 1]) await c.reportStep({ runId: c.runId, rank, result: result(1), images: 2, weightsSha256: digest('a'), probe: null });
  const receipt = await c.uploadCheckpoint(await upload(c.runId, 2));
  t.is(receipt.step, 2);
  t.regex(c.status().latestCheckpoint, /step-000002$/);
  // The final checkpoint: upload first, digests after.
  await c.uploadCheckpoint(await upload(c.runId, 4));
  t.regex(c.status().latestCheckpoint, /step-000002$/, 'not merged before every rank reported');
  await c.reportStep({ runId: c.runId, rank: 1, result: result(3), images: 2, weightsSha256: digest('b'), probe: null });
  // The report that completes the agreement returns once the checkpoint is merged.
  await c.reportStep({ runId: c.runId, rank: 0, result: result(3), images: 2, weightsSha256: digest('b'), probe: null });
  t.regex(c.status().latestCheckpoint, /step-000004$/);
  for (const rank of [0, 1]) c.heartbeat({ runId: c.runId, rank, step: 4, condition: 'finished', error: '' });
  const view = await ended(c);
  t.is(view.state, 'finished');
  const saved = await loadCheckpoint(out);
  t.is(saved.step, 4);
  saved.networks.generator.dispose();
  saved.networks.discriminator.dispose();
  const state = await readRunState(out);
  t.is(state.state, 'finished');
  t.is(state.latestCheckpoint?.step, 4);
  t.is(state.members.length, 2);
  c.close();
});

test('digests that differ fail the run as diverged replicas, and workers are told to stop', async (t) => {
  const { c } = await running();
  await c.reportStep({ runId: c.runId, rank: 0, result: result(1), images: 2, weightsSha256: digest('a'), probe: null });
  const directive = await c.reportStep({ runId: c.runId, rank: 1, result: result(1), images: 2, weightsSha256: digest('c'), probe: null });
  t.is(directive.action, 'stop');
  const view = await ended(c);
  t.is(view.state, 'failed');
  t.regex(view.error, /replicas diverged.*step 2.*rank 0.*rank 1/);
  t.deepEqual(c.heartbeat({ runId: c.runId, rank: 0, step: 2, condition: 'running', error: '' }), { action: 'stop', reason: view.error });
  c.close();
});

test('a worker silent past the heartbeat timeout fails the run, naming it', async (t) => {
  const { c, tick } = await running();
  const limit = config.cluster.heartbeatTimeoutSeconds * 1000;
  tick(limit / 2);
  c.heartbeat({ runId: c.runId, rank: 0, step: 1, condition: 'running', error: '' });
  tick(limit / 2 + 1);
  c.heartbeat({ runId: c.runId, rank: 0, step: 1, condition: 'running', error: '' });
  const view = await ended(c);
  t.is(view.state, 'failed');
  t.regex(view.error, /rank 1 \(h gpu 1\): no heartbeat/);
  c.close();
});

test('a worker reporting its own failure fails the run with its reason', async (t) => {
  const { c } = await running();
  c.heartbeat({ runId: c.runId, rank: 1, step: 3, condition: 'failed', error: 'CUDA out of memory' });
  const view = await ended(c);
  t.regex(view.error, /rank 1.*CUDA out of memory/);
  c.close();
});

test('hostile control messages are refused by name and change nothing', async (t) => {
  const { c } = await running();
  t.throws(() => c.heartbeat({ runId: 'other-run', rank: 0, step: 1, condition: 'running', error: '' }), { instanceOf: RunMismatchError });
  t.throws(() => c.heartbeat({ runId: c.runId, rank: 7, step: 1, condition: 'running', error: '' }), { instanceOf: ProtocolViolationError, message: /rank 7/ });
  await t.throwsAsync(c.reportStep({ runId: c.runId, rank: 0, result: result(1), images: 2, weightsSha256: 'not-a-digest', probe: null }), { message: /64 hex digits/ });
  // Only files of the plan are served: no path out of the dataset folder.
  const escape = async () => {
    for await (const p of c.datasetPieces(c.runId, '../../../../etc/passwd')) void p;
  };
  await t.throwsAsync(escape, { instanceOf: ProtocolViolationError, message: /not a file of this run's dataset/ });
  // Uploads only from rank 0, for a step of the plan, of one step throughout.
  await t.throwsAsync(c.uploadCheckpoint(await upload(c.runId, 2, { rank: 1 })), { message: /only rank 0/ });
  await t.throwsAsync(c.uploadCheckpoint(await upload(c.runId, 99)), { message: /step 99: expected 1\.\.4/ });
  await t.throwsAsync(c.uploadCheckpoint(await upload('other-run', 2)), { instanceOf: RunMismatchError });
  const corrupt = async function* (): AsyncIterable<CheckpointPiece> {
    for await (const p of await upload(c.runId, 2)) yield p.last ? { ...p, sha256: '0'.repeat(64) } : p;
  };
  await t.throwsAsync(c.uploadCheckpoint(corrupt()), { message: /sha256/ });
  const state = c.status();
  t.is(state.state, 'running');
  t.is(state.latestCheckpoint, '');
  t.is(state.error, '');
  c.close();
});

test('a rendezvous that times out fails the run, saying who came', async (t) => {
  const quick = { ...config, cluster: { ...config.cluster, rendezvousTimeoutSeconds: 1 } };
  const c = new Coordinator({ config: quick, datasetDir: data, dataset: await planDataset(data), worldSize: 2, outDir: tmp('rdzv'), log });
  await c.start();
  await t.throwsAsync(c.register({ host: 'h', gpu: 0, backend: 'cpu', dataEndpoint: 'tcp://h:1', ipcEndpoint: '', pid: 1 }), { message: /1 of 2 workers joined/ });
  const view = await ended(c);
  t.is(view.state, 'failed');
  c.close();
});

const probe = (diversityRatio: number) => ({ diversityRatio, holePsnrDb: 12, ssim: 0.5 });
// The detector waits a window of steps before it judges (an untrained generator paints alike holes).
const watched = (collapseAction: 'warn' | 'stop' | 'rollback') => ({ ...config, monitor: { ...config.monitor, collapseWindow: 2, collapseAction } });
const STEPS = [0, 1, 2, 3];

test('a collapse seen in rank 0\'s probes shows in status and metrics; with collapseAction warn the run goes on', async (t) => {
  const registry = createRegistry();
  const { c } = await running(2, watched('warn'), { collapseMetrics: new CollapseMetrics(registry) });
  for (const step of STEPS) await c.reportStep({ runId: c.runId, rank: 0, result: result(step), images: 2, weightsSha256: '', probe: probe(0.01) });
  const { collapse, state, probe: last } = c.status();
  t.is(state, 'running');
  t.true(collapse.collapsed);
  t.is(collapse.events, 1);
  t.regex(collapse.reason, /diversity/);
  t.deepEqual(last, probe(0.01));
  t.regex(await registry.getSingleMetricAsString('facefill_mode_collapse'), /^facefill_mode_collapse 1$/m);
  t.regex(await registry.getSingleMetricAsString('facefill_mode_collapse_events_total'), /^facefill_mode_collapse_events_total 1$/m);
  c.close();
});

test('with collapseAction stop, a collapse fails the run naming the step and the signal', async (t) => {
  const { c } = await running(2, watched('stop'));
  for (const step of STEPS) await c.reportStep({ runId: c.runId, rank: 0, result: result(step), images: 2, weightsSha256: '', probe: probe(0.01) });
  const view = await ended(c);
  t.is(view.state, 'failed');
  t.regex(view.error, /mode collapse at step \d+: .*diversity/);
  c.close();
});

test('healthy probes leave the run healthy', async (t) => {
  const { c } = await running(2, watched('stop'));
  for (const step of STEPS) await c.reportStep({ runId: c.runId, rank: 0, result: result(step), images: 2, weightsSha256: '', probe: probe(0.9) });
  t.false(c.status().collapse.collapsed);
  t.is(c.status().collapse.events, 0);
  c.close();
});

test('with collapseAction rollback, the run goes back to its last healthy checkpoint in a new ring with a lower D learning rate', async (t) => {
  const runConfig = watched('rollback');
  const registry = createRegistry();
  const { c, out } = await running(2, runConfig, { recoveryMetrics: new RecoveryMetrics(registry) });
  const generation = async () => registry.getSingleMetricAsString('facefill_ring_generation');
  t.regex(await generation(), /^facefill_ring_generation 0$/m);
  const firstRing = c.runId;
  for (const rank of [0, 1]) await c.reportStep({ runId: firstRing, rank, result: result(1), images: 2, weightsSha256: digest('a'), probe: null });
  await c.uploadCheckpoint(await upload(firstRing, 2));
  for (const step of [2, 3, 4, 5]) await c.reportStep({ runId: firstRing, rank: 0, result: result(step), images: 2, weightsSha256: '', probe: probe(0.01) });
  // The old ring is told to roll back, whatever it says; the run waits for the workers again.
  const told = c.heartbeat({ runId: firstRing, rank: 1, step: 6, condition: 'failed', error: 'upload refused' });
  t.is(told.action, 'rollback');
  t.regex(told.action === 'rollback' ? told.reason : '', /rolled back to the checkpoint of step 2 with optimizer\.lrD/);
  t.is(c.status().state, 'rendezvous');
  t.is(c.status().collapse.events, 1);
  const reg = (i: number): Registration => ({ host: 'h', gpu: i, backend: 'cpu', dataEndpoint: `tcp://h:${5800 + i}`, ipcEndpoint: '', pid: i });
  const again = await Promise.all([0, 1].map((i) => c.register(reg(i))));
  t.not(c.runId, firstRing);
  for (const a of again) {
    t.is(a.runId, c.runId);
    t.is(a.startStep, 2);
    t.is(a.config.optimizer.lrD, runConfig.optimizer.lrD * runConfig.monitor.rollbackLrFactor);
  }
  t.is(c.status().state, 'running');
  t.regex(c.status().latestCheckpoint, /step-000002$/);
  // run.json records the ring a resumed run must continue: its generation, start and config.
  const state = await until(async () => {
    const s = await readRunState(out);
    return s.generation === 1 ? s : null;
  });
  t.is(state.startStep, 2);
  t.is(state.config.optimizer.lrD, runConfig.optimizer.lrD * runConfig.monitor.rollbackLrFactor);
  t.regex(await generation(), /^facefill_ring_generation 1$/m);
  c.close();
});

test('with collapseAction rollback and no checkpoint merged while healthy, the run stops saying so', async (t) => {
  const { c } = await running(2, watched('rollback'));
  for (const step of [0, 1, 2, 3]) await c.reportStep({ runId: c.runId, rank: 0, result: result(step), images: 2, weightsSha256: '', probe: probe(0.01) });
  const view = await ended(c);
  t.regex(view.error, /rollback, but no checkpoint was merged while the run was healthy/);
  c.close();
});

// run.json is written in the background: poll it, bounded.
async function until<T>(probe: () => Promise<T | null>, ms = 5_000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (performance.now() > deadline) throw new Error(`no result within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
