import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs';
import test, { type ExecutionContext } from 'ava';
import type { CheckpointPiece, DatasetPlan, Directive, WatchLink, WorkerAssignment, WorkerCondition } from '../../src/coordinator/api';
import { Coordinator, type CoordinatorOptions } from '../../src/coordinator/coordinator';
import { planDataset } from '../../src/coordinator/dataset-plan';
import type { Registration } from '../../src/coordinator/rendezvous';
import { readRunState } from '../../src/coordinator/run-state';
import { type ClusterConfig, DEFAULT_CONFIG, type RunConfig } from '../../src/shared/config';
import { readFilePieces } from '../../src/shared/control/file-transfer';
import { ingest } from '../../src/shared/data/ingest';
import { SyntheticSource } from '../../src/shared/data/synthetic-source';
import { CheckpointError, PermissionDeniedError, ProtocolViolationError, RendezvousBackendMismatchError, RendezvousClosedError, RunMismatchError, RunStoppedError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';
import { CollapseMetrics } from '../../src/shared/metrics/collapse-metrics';
import { RecoveryMetrics } from '../../src/shared/metrics/recovery-metrics';
import { createRegistry } from '../../src/shared/metrics/registry';
import { buildDiscriminator, buildGenerator } from '../../src/shared/model';
import type { ProbeResult, StepResult } from '../../src/shared/train/api';
import { sealKey, verifyCheckpointSeal } from '../../src/shared/security/checkpoint-seal';
import { newRunToken } from '../../src/shared/security/run-token';
import { checkpointFiles, loadCheckpoint, saveCheckpoint } from '../../src/shared/train/checkpoint';
import { weightsSha256 } from '../../src/shared/train/replica-weights';
import { tinyConfig } from '../shared/train/_tiny';
import { isSettled } from '../_settled';

/**
 * A coordinator that remembers the session secret it hands each rank, so that the test's calls
 * for a rank carry it as that rank's worker would.
 */
class KeepingSessions extends Coordinator {
  private readonly handedOut = new Map<string, string>();

  override async register(registration: Registration, left?: AbortSignal): Promise<WorkerAssignment> {
    const a = await super.register(registration, left);
    this.handedOut.set(`${a.generation}/${a.rank}`, a.session);
    return a;
  }

  /** The secret rank `rank` of `generation` got ('' when none did). */
  sessionOf(generation: number, rank: number): string {
    return this.handedOut.get(`${generation}/${rank}`) ?? '';
  }
}

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `facefill-coord-${p}-`));
// Liveness is checked every heartbeatSeconds / 2 of real time (here 100 ms), against the test's clock.
const config = tinyConfig({ data: { batchSize: 4 }, train: { steps: 4, checkpointEvery: 2 }, cluster: { heartbeatSeconds: 0.2 } });
const log = createLogger('test', 'silent');
const SEAL_KEY = sealKey(newRunToken());
/** A worker's ring public key (the coordinator passes keys on; it does not use them). */
const RING_KEY = 'rq:A+jHM]6fH^4gTz1-3&L]0(9A*1/vB8O!p[%Ic';
let data: string;
let dataset: DatasetPlan;
/** The digest every rank reports at a checkpoint {@link upload} sends: the sha256 of those weights. */
let uploadedWeights: string;

test.before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const root = tmp('data');
  await ingest({ source: new SyntheticSource(30, 2), out: join(root, 'set'), size: 16 });
  data = join(root, 'set');
  dataset = await planDataset(data);
  const networks = uploadedNetworks();
  uploadedWeights = weightsSha256(networks);
  networks.generator.dispose();
  networks.discriminator.dispose();
});

/** `base` with some cluster settings changed. */
const withCluster = (cluster: Partial<ClusterConfig>, base: RunConfig = config): RunConfig => ({ ...base, cluster: { ...base.cluster, ...cluster } });

/** Worker process `i` on host h (GPU i, pid i), new to the run unless `over` says what state it holds. */
const reg = (i: number, over: Partial<Registration> = {}): Registration => ({
  ringPublicKey: RING_KEY,
  host: 'h',
  gpu: i,
  backend: 'cpu',
  device: 'cpu',
  dataEndpoint: `tcp://h:${5700 + i}`,
  ipcEndpoint: '',
  pid: i,
  runId: '',
  committedStep: -1,
  ...over,
});

interface Setup {
  worldSize?: number;
  config?: RunConfig;
  outDir?: string;
  resume?: boolean;
  dataset?: DatasetPlan;
  metrics?: Pick<CoordinatorOptions, 'collapseMetrics' | 'recoveryMetrics'>;
}

/** A started coordinator on a hand-driven clock (`tick` moves it), closed when the test ends. */
async function started(t: ExecutionContext, o: Setup = {}) {
  let clock = 0;
  const out = o.outDir ?? tmp('run');
  const c = new KeepingSessions({ config: o.config ?? config, datasetDir: data, dataset: o.dataset ?? dataset, worldSize: o.worldSize ?? 2, outDir: out, resume: o.resume, log, now: () => clock, sealKey: SEAL_KEY, ...o.metrics });
  t.teardown(() => c.close());
  await c.start();
  return { c, out, tick: (ms: number) => (clock += ms) };
}

/** A started coordinator whose first ring formed with `worldSize` new workers (registered in GPU order). */
async function running(t: ExecutionContext, o: Setup = {}) {
  const s = await started(t, o);
  const assignments = await Promise.all(Array.from({ length: o.worldSize ?? 2 }, (_, i) => s.c.register(reg(i))));
  return { ...s, assignments };
}

/** A worker's live link as the coordinator holds it: what went down it, and whether it ended. */
class FakeLink implements WatchLink {
  readonly pushed: Directive[] = [];
  ended = false;

  push(directive: Directive): void {
    this.pushed.push(directive);
  }

  end(): void {
    this.ended = true;
  }
}

