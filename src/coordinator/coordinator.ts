import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunConfig } from '../shared/config';
import { type FilePiece, readFilePieces, writeFilePieces } from '../shared/control/file-transfer';
import { CheckpointError, ConfigInvalidError, ProtocolViolationError, ReplicasDivergedError, RunMismatchError, RunNotReadyError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { checkpointFiles, checkpointsDir, installCheckpoint, latestCheckpoint, pointLatestCheckpoint } from '../shared/train/checkpoint';
import type {
  CheckpointPiece,
  CheckpointReceipt,
  CollapseView,
  ControlPlane,
  DatasetPlan,
  Directive,
  Heartbeat,
  RunView,
  StepReportIn,
  TrainingPlan,
  WorkerAssignment,
} from './api';
import { CheckpointAgreement } from './checkpoint-agreement';
import { Membership } from './membership';
import { type Registration, Rendezvous } from './rendezvous';
import { writeRunState } from './run-state';
import type { CollapseMetrics } from '../shared/metrics/collapse-metrics';
import type { RecoveryMetrics } from '../shared/metrics/recovery-metrics';
import type { RunSnapshot } from '../shared/metrics/run-metrics';
import { CollapseDetector, collapseSample } from '../shared/monitor/collapse-detector';
import type { ProbeResult } from '../shared/train/api';

/** What a coordinator runs. */
export interface CoordinatorOptions {
  config: RunConfig;
  /** The dataset folder it serves, and what workers need of it. */
  datasetDir: string;
  dataset: DatasetPlan;
  worldSize: number;
  /** The run folder: merged checkpoints in `checkpoints/`, the run's state in `run.json`. */
  outDir: string;
  log: Logger;
  /** Clock in ms (tests pass their own). */
  now?: () => number;
  /** Where the collapse detector's verdicts are exported. */
  collapseMetrics?: CollapseMetrics;
  /** Where the run's ring generation, recoveries, skipped and lost steps are exported. */
  recoveryMetrics?: RecoveryMetrics;
}

/**
 * The coordinator of one synchronous data-parallel run: rendezvous, then liveness (a worker
 * silent past the heartbeat timeout, or reporting a failure, fails the run and every other
 * worker is told to stop), step reports, and merged checkpoints: rank 0 uploads its files,
 * every rank reports its weights' digest, and the checkpoint is published only when all
 * digests agree. The run's state is persisted in `run.json` at every change.
 */
export class Coordinator implements ControlPlane {
  private readonly baseRunId = `${new Date().toISOString().replace(/[-:]|\.\d+Z$/g, '').replace('T', '-')}-${randomBytes(3).toString('hex')}`;
  /** Ring incarnations: 0, then one more after each rollback. */
  private generation = 0;
  readonly plan: TrainingPlan;
  /** Resolves with the final view when the run finishes, fails or is shut down. */
  readonly done: Promise<RunView>;
  /** Resolves with the reason when someone asks the coordinator to shut down (Shutdown RPC, signal). */
  readonly shutdownRequested: Promise<string>;
  private requestShutdown: (reason: string) => void = () => undefined;
  private state: RunView['state'] = 'rendezvous';
  private error = '';
  private membership: Membership | null = null;
  private rendezvous: Rendezvous;
  private agreement: CheckpointAgreement;
  /** The run config as workers get it (a rollback lowers D's learning rate). */
  private runConfig: RunConfig;
  /** Step a (re)joining world starts at: 0, or a rollback's checkpoint. */
  private startStep = 0;
  /** The newest checkpoint merged while the detector judged the run healthy. */
  private healthy: Merged | null = null;
  private rollbackReason = '';
  private readonly uploads = new Map<number, string>();
  private merged: Merged | null = null;
  private lastReport: RunView['lastReport'] = null;
  private probe: ProbeResult | null = null;
  private readonly detector: CollapseDetector;
  private collapse: CollapseView = { collapsed: false, score: 0, reason: '', diversityRatio: null, events: 0 };
  private imagesPerSecond = 0;
  private ticker: NodeJS.Timeout | null = null;
  private settle: (view: RunView) => void = () => undefined;
  private readonly now: () => number;

  constructor(private readonly o: CoordinatorOptions) {
    const { config, worldSize } = o;
    if (config.data.batchSize % worldSize !== 0) {
      throw new ConfigInvalidError(`data.batchSize ${config.data.batchSize} does not split evenly across ${worldSize} workers; use a multiple of ${worldSize}`);
    }
    this.now = o.now ?? Date.now;
    this.runConfig = config;
    this.plan = { globalBatch: config.data.batchSize, perRankBatch: config.data.batchSize / worldSize, seed: config.train.seed, steps: config.train.steps, dataset: o.dataset };
    this.rendezvous = new Rendezvous(worldSize, config.cluster.rendezvousTimeoutSeconds * 1000);
    this.agreement = new CheckpointAgreement(worldSize);
    this.detector = new CollapseDetector(config.monitor);
    this.done = new Promise((resolve) => (this.settle = resolve));
    this.shutdownRequested = new Promise((resolve) => (this.requestShutdown = resolve));
  }

  /**
   * The run id the workers of the current ring use; after a rollback, the base id with the
   * ring's generation (`<id>.g1`), so calls of the old ring are told to roll back.
   */
  get runId(): string {
    return this.generation === 0 ? this.baseRunId : `${this.baseRunId}.g${this.generation}`;
  }

  /** Starts the rendezvous clock and the liveness checks; call once the service listens. */
  async start(): Promise<void> {
    if (await latestCheckpoint(this.o.outDir)) {
      throw new CheckpointError(`${this.o.outDir} already holds a run's checkpoints; use another --out folder`);
    }
    this.rendezvous.start();
    const every = Math.max(100, (this.o.config.cluster.heartbeatSeconds * 1000) / 2);
    this.ticker = setInterval(() => this.checkLiveness(), every);
    await this.persist();
    this.o.log.info({ runId: this.runId, workers: this.o.worldSize, steps: this.plan.steps }, `run ${this.runId}: waiting for ${this.o.worldSize} workers`);
  }

  async register(registration: Registration): Promise<WorkerAssignment> {
    let assignment;
    try {
      assignment = await this.rendezvous.join(registration);
    } catch (err) {
      if (this.state === 'rendezvous' && this.rendezvous.world === null) this.fail((err as Error).message);
      throw err;
    }
    if (this.membership === null) {
      this.membership = new Membership(assignment.members, this.o.config.cluster.heartbeatTimeoutSeconds * 1000, this.now());
      this.state = 'running';
      this.o.log.info({ members: assignment.members.map((m) => `${m.rank}:${m.host}/gpu${m.gpu}`), startStep: this.startStep }, 'all workers joined: training');
      void this.persist();
    }
    return { ...assignment, runId: this.runId, config: this.runConfig, plan: this.plan, startStep: this.startStep };
  }

  heartbeat(beat: Heartbeat): Directive {
    if (this.isEarlierRing(beat.runId)) return { action: 'rollback', reason: this.rollbackReason };
    const members = this.members(beat.runId);
    const now = this.now();
    members.seen(beat.rank, beat.step, now);
    if (beat.condition === 'failed') {
      members.failed(beat.rank, beat.error || 'failed without a reason', now);
      this.checkLiveness();
    } else if (beat.condition === 'finished') {
      members.stopped(beat.rank, now);
      this.maybeFinish();
    }
    return this.directive();
  }

  async reportStep(r: StepReportIn): Promise<Directive> {
    if (this.isEarlierRing(r.runId)) return { action: 'rollback', reason: this.rollbackReason };
    this.members(r.runId).seen(r.rank, r.result.step + 1, this.now());
    if (r.rank === 0 && r.weightsSha256 === '') this.followRankZero(r);
    if (r.weightsSha256 !== '') {
      const verdict = this.agreement.record(r.result.step + 1, r.rank, r.weightsSha256);
      // The report that completes the agreement returns after the merge: a worker that then
      // says it finished leaves the run with its checkpoint published.
      if (verdict.status === 'diverged') this.fail(new ReplicasDivergedError(verdict.reason).message);
      else await this.tryMerge(r.result.step + 1);
    }
    return this.directive();
  }

  // Rank 0 reports every step: progress, throughput, and the collapse detector's signals.
  private followRankZero(r: StepReportIn): void {
    const { result } = r;
    this.lastReport = { ...result, rank: r.rank, images: r.images };
    const rate = (r.images * this.o.worldSize) / Math.max(result.seconds.total, 1e-9);
    this.imagesPerSecond = this.imagesPerSecond === 0 ? rate : 0.8 * this.imagesPerSecond + 0.2 * rate;
    const done = result.step + 1;
    if (done % this.o.config.train.logEvery === 0) {
      const { gLoss, dLossReal, dLossFake, seconds } = result;
      this.o.log.info(
        { gLoss, dLossReal, dLossFake, reduceSeconds: seconds.dReduce + seconds.gReduce, imagesPerSecond: Number(this.imagesPerSecond.toFixed(1)) },
        `step ${done}/${this.plan.steps}`,
      );
    }
    if (r.probe) this.probe = r.probe;
    const v = this.detector.update(collapseSample(result, this.o.config.loss, done, r.probe?.diversityRatio ?? null));
    this.collapse = { collapsed: v.collapsed, score: v.score, reason: v.reason, diversityRatio: v.diversityRatio, events: this.collapse.events + (v.event ? 1 : 0) };
    this.o.collapseMetrics?.update(v);
    if (!v.event) return;
    const action = this.o.config.monitor.collapseAction;
    const what = `mode collapse at step ${done}: ${v.reason}`;
    if (action === 'warn') {
      this.o.log.warn({ step: done, score: v.score }, `${what} (monitor.collapseAction=warn: training goes on)`);
    } else if (action === 'stop') {
      this.fail(`${what} (monitor.collapseAction=stop)`);
    } else {
      this.rollBack(what);
    }
  }

  /**
   * Goes back to the newest checkpoint merged while healthy with D's learning rate lowered: a
   * new ring generation whose workers register again (the rendezvous is the barrier that keeps
   * the old ring's traffic out of the new one) and resume from that checkpoint.
   */
  private rollBack(what: string): void {
    const { rollbackLrFactor } = this.o.config.monitor;
    if (!this.healthy) return this.fail(`${what}; monitor.collapseAction=rollback, but no checkpoint was merged while the run was healthy`);
    if (this.generation >= MAX_ROLLBACKS) return this.fail(`${what}; stopped after ${MAX_ROLLBACKS} rollbacks (monitor.collapseAction=rollback)`);
    const lrD = this.runConfig.optimizer.lrD * rollbackLrFactor;
    this.runConfig = { ...this.runConfig, optimizer: { ...this.runConfig.optimizer, lrD } };
    this.rollbackReason = `${what}; rolled back to the checkpoint of step ${this.healthy.step} with optimizer.lrD ${lrD}`;
    this.generation++;
    this.startStep = this.healthy.step;
    this.merged = this.healthy;
    this.membership = null;
    this.state = 'rendezvous';
    this.rendezvous = new Rendezvous(this.o.worldSize, this.o.config.cluster.rendezvousTimeoutSeconds * 1000);
    this.rendezvous.start();
    this.agreement = new CheckpointAgreement(this.o.worldSize);
    for (const dir of this.uploads.values()) void rm(dir, { recursive: true, force: true });
    this.uploads.clear();
    this.detector.reset();
    this.collapse = { ...this.collapse, collapsed: false, score: 0, reason: '' };
    this.o.log.warn({ generation: this.generation, step: this.startStep, lrD }, this.rollbackReason);
    void pointLatestCheckpoint(this.o.outDir, this.healthy.dir).then(() => this.persist());
  }

  // A call of a ring this run has rolled back from: its worker must register again.
  private isEarlierRing(runId: string): boolean {
    return this.generation > 0 && runId !== this.runId && (runId === this.baseRunId || runId.startsWith(`${this.baseRunId}.g`));
  }

  status(): RunView {
    const now = this.now();
    const workers = (this.membership?.snapshot(now) ?? []).map((w) => ({
      rank: w.member.rank,
      host: w.member.host,
      gpu: w.member.gpu,
      backend: w.member.backend,
      state: w.state,
      step: Math.max(0, w.step),
      heartbeatAgeSeconds: w.heartbeatAgeMs / 1000,
    }));
    const step = workers.length > 0 ? Math.min(...workers.map((w) => w.step)) : 0;
    return {
      runId: this.runId,
      state: this.state,
      step,
      steps: this.plan.steps,
      workers,
      lastReport: this.lastReport,
      imagesPerSecond: this.imagesPerSecond,
      error: this.error,
      latestCheckpoint: this.merged?.dir ?? '',
      collapse: this.collapse,
      probe: this.probe,
    };
  }

  /** What the run metrics read at scrape time. */
  metricsSnapshot(): RunSnapshot {
    const v = this.status();
    const m = this.merged;
    return {
      state: v.state,
      step: v.step,
      steps: v.steps,
      imagesPerSecond: v.imagesPerSecond,
      workers: v.workers,
      checkpoint: m ? { step: m.step, ageSeconds: (this.now() - m.atMs) / 1000, bytes: m.bytes } : null,
    };
  }

  async *datasetPieces(runId: string, name: string): AsyncIterable<FilePiece> {
    this.checkRun(runId);
    // Only the files of the plan: a worker must not read anything else of this host.
    if (!this.plan.dataset.files.some((f) => f.name === name)) {
      throw new ProtocolViolationError(`'${name}' is not a file of this run's dataset (${this.plan.dataset.files.length} files)`);
    }
    yield* readFilePieces(this.o.datasetDir, name);
  }

  async uploadCheckpoint(pieces: AsyncIterable<CheckpointPiece>): Promise<CheckpointReceipt> {
    const incoming = join(checkpointsDir(this.o.outDir), `.incoming-${randomBytes(4).toString('hex')}`);
    let header: { rank: number; step: number } | null = null;
    const checked = async function* (self: Coordinator): AsyncIterable<FilePiece> {
      for await (const p of pieces) {
        if (header === null) {
          self.checkRun(p.runId);
          if (p.rank !== 0) throw new ProtocolViolationError(`rank ${p.rank} uploaded a checkpoint: only rank 0 does`);
          if (!Number.isSafeInteger(p.step) || p.step < 1 || p.step > self.plan.steps) throw new ProtocolViolationError(`checkpoint upload for step ${p.step}: expected 1..${self.plan.steps}`);
          header = { rank: p.rank, step: p.step };
        } else if (p.step !== header.step || p.runId !== self.runId) {
          throw new ProtocolViolationError(`a checkpoint upload for step ${header.step} carried a piece of step ${p.step} of run '${p.runId}'`);
        }
        yield p;
      }
    };
    try {
      await mkdir(incoming, { recursive: true });
      await writeFilePieces(incoming, checked(this));
      if (header === null) throw new ProtocolViolationError('an empty checkpoint upload');
    } catch (err) {
      await rm(incoming, { recursive: true, force: true });
      throw err;
    }
    const step = (header as { step: number }).step;
    const old = this.uploads.get(step);
    if (old) await rm(old, { recursive: true, force: true });
    this.uploads.set(step, incoming);
    await this.tryMerge(step);
    return { step, path: this.merged?.step === step ? this.merged.dir : incoming };
  }

  async *checkpointPieces(step: number): AsyncIterable<FilePiece> {
    const dir = step === 0 ? this.merged?.dir : join(checkpointsDir(this.o.outDir), `step-${String(step).padStart(6, '0')}`);
    if (!dir || (step !== 0 && (this.merged === null || step > this.merged.step))) {
      throw new CheckpointError(step === 0 ? `run ${this.runId} has no merged checkpoint yet` : `run ${this.runId} has no merged checkpoint of step ${step}`);
    }
    for (const name of await checkpointFiles(dir)) yield* readFilePieces(dir, name);
  }

  shutdown(reason: string): void {
    this.requestShutdown(reason);
    this.fail(`shut down: ${reason}`);
  }

  /** Stops the timers and refuses further joins. */
  close(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    this.rendezvous.close('the coordinator is closing');
  }

  private members(runId: string): Membership {
    this.checkRun(runId);
    if (this.membership === null) throw new RunNotReadyError('the rendezvous is not complete: no ranks are assigned yet');
    return this.membership;
  }

  private checkRun(runId: string): void {
    if (runId !== this.runId) throw new RunMismatchError(this.runId, runId);
  }

  private directive(): Directive {
    if (this.state === 'failed') return { action: 'stop', reason: this.error };
    return { action: 'continue' };
  }

  private checkLiveness(): void {
    // A rendezvous that timed out with nobody waiting in it fails the run here.
    const rendezvousFailure = this.rendezvous.failure;
    if (this.state === 'rendezvous' && rendezvousFailure !== null) this.fail(rendezvousFailure);
    if (this.state !== 'running' || this.membership === null) return;
    const verdict = this.membership.check(this.now());
    if (!verdict.healthy) this.fail(verdict.reason);
  }

  private async tryMerge(step: number): Promise<void> {
    const upload = this.uploads.get(step);
    const verdict = this.agreement.at(step);
    if (!upload || verdict.status !== 'agreed' || this.state === 'failed') return;
    this.uploads.delete(step);
    try {
      const dir = await installCheckpoint(this.o.outDir, upload);
      const merged = { step, dir, atMs: this.now(), bytes: await checkpointBytes(dir) };
      if (this.merged === null || step > this.merged.step) this.merged = merged;
      if (!this.collapse.collapsed) this.healthy = merged;
      this.agreement.settle(step);
      this.o.log.info({ step, dir, weightsSha256: verdict.sha256 }, `merged checkpoint of step ${step}: all ${this.o.worldSize} replicas agree`);
      await this.persist();
      this.maybeFinish();
    } catch (err) {
      await rm(upload, { recursive: true, force: true });
      this.fail(`the checkpoint of step ${step} could not be merged: ${(err as Error).message}`);
    }
  }

  private maybeFinish(): void {
    if (this.state !== 'running' || !this.membership?.finished) return;
    if (this.merged?.step !== this.plan.steps) return; // the final merge is still on its way
    this.end('finished');
  }

  private fail(reason: string): void {
    if (this.state === 'failed' || this.state === 'finished') return;
    this.error = reason;
    this.o.log.error({ runId: this.runId }, `run failed: ${reason}`);
    this.rendezvous.close(reason);
    this.end('failed');
  }

  private end(state: 'finished' | 'failed'): void {
    const first = this.state !== state;
    this.state = state;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    if (!first) return;
    void this.persist().finally(() => this.settle(this.status()));
  }

  private async persist(): Promise<void> {
    // Every change of the ring is persisted: the gauge follows the generation run.json records.
    this.o.recoveryMetrics?.generation(this.generation);
    try {
      await writeRunState(this.o.outDir, {
        runId: this.runId,
        state: this.state,
        error: this.error,
        worldSize: this.o.worldSize,
        config: this.runConfig,
        generation: this.generation,
        startStep: this.startStep,
        plan: this.plan,
        members: this.rendezvous.world ?? [],
        latestCheckpoint: this.merged ? { step: this.merged.step, dir: this.merged.dir } : null,
      });
    } catch (err) {
      this.o.log.warn({ err }, 'could not persist the run state');
    }
  }
}

// Bounds a run that collapses again after every rollback.
const MAX_ROLLBACKS = 5;

/** A merged checkpoint: its step and folder, when it was merged and its size. */
interface Merged {
  step: number;
  dir: string;
  atMs: number;
  bytes: number;
}

async function checkpointBytes(dir: string): Promise<number> {
  const sizes = await Promise.all((await checkpointFiles(dir)).map(async (f) => (await stat(join(dir, f))).size));
  return sizes.reduce((a, b) => a + b, 0);
}