/** Opens every rank's live link, by rank; `lose(why)` is what the service calls when the worker's side of it ends. */
function watchAll(c: KeepingSessions, assignments: readonly WorkerAssignment[]): { link: FakeLink; lose: (why: string) => void }[] {
  return [...assignments]
    .sort((a, b) => a.rank - b.rank)
    .map((a) => {
      const link = new FakeLink();
      return { link, lose: c.watch({ runId: a.runId, generation: a.generation, rank: a.rank, session: a.session }, link) };
    });
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

/** Rank `rank` reports completing `stepsDone` steps (in the current generation unless told). */
const progress = (c: KeepingSessions, rank: number, stepsDone: number, probe: ProbeResult | null = null, generation = c.generation) =>
  c.reportStep({ runId: c.runId, generation, rank, session: c.sessionOf(generation, rank), stepsDone, kind: 'progress', result: result(stepsDone - 1), images: 2, probe });
/** Rank `rank` reports its weights digest at a checkpoint, or of the state the ring started from (`sync`). */
const digest = (c: KeepingSessions, rank: number, stepsDone: number, sha256: string, kind: 'checkpoint' | 'sync' = 'checkpoint') =>
  c.reportStep({ runId: c.runId, generation: c.generation, rank, session: c.sessionOf(c.generation, rank), stepsDone, kind, sha256 });
/** Rank `rank`'s heartbeat (in the current generation unless told). */
const beat = (c: KeepingSessions, rank: number, step: number, condition: WorkerCondition = 'running', error = '', generation = c.generation, silentPeer = -1) =>
  c.heartbeat({ runId: c.runId, generation, rank, session: c.sessionOf(generation, rank), step, condition, error, silentPeer });

const hex = (c: string) => c.repeat(64);
const reasonOf = (d: Directive): string => (d.action === 'continue' ? '' : d.reason);

/** The networks whose checkpoint {@link upload} sends (every build gives the same weights). */
const uploadedNetworks = () => ({ generator: buildGenerator(config.generator, 16, 1), discriminator: buildDiscriminator(config.discriminator, 16, 1) });

/** A real checkpoint of `step` as rank 0 of c's generation 0 would upload it; `over` changes its header. */
async function upload(c: KeepingSessions, step: number, over: Partial<CheckpointPiece> = {}): Promise<AsyncIterable<CheckpointPiece>> {
  const { runId } = c;
  const session = c.sessionOf(over.generation ?? 0, over.rank ?? 0);
  const networks = uploadedNetworks();
  const optimizers = { generator: [], discriminator: [] };
  const dir = await saveCheckpoint(tmp('w0'), { step, config, manifestHash: 'm', networks, optimizers });
  networks.generator.dispose();
  networks.discriminator.dispose();
  async function* pieces(): AsyncIterable<CheckpointPiece> {
    for (const name of await checkpointFiles(dir)) for await (const p of readFilePieces(dir, name)) yield { ...p, runId, generation: 0, rank: 0, session, step, ...over };
  }
  return pieces();
}

/** Every rank of a two-worker ring reports the same digest at `step`, and rank 0 uploads the checkpoint: it is merged. */
async function mergeCheckpoint(c: KeepingSessions, step: number): Promise<void> {
  for (const rank of [0, 1]) await digest(c, rank, step, uploadedWeights);
  await c.uploadCheckpoint(await upload(c, step, { generation: c.generation }));
}

/** The run's end, or a failure after `ms`: no test waits on a run forever. */
function ended(c: Coordinator, ms = 10_000) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the run did not end within ${ms} ms: ${JSON.stringify(c.status())}`)), ms)));
  return Promise.race([c.done, late]).finally(() => clearTimeout(timer));
}

/** Polls `probe` (every 50 ms, up to `ms`) until it gives a value: for what timers or background writes do. */
async function until<T>(probe: () => T | null | Promise<T | null>, ms = 5_000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (performance.now() > deadline) throw new Error(`no result within ${ms} ms`);
    await sleep(50);
  }
}

/** run.json once it records `generation` in `state`. */
const recorded = (out: string, generation: number, state: string) =>
  until(async () => {
    const s = await readRunState(out);
    return s.generation === generation && s.state === state ? s : null;
  });

// ---- the first ring and its checkpoints

test('every rank gets its ring of generation 0, the config, the plan and the dataset files', async (t) => {
  const { c, assignments } = await running(t);
  t.deepEqual(assignments.map((a) => a.rank), [0, 1]);
  for (const a of assignments) {
    t.is(a.runId, c.runId);
    t.deepEqual([a.generation, a.worldSize, a.startStep, a.checkpointStep], [0, 2, 0, null]);
    t.deepEqual(a.config, config);
    t.deepEqual(a.plan, { globalBatch: 4, seed: config.train.seed, steps: 4, dataset });
    t.is(a.startupTimeoutMs, config.cluster.rendezvousTimeoutSeconds * 1000);
  }
  t.true(assignments[0].plan.dataset.files.some((f) => f.name === 'manifest.json'));
  const view = c.status();
  t.deepEqual([view.state, view.generation, view.recoveries.length], ['running', 0, 0]);
  t.deepEqual(view.workers.map((w) => [w.rank, w.gpu, w.state]), [
    [0, 0, 'running'],
    [1, 1, 'running'],
  ]);
});

test('a checkpoint is merged once rank 0 uploaded it and all digests agree; then the run finishes', async (t) => {
  const { c, out } = await running(t);
  for (const rank of [0, 1]) await digest(c, rank, 2, uploadedWeights);
  const receipt = await c.uploadCheckpoint(await upload(c, 2));
  t.is(receipt.step, 2);
  t.regex(c.status().latestCheckpoint, /step-000002$/);
  // The final checkpoint: upload first, digests after.
  await c.uploadCheckpoint(await upload(c, 4));
  t.regex(c.status().latestCheckpoint, /step-000002$/, 'not merged before every rank reported');
  await digest(c, 1, 4, uploadedWeights);
  // The report that completes the agreement returns once the checkpoint is merged.
  await digest(c, 0, 4, uploadedWeights);
  t.regex(c.status().latestCheckpoint, /step-000004$/);
  t.deepEqual(beat(c, 0, 4, 'finished'), { action: 'continue' });
  t.is(c.status().state, 'running', 'one rank is still at work');
  beat(c, 1, 4, 'finished');
  const view = await ended(c);
  t.is(view.state, 'finished');
  const saved = await loadCheckpoint(out);
  t.is(saved.step, 4);
  for (const step of ['000002', '000004']) await t.notThrowsAsync(verifyCheckpointSeal(join(out, 'checkpoints', `step-${step}`), SEAL_KEY), 'every merged checkpoint is sealed with the run key');
  // The swap attack: the published checkpoint cannot be replaced, neither by its own step nor once the run is over.
  await t.throwsAsync(c.uploadCheckpoint(await upload(c, 4)), { message: /closed|finished|already/ });
  saved.networks.generator.dispose();
  saved.networks.discriminator.dispose();
  const state = await readRunState(out);
  t.is(state.state, 'finished');
  t.is(state.latestCheckpoint?.step, 4);
  t.is(state.members.length, 2);
});

// A coordinator that crashes in a run that only trained must resume (--resume) knowing its checkpoints.
test('a merged checkpoint is recorded in run.json at once', async (t) => {
  const { c, out } = await running(t);
  await mergeCheckpoint(c, 2);
  const state = await until(async () => {
    const s = await readRunState(out);
    return s.latestCheckpoint?.step === 2 ? s : null;
  }, 2_000);
  t.regex(state.latestCheckpoint?.dir ?? '', /step-000002$/);
});

test('digests that differ fail the run as diverged replicas; workers are told to stop on their calls and their links', async (t) => {
  const { c, assignments } = await running(t);
  const links = watchAll(c, assignments);
  await digest(c, 0, 2, hex('a'));
  const directive = await digest(c, 1, 2, hex('c'));
  t.is(directive.action, 'stop');
  const view = await ended(c);
  t.is(view.state, 'failed');
  t.regex(view.error, /replicas diverged.*step 2.*rank 0.*rank 1/);
  t.deepEqual(beat(c, 0, 2), { action: 'stop', reason: view.error });
  for (const { link } of links) {
    t.deepEqual(link.pushed, [{ action: 'stop', reason: view.error }]);
    t.true(link.ended);
  }
  await t.throwsAsync(c.register(reg(5)), { instanceOf: RunStoppedError, message: /has failed: .*replicas diverged/ });
});

test('a sync report returns once every rank reported the same digest of the state the ring started from', async (t) => {
  const { c } = await running(t);
  const first = digest(c, 0, 0, hex('d'), 'sync');
  t.false(await isSettled(first), 'rank 0 waits for rank 1');
  t.deepEqual(await digest(c, 1, 0, hex('d'), 'sync'), { action: 'continue' });
  t.deepEqual(await first, { action: 'continue' });
  t.is(c.status().state, 'running');
});

test('a start-up broadcast that left different states fails the run before it trains', async (t) => {
  const { c } = await running(t);
  const first = digest(c, 0, 0, hex('d'), 'sync');
  t.is((await digest(c, 1, 0, hex('e'), 'sync')).action, 'stop');
  t.is((await first).action, 'stop', 'the waiting rank hears it too');
  const view = await ended(c);
  t.regex(view.error, /start-up broadcast left different states/);
});

test('hostile control messages are refused by name and change nothing', async (t) => {
  const { c } = await running(t);
  t.throws(() => c.heartbeat({ runId: 'other-run', generation: 0, rank: 0, session: c.sessionOf(0, 0), step: 1, condition: 'running', error: '', silentPeer: -1 }), { instanceOf: RunMismatchError });
  t.throws(() => beat(c, 7, 1), { instanceOf: PermissionDeniedError, message: /rank 7/ });
  t.throws(() => beat(c, 0, 1, 'running', '', 3), { instanceOf: ProtocolViolationError, message: /ring generation 3; the run is at 0/ });
  await t.throwsAsync(progress(c, 9, 1), { instanceOf: PermissionDeniedError, message: /rank 9/ });
  await t.throwsAsync(digest(c, 0, 2, 'not-a-digest'), { instanceOf: ProtocolViolationError, message: /64 hex digits/ });
  t.throws(() => c.watch({ runId: 'other-run', generation: 0, rank: 0, session: c.sessionOf(0, 0) }, new FakeLink()), { instanceOf: RunMismatchError });
  const stranger = new FakeLink();
  t.throws(() => c.watch({ runId: c.runId, generation: 0, rank: 5, session: c.sessionOf(0, 0) }, stranger), { instanceOf: PermissionDeniedError, message: /rank 5/ });
  t.deepEqual(stranger.pushed, [], 'a rank not in the ring hears nothing');
  await t.throwsAsync(c.register(reg(2)), { instanceOf: RendezvousClosedError, message: /already trains with its 2 workers \(--workers\)/ });
  // The run's ring is encrypted: a worker that offers no ring key could only talk plaintext to its neighbours.
  await t.throwsAsync(c.register(reg(0, { ringPublicKey: '' })), { instanceOf: ProtocolViolationError, message: /ring is encrypted \(cluster.ringEncryption curve\)/ });
  // Only files of the plan are served: no path out of the dataset folder.
  const escape = async () => {
    for await (const p of c.datasetPieces(c.runId, '../../../../etc/passwd')) void p;
  };
  await t.throwsAsync(escape, { instanceOf: ProtocolViolationError, message: /not a file of this run's dataset/ });
  // Uploads only from rank 0 of the training ring, for a step of the plan, of one step throughout.
  await t.throwsAsync(c.uploadCheckpoint(await upload(c, 2, { rank: 1 })), { message: /only rank 0/ });
  await t.throwsAsync(c.uploadCheckpoint(await upload(c, 99)), { message: /step 99: expected 1\.\.4/ });
  await t.throwsAsync(c.uploadCheckpoint(await upload(c, 2, { runId: 'other-run' })), { instanceOf: RunMismatchError });
  await t.throwsAsync(c.uploadCheckpoint(await upload(c, 2, { generation: 1 })), { instanceOf: ProtocolViolationError, message: /ring generation 1; the run is at 0/ });
  const corrupt = async function* (): AsyncIterable<CheckpointPiece> {
    for await (const p of await upload(c, 2)) yield p.last ? { ...p, sha256: '0'.repeat(64) } : p;
  };
  await t.throwsAsync(c.uploadCheckpoint(corrupt()), { message: /sha256/ });
  const view = c.status();
  t.deepEqual([view.state, view.generation, view.latestCheckpoint, view.error, view.recoveries.length], ['running', 0, '', '', 0]);
});

test('a call for a rank must carry the session secret that rank was handed: another rank\'s, a made-up one or none is refused and changes nothing', async (t) => {
  const { c, assignments } = await running(t);
  const [s0, s1] = [c.sessionOf(0, 0), c.sessionOf(0, 1)];
  t.not(s0, s1, 'every rank gets its own secret');
  t.true(assignments.every((a) => /^[0-9a-f]{64}$/.test(a.session)));
  const before = JSON.stringify(c.status());
  for (const session of [s0, '', 'f'.repeat(64)]) {
    const as1 = { runId: c.runId, generation: 0, rank: 1, session };
    t.throws(() => c.heartbeat({ ...as1, step: 3, condition: 'failed', error: 'forged', silentPeer: -1 }), { instanceOf: PermissionDeniedError });
    t.throws(() => c.heartbeat({ ...as1, step: 3, condition: 'left', error: 'forged', silentPeer: 0 }), { instanceOf: PermissionDeniedError });
    await t.throwsAsync(c.reportStep({ ...as1, stepsDone: 3, kind: 'checkpoint', sha256: hex('b') }), { instanceOf: PermissionDeniedError });
    t.throws(() => c.watch(as1, new FakeLink()), { instanceOf: PermissionDeniedError });
  }
  // Rank 0's reports drive the collapse watch: only rank 0's secret may send them.
  await t.throwsAsync(c.reportStep({ runId: c.runId, generation: 0, rank: 0, session: s1, stepsDone: 1, kind: 'progress', result: result(0), images: 2, probe: null }), { instanceOf: PermissionDeniedError });
  await t.throwsAsync(c.uploadCheckpoint(await upload(c, 2, { session: s1 })), { instanceOf: PermissionDeniedError });
  t.is(JSON.stringify(c.status()), before, 'the run is as it was');
  // The rank's own secret works.
  t.is((await progress(c, 0, 1)).action, 'continue');
});

// ---- lost workers, newcomers, the rendezvous bounds

test('a worker whose live link ends is lost at once: the survivors regroup in a new generation from the most advanced state they hold', async (t) => {
  const registry = createRegistry();
  const { c, assignments, tick } = await running(t, { worldSize: 3, config: withCluster({ minWorkers: 2 }), metrics: { recoveryMetrics: new RecoveryMetrics(registry) } });
  const links = watchAll(c, assignments);
  for (const stepsDone of [1, 2, 3, 4, 5, 6]) await progress(c, 0, stepsDone);
  tick(100);
  links[2].lose('the call was cancelled');
  const lost = c.status();
  t.deepEqual([lost.state, lost.generation], ['recovering', 1]);
  t.is(lost.recoveries.length, 1);
  const [recovery] = lost.recoveries;
  t.deepEqual([recovery.cause, recovery.generation, recovery.step, recovery.seconds], ['worker_lost', 1, -1, 0]);
  t.regex(recovery.reason, /rank 2 \(h gpu 2\): its connection to the coordinator ended \(the call was cancelled\)/);
  t.regex(recovery.reason, /2 workers left/);
  for (const { link } of links.slice(0, 2)) {
    t.deepEqual(link.pushed, [{ action: 'regroup', reason: recovery.reason }]);
    t.true(link.ended);
  }
  t.deepEqual(links[2].link.pushed, [], 'nothing goes down the link that broke');
  t.deepEqual(beat(c, 0, 6, 'running', '', 0), { action: 'regroup', reason: recovery.reason }, 'a call of the ended ring hears regroup');
  const late = new FakeLink();
  c.watch({ runId: c.runId, generation: 0, rank: 1, session: c.sessionOf(0, 1) }, late);
  t.deepEqual(late.pushed, [{ action: 'regroup', reason: recovery.reason }]);

  // The survivors register again with the states they committed: the more advanced one leads.
  const [a0, a1] = await Promise.all([c.register(reg(0, { runId: c.runId, committedStep: 4 })), c.register(reg(1, { runId: c.runId, committedStep: 5 }))]);
  t.deepEqual([a1.rank, a0.rank], [0, 1]);
  for (const a of [a0, a1]) t.deepEqual([a.generation, a.worldSize, a.startStep, a.checkpointStep], [1, 2, 5, null]);
  t.deepEqual(a0.members.map((m) => m.gpu), [1, 0], 'the survivors only');
  const resumed = c.status();
  t.deepEqual([resumed.state, resumed.generation], ['running', 1]);
  t.deepEqual(resumed.workers.map((w) => w.gpu), [1, 0]);
  t.deepEqual([resumed.recoveries[0].step, resumed.recoveries[0].lostSteps], [5, 1], 'step 6 was reached, the ring resumed from 5');
  t.regex(await registry.getSingleMetricAsString('facefill_ring_generation'), /^facefill_ring_generation 1$/m);

  // The recovery ends with the new ring's first step.
  tick(2_500);
  t.deepEqual(await progress(c, 0, 6), { action: 'continue' });
  t.is(c.status().recoveries[0].seconds, 2.5);
  t.regex(await registry.getSingleMetricAsString('facefill_recoveries_total'), /^facefill_recoveries_total\{cause="worker_lost"\} 1$/m);
  t.regex(await registry.getSingleMetricAsString('facefill_lost_steps_total'), /^facefill_lost_steps_total 1$/m);
});

test('a worker silent past the heartbeat timeout is lost, named; the survivor trains on alone in a new generation', async (t) => {
  const { c, tick } = await running(t);
  const limit = config.cluster.heartbeatTimeoutSeconds * 1000;
  tick(limit / 2);
  beat(c, 0, 1);
  tick(limit / 2 + 1);
  t.deepEqual(beat(c, 0, 1), { action: 'continue' });
  // The liveness check runs on a timer.
  await until(() => (c.generation === 1 ? true : null));
  const [recovery] = c.status().recoveries;
  t.is(recovery.generation, 1);
  t.regex(recovery.reason, /rank 1 \(h gpu 1\): no heartbeat for 30\.0 s \(limit 30\.0 s\)/);
  t.deepEqual(beat(c, 0, 1, 'running', '', 0), { action: 'regroup', reason: recovery.reason });
  const alone = await c.register(reg(0, { runId: c.runId, committedStep: 1 }));
  t.deepEqual([alone.generation, alone.rank, alone.worldSize, alone.startStep], [1, 0, 1, 1]);
  t.deepEqual(alone.members.map((m) => m.gpu), [0]);
  t.is(c.status().state, 'running');
});

test('a worker reporting its own failure is lost with its reason; it and the others hear regroup', async (t) => {
  const { c, assignments } = await running(t);
  const links = watchAll(c, assignments);
  const told = beat(c, 1, 3, 'failed', 'CUDA out of memory');
  t.is(told.action, 'regroup');
  t.regex(reasonOf(told), /rank 1 \(h gpu 1\): CUDA out of memory/);
  const [recovery] = c.status().recoveries;
  t.deepEqual([recovery.cause, recovery.generation, recovery.reason], ['worker_lost', 1, reasonOf(told)]);
  t.deepEqual(links[0].link.pushed, [told]);
});

test('below minWorkers the run waits rejoinSeconds of its clock for replacements, then fails', async (t) => {
  const { c, assignments, tick } = await running(t, { config: withCluster({ minWorkers: 2, rejoinSeconds: 1 }) });
  const links = watchAll(c, assignments);
  links[1].lose('the call was cancelled');
  t.deepEqual([c.status().state, c.generation], ['recovering', 1]);
  t.regex(c.status().recoveries[0].reason, /1 workers are left, cluster\.minWorkers is 2: waiting up to 1 s for replacements/);
  const survivor = c.register(reg(0, { runId: c.runId, committedStep: 2 }));
  // The rendezvous's timer fires after 1 s, but the run's clock has not reached the deadline yet.
  tick(999);
  await sleep(1_300);
  t.is(c.status().state, 'recovering');
  t.false(await isSettled(survivor));
  tick(1);
  const view = await ended(c, 5_000);
  t.is(view.state, 'failed');
  t.regex(view.error, /only 1 workers after waiting 1 s for replacements; cluster\.minWorkers is 2/);
  await t.throwsAsync(survivor, { instanceOf: RendezvousClosedError, message: /only 1 workers after waiting/ });
});

test('below minWorkers, a replacement that comes in time completes the next ring', async (t) => {
  const { c, assignments } = await running(t, { config: withCluster({ minWorkers: 2 }) });
  watchAll(c, assignments)[1].lose('the call was cancelled');
  const [survivor, replacement] = await Promise.all([c.register(reg(0, { runId: c.runId, committedStep: 3 })), c.register(reg(5))]);
  t.deepEqual([survivor.generation, survivor.rank, replacement.rank, survivor.worldSize, survivor.startStep], [1, 0, 1, 2, 3]);
  t.deepEqual(survivor.members.map((m) => m.gpu), [0, 5]);
  const view = c.status();
  t.deepEqual([view.state, view.recoveries[0].step], ['running', 3]);
});

test('a member that registers again while its ring trains (its ring broke under it) regroups the whole ring', async (t) => {
  const { c } = await running(t);
  await progress(c, 0, 3);
  const back = c.register(reg(1, { runId: c.runId, committedStep: 3, dataEndpoint: 'tcp://h:5801' }));
  t.is(c.status().state, 'recovering');
  const [recovery] = c.status().recoveries;
  t.is(recovery.cause, 'worker_lost');
  t.regex(recovery.reason, /rank 1 \(h gpu 1\) left the ring/);
  const other = await c.register(reg(0, { runId: c.runId, committedStep: 3 }));
  const mine = await back;
  t.deepEqual([other.generation, other.worldSize, mine.worldSize, other.startStep, mine.startStep], [1, 2, 2, 3, 3]);
});

test('a worker that leaves its ring hearing nothing from a neighbour regroups it; the same link broken again leaves the silent one out of the run', async (t) => {
  const { c } = await running(t, { worldSize: 3 });
  await progress(c, 0, 3);
  const leave = (rank: number, silent: number) => beat(c, rank, 3, 'left', `rank ${rank} received nothing from rank ${silent}`, c.generation, silent);
  const gen0 = c.status().workers.map((w) => w.rank);
  t.deepEqual(gen0, [0, 1, 2]);
  leave(1, 0);
  t.deepEqual([c.status().state, c.generation], ['recovering', 1]);
  t.regex(c.status().recoveries[0].reason, /^rank 1 \(h gpu 1 pid 1\) heard nothing from rank 0 \(h gpu 0 pid 0\); the ring regroups/);
  const join = (i: number) => c.register(reg(i, { runId: c.runId, committedStep: 3, dataEndpoint: `tcp://h:${5900 + i}` }));
  const second = await Promise.all([0, 1, 2].map(join));
  t.deepEqual(second.map((a) => a.worldSize), [3, 3, 3], 'once, a regroup may cure it');
  const rankOf = (gpu: number) => second.find((a) => a.members[a.rank].gpu === gpu)?.rank ?? -1;
  leave(rankOf(1), rankOf(0));
  const [, recovery] = c.status().recoveries;
  t.regex(recovery.reason, /heard nothing from rank \d+ \(h gpu 0 pid 0\) again \(a broken link\): rank \d+ is left out of the run/);
  await t.throwsAsync(join(0), { instanceOf: RunStoppedError, message: /h gpu 0 pid 0 is left out of run .*: its link with h gpu 1 pid 1 broke 2 times/ });
  const third = await Promise.all([1, 2].map(join));
  t.deepEqual(third.map((a) => [a.generation, a.worldSize]), [[2, 2], [2, 2]]);
});

test('a rendezvous that times out below minWorkers fails the run, saying how many came', async (t) => {
  const { c } = await started(t, { config: withCluster({ rendezvousTimeoutSeconds: 1, minWorkers: 2 }) });
  await t.throwsAsync(c.register(reg(0)), { instanceOf: RendezvousClosedError, message: /did not form in time .*1 workers joined .*cluster\.minWorkers is 2/ });
  const view = await ended(c);
  t.is(view.state, 'failed');
  t.regex(view.error, /did not form in time .*: 1 workers joined/);
});

test('a rendezvous that times out names who came', async (t) => {
  const { c } = await started(t, { config: withCluster({ rendezvousTimeoutSeconds: 1, minWorkers: 2 }) });
  await t.throwsAsync(c.register(reg(0)), { message: /h gpu 0 pid 0/ });
});

test('with minWorkers 1 a timed-out rendezvous trains with who came; a newcomer regroups the ring to take it in', async (t) => {
  const { c } = await started(t, { worldSize: 3, config: withCluster({ rendezvousTimeoutSeconds: 1 }) });
  const first = await Promise.all([c.register(reg(0)), c.register(reg(1))]);
  t.deepEqual(first.map((a) => [a.generation, a.worldSize]), [
    [0, 2],
    [0, 2],
  ]);
  const links = watchAll(c, first);
  // Its state is of another run: it counts for nothing.
  const newcomer = c.register(reg(2, { runId: 'another-run', committedStep: 99 }));
  t.deepEqual([c.status().state, c.generation], ['recovering', 1]);
  t.deepEqual(c.status().recoveries, [], 'taking a worker in is no recovery');
  for (const { link } of links) {
    t.deepEqual(link.pushed.map((d) => d.action), ['regroup']);
    t.true(link.ended);
  }
  const again = await Promise.all([c.register(reg(0, { runId: c.runId, committedStep: 3 })), c.register(reg(1, { runId: c.runId, committedStep: 3 })), newcomer]);
  t.deepEqual(again.map((a) => [a.generation, a.rank, a.worldSize, a.startStep]), [
    [1, 0, 3, 3],
    [1, 1, 3, 3],
    [1, 2, 3, 3],
  ]);
  await t.throwsAsync(c.register(reg(3)), { instanceOf: RendezvousClosedError, message: /already trains with its 3 workers/ });
});

// ---- backends and devices

test('a worker of another backend or device is refused by name while the ring trains: the ring is not regrouped and the run goes on', async (t) => {
  const { c, assignments } = await running(t, { worldSize: 3 });
  // A worker is lost: the ring of two survivors (both cpu) trains on, and has room for a newcomer.
  const links = watchAll(c, assignments);
  links[2].lose('the process died');
  const survivors = await Promise.all([c.register(reg(0, { runId: c.runId, committedStep: 0 })), c.register(reg(1, { runId: c.runId, committedStep: 0 }))]);
  const generation = c.generation;
  t.deepEqual([c.status().state, survivors[0].worldSize], ['running', 2]);
  const relinked = watchAll(c, survivors);

  const gpuWorker = reg(5, { backend: 'tensorflow-gpu', device: 'gpu' });
  await t.throwsAsync(c.register(gpuWorker), {
    instanceOf: RendezvousBackendMismatchError,
    message: /^h gpu 5 pid 5 computes with tensorflow-gpu on gpu, but ring generation \d+ computes with cpu on cpu \(as h gpu 0 pid 0, a member\)/,
  });
  t.deepEqual([c.status().state, c.generation], ['running', generation], 'the ring trains on');
  for (const { link } of relinked) t.deepEqual(link.pushed, [], 'no regroup');
  t.deepEqual(c.status().workers.map((w) => [w.rank, w.backend, w.device]), [
    [0, 'cpu', 'cpu'],
    [1, 'cpu', 'cpu'],
  ]);
  // A worker of the ring's kind is still taken in.
  const newcomer = c.register(reg(2));
  t.is(c.status().state, 'recovering');
  await Promise.all([c.register(reg(0, { runId: c.runId, committedStep: 0 })), c.register(reg(1, { runId: c.runId, committedStep: 0 })), newcomer]);
  t.is(c.status().workers.length, 3);
});

test('with cluster.allowMixedBackends the first ring takes workers of any backend and device, and status shows each one\'s', async (t) => {
  const { c } = await started(t, { config: withCluster({ allowMixedBackends: true }) });
  await Promise.all([c.register(reg(0, { backend: 'tensorflow-gpu', device: 'gpu' })), c.register(reg(1, { backend: 'wasm', device: 'cpu' }))]);
  t.deepEqual(c.status().workers.map((w) => [w.rank, w.gpu, w.backend, w.device]), [
    [0, 0, 'tensorflow-gpu', 'gpu'],
    [1, 1, 'wasm', 'cpu'],
  ]);
  t.deepEqual(c.metricsSnapshot().workers.map((w) => `${w.rank}:${w.backend}/${w.device}`), ['0:tensorflow-gpu/gpu', '1:wasm/cpu']);
});

test('without it, the first ring refuses a worker unlike the first to join, and forms with the others', async (t) => {
  const { c } = await started(t);
  const first = c.register(reg(0, { backend: 'tensorflow-gpu', device: 'gpu' }));
  await t.throwsAsync(c.register(reg(1, { backend: 'tensorflow-gpu', device: 'cpu' })), { instanceOf: RendezvousBackendMismatchError, message: /h gpu 1 pid 1 computes with tensorflow-gpu on cpu/ });
  const [a, b] = await Promise.all([first, c.register(reg(2, { backend: 'tensorflow-gpu', device: 'gpu' }))]);
  t.deepEqual([a.worldSize, b.members.map((m) => m.gpu)], [2, [0, 2]]);
  t.is(c.status().state, 'running');
});

// ---- the collapse detector and rollbacks

const probe = (diversityRatio: number) => ({ diversityRatio, holePsnrDb: 12, ssim: 0.5 });
// The detector waits a window of steps before it judges (an untrained generator paints alike holes).
const watched = (collapseAction: 'warn' | 'stop' | 'rollback') => ({ ...config, monitor: { ...config.monitor, collapseWindow: 2, collapseAction } });
const STEPS_DONE = [1, 2, 3, 4];

test("a collapse seen in rank 0's probes shows in status and metrics; with collapseAction warn the run goes on", async (t) => {
  const registry = createRegistry();
  const { c } = await running(t, { config: watched('warn'), metrics: { collapseMetrics: new CollapseMetrics(registry) } });
  for (const s of STEPS_DONE) await progress(c, 0, s, probe(0.01));
  const { collapse, state, probe: last, generation } = c.status();
  t.is(state, 'running');
  t.is(generation, 0);
  t.true(collapse.collapsed);
  t.is(collapse.events, 1);
  t.regex(collapse.reason, /diversity/);
  t.deepEqual(last, probe(0.01));
  t.regex(await registry.getSingleMetricAsString('facefill_mode_collapse'), /^facefill_mode_collapse 1$/m);
  t.regex(await registry.getSingleMetricAsString('facefill_mode_collapse_events_total'), /^facefill_mode_collapse_events_total 1$/m);
});

test('with collapseAction stop, a collapse fails the run naming the step and the signal', async (t) => {
  const { c } = await running(t, { config: watched('stop') });
  for (const s of STEPS_DONE) await progress(c, 0, s, probe(0.01));
  const view = await ended(c);
  t.is(view.state, 'failed');
  t.regex(view.error, /mode collapse at step \d+: .*diversity/);
});

test('healthy probes leave the run healthy', async (t) => {
  const { c } = await running(t, { config: watched('stop') });
  for (const s of STEPS_DONE) await progress(c, 0, s, probe(0.9));
  t.false(c.status().collapse.collapsed);
  t.is(c.status().collapse.events, 0);
});

test('with collapseAction rollback, a new generation starts from the last healthy checkpoint with a lower D learning rate; the old ring hears regroup', async (t) => {
  const runConfig = watched('rollback');
  const registry = createRegistry();
  const { c, out, assignments } = await running(t, { config: runConfig, metrics: { recoveryMetrics: new RecoveryMetrics(registry) } });
  const generationGauge = () => registry.getSingleMetricAsString('facefill_ring_generation');
  t.regex(await generationGauge(), /^facefill_ring_generation 0$/m);
  const links = watchAll(c, assignments);
  const runId = c.runId;
  await mergeCheckpoint(c, 2);
  // Rank 0 reports collapsed probes until the detector's window judges them (bounded).
  let reached = 2;
  while (c.generation === 0 && reached < 12) await progress(c, 0, ++reached, probe(0.01));
  const view = c.status();
  t.deepEqual([view.state, view.generation, view.collapse.events], ['recovering', 1, 1]);
  const [recovery] = view.recoveries;
  t.is(recovery.cause, 'rollback');
  t.regex(recovery.reason, /mode collapse at step \d+: .*rolled back to the checkpoint of step 2 with optimizer\.lrD/);
  // The old ring is told to regroup, whatever it says.
  t.deepEqual(beat(c, 1, reached, 'failed', 'upload refused', 0), { action: 'regroup', reason: recovery.reason });
  t.deepEqual(await progress(c, 0, reached + 1, probe(0.01), 0), { action: 'regroup', reason: recovery.reason });
  for (const { link } of links) t.deepEqual(link.pushed, [{ action: 'regroup', reason: recovery.reason }]);
  // Its workers hold a later step, but the new ring starts from the healthy checkpoint.
  const again = await Promise.all([0, 1].map((i) => c.register(reg(i, { runId, committedStep: reached }))));
  for (const a of again) {
    t.is(a.runId, runId, 'a rollback keeps the run');
    t.deepEqual([a.generation, a.startStep, a.checkpointStep], [1, 2, 2]);
    t.is(a.config.optimizer.lrD, runConfig.optimizer.lrD * runConfig.monitor.rollbackLrFactor);
    t.is(a.config.optimizer.lrG, runConfig.optimizer.lrG);
  }
  const after = c.status();
  t.is(after.state, 'running');
  t.regex(after.latestCheckpoint, /step-000002$/);
  t.deepEqual([after.recoveries[0].step, after.recoveries[0].lostSteps], [2, reached - 2]);
  // run.json records the ring a resumed run must continue: its generation, start, config and rollbacks.
  const state = await recorded(out, 1, 'running');
  t.is(state.startStep, 2);
  t.is(state.rollbacks, 1);
  t.is(state.config.optimizer.lrD, runConfig.optimizer.lrD * runConfig.monitor.rollbackLrFactor);
  t.regex(await generationGauge(), /^facefill_ring_generation 1$/m);
});

test('with collapseAction rollback and no checkpoint merged while healthy, the run stops saying so', async (t) => {
  const { c } = await running(t, { config: watched('rollback') });
  for (const s of STEPS_DONE) await progress(c, 0, s, probe(0.01));
  const view = await ended(c);
  t.regex(view.error, /mode collapse at step \d+: .*no checkpoint was saved while the run was healthy/);
});

// ---- a restarted coordinator

test('with resume, a coordinator takes up the run in its folder: the same run id, the next generation, from the state its workers hold', async (t) => {
  const first = await running(t);
  await progress(first.c, 0, 3);
  await recorded(first.out, 0, 'running');
  first.c.close();
  const { c } = await started(t, { outDir: first.out, resume: true });
  t.is(c.runId, first.c.runId);
  t.is(c.generation, 1);
  const view = c.status();
  t.is(view.state, 'recovering');
  t.deepEqual(view.recoveries.map((r) => [r.cause, r.generation]), [['coordinator_restart', 1]]);
  t.is(beat(c, 0, 3, 'running', '', 0).action, 'regroup', 'a worker of the ring before hears regroup');
  const again = await Promise.all([c.register(reg(0, { runId: c.runId, committedStep: 3 })), c.register(reg(1, { runId: c.runId, committedStep: 2 }))]);
  t.deepEqual(again.map((a) => [a.runId, a.generation, a.rank, a.startStep, a.checkpointStep]), [
    [first.c.runId, 1, 0, 3, null],
    [first.c.runId, 1, 1, 3, null],
  ]);
  const state = await recorded(first.out, 1, 'running');
  t.is(state.runId, first.c.runId);
});

test('with resume, a run.json written before some config fields existed is taken up with those fields from its preset', async (t) => {
  const first = await running(t);
  await progress(first.c, 0, 3);
  await recorded(first.out, 0, 'running');
  first.c.close();
  const file = join(first.out, 'run.json');
  const old = JSON.parse(readFileSync(file, 'utf8')) as { config: { data: Record<string, unknown>; cluster: Record<string, unknown> } };
  delete old.config.data.prefetch;
  delete old.config.cluster.compression;
  writeFileSync(file, JSON.stringify(old));
  const { c } = await started(t, { outDir: first.out, resume: true });
  t.is(c.runId, first.c.runId);
  await Promise.all([c.register(reg(0, { runId: c.runId, committedStep: 3 })), c.register(reg(1, { runId: c.runId, committedStep: 3 }))]);
  const state = await recorded(first.out, 1, 'running');
  t.is(state.config.data.prefetch, DEFAULT_CONFIG.data.prefetch);
  t.is(state.config.cluster.compression, DEFAULT_CONFIG.cluster.compression);
});

test('resume over a finished run does not reopen it: it serves its checkpoints, and a worker that comes is told the run is over', async (t) => {
  const { c: first, out } = await running(t);
  for (const rank of [0, 1]) await digest(first, rank, 4, uploadedWeights);
  await first.uploadCheckpoint(await upload(first, 4));
  beat(first, 0, 4, 'finished');
  beat(first, 1, 4, 'finished');
  t.is((await ended(first)).state, 'finished');
  first.close();
  const { c } = await started(t, { outDir: out, resume: true });
  const view = await c.done;
  t.deepEqual([view.runId, view.state], [first.runId, 'finished']);
  await t.throwsAsync(c.register(reg(0, { runId: first.runId, committedStep: 4 })), { instanceOf: RunStoppedError, message: /has finished/ });
  const served: string[] = [];
  for await (const p of c.checkpointPieces(0)) if (p.last) served.push(p.name);
  t.deepEqual(served.slice(-2), ['meta.json', 'seal.json'], 'meta.json, then its seal, come last');
  t.is((await readRunState(out)).state, 'finished', 'run.json still says finished');
});

test('a resumed run whose workers all restarted starts from its latest merged checkpoint', async (t) => {
  const first = await running(t);
  const links = watchAll(first.c, first.assignments);
  await mergeCheckpoint(first.c, 2);
  await progress(first.c, 0, 3);
  // A recovery persists the run, with its merged checkpoint; then the coordinator goes down.
  links[1].lose('the call was cancelled');
  await recorded(first.out, 1, 'recovering');
  first.c.close();
  const { c } = await started(t, { outDir: first.out, resume: true });
  t.is(c.generation, 2);
  // New processes, holding no state.
  const again = await Promise.all([10, 11].map((pid) => c.register(reg(pid - 10, { pid, dataEndpoint: `tcp://h:${5800 + pid}` }))));
  t.deepEqual(again.map((a) => [a.generation, a.startStep, a.checkpointStep]), [
    [2, 2, 2],
    [2, 2, 2],
  ]);
  const served: string[] = [];
  for await (const p of c.checkpointPieces(0)) if (p.last) served.push(p.name);
  t.deepEqual(served.slice(-2), ['meta.json', 'seal.json'], 'the adopted checkpoint is served as the latest');
});

// compareForResume lets train.steps change on a resume; the workers' config and the coordinator's
// plan must still agree, or the workers stop at one step while the coordinator waits for another.
test('a resumed run tells its workers one length: config and plan agree on the steps', async (t) => {
  const first = await started(t);
  first.c.close();
  const longer = { ...config, train: { ...config.train, steps: 8 } };
  const { c } = await started(t, { outDir: first.out, resume: true, config: longer });
  const [a] = await Promise.all([c.register(reg(0)), c.register(reg(1))]);
  t.is(a.config.train.steps, a.plan.steps);
});

test('without resume, a run folder that holds a run is refused, naming --resume', async (t) => {
  const first = await started(t);
  first.c.close();
  const c = new KeepingSessions({ config, datasetDir: data, dataset, worldSize: 2, outDir: first.out, log, sealKey: SEAL_KEY });
  t.teardown(() => c.close());
  await t.throwsAsync(c.start(), { instanceOf: CheckpointError, message: /already holds a run \(run\.json\); continue it with --resume/ });
});

test('with resume, a folder without a run starts a new one', async (t) => {
  const { c } = await started(t, { resume: true });
  t.deepEqual([c.status().state, c.generation], ['rendezvous', 0]);
  const [a] = await Promise.all([c.register(reg(0)), c.register(reg(1))]);
  t.deepEqual([a.generation, a.startStep], [0, 0]);
});

test('resume refuses a run folder of another dataset or another model architecture', async (t) => {
  const first = await started(t);
  first.c.close();
  const other = { ...dataset, manifestSha256: 'f'.repeat(64) };
  const byData = await t.throwsAsync(started(t, { outDir: first.out, resume: true, dataset: other }), { instanceOf: CheckpointError });
  t.regex(byData.message, new RegExp(`--resume: run ${first.c.runId} trained on dataset manifest ${dataset.manifestSha256}; .* has f{64}`));
  const deeper = { ...config, generator: { ...config.generator, layers: config.generator.layers - 1 } };
  await t.throwsAsync(started(t, { outDir: first.out, resume: true, config: deeper }), { instanceOf: CheckpointError, message: /model architecture differs .*generator\.layers/ });
});

test('train.maxSkippedSteps non-finite steps in a row reported by rank 0 roll the run back with both learning rates lowered, and count as skipped', async (t) => {
  const runConfig = { ...config, train: { ...config.train, maxSkippedSteps: 3 } };
  const registry = createRegistry();
  const { c, assignments } = await running(t, { config: runConfig, metrics: { recoveryMetrics: new RecoveryMetrics(registry) } });
  watchAll(c, assignments);
  await mergeCheckpoint(c, 2);
  const skipped = (stepsDone: number) =>
    c.reportStep({ runId: c.runId, generation: 0, rank: 0, session: c.sessionOf(0, 0), stepsDone, kind: 'progress', result: { ...result(stepsDone - 1), skipped: 'the discriminator gradient is not finite' }, images: 2, probe: null });
  for (const s of [3, 4]) t.deepEqual(await skipped(s), { action: 'continue' }, 'under the streak limit the run goes on');
  const third = await skipped(5);
  t.is(third.action, 'regroup');
  const [recovery] = c.status().recoveries;
  t.is(recovery.cause, 'nonfinite');
  t.regex(recovery.reason, /^3 steps in a row skipped for non-finite values, the last at step 5: the discriminator gradient is not finite; rolled back to the checkpoint of step 2 with optimizer\.lrG .* and optimizer\.lrD/);
  const again = await Promise.all([0, 1].map((i) => c.register(reg(i, { runId: c.runId, committedStep: 5 }))));
  const factor = runConfig.monitor.rollbackLrFactor;
  for (const a of again) t.deepEqual([a.startStep, a.checkpointStep, a.config.optimizer.lrG, a.config.optimizer.lrD], [2, 2, runConfig.optimizer.lrG * factor, runConfig.optimizer.lrD * factor]);
  t.regex(await registry.getSingleMetricAsString('facefill_skipped_steps_total'), /^facefill_skipped_steps_total 3$/m);
});
