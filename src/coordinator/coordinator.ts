import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { RunConfig } from '../shared/config';
import type { FilePiece } from '../shared/control/file-transfer';
import { readFilePieces } from '../shared/control/file-transfer';
import { CheckpointDigestMismatchError, CheckpointError, ConfigInvalidError, ProtocolViolationError, RendezvousClosedError, ReplicasDivergedError, RunMismatchError, RunStoppedError } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { CollapseMetrics } from '../shared/metrics/collapse-metrics';
import type { RecoveryMetrics } from '../shared/metrics/recovery-metrics';
import type { RunSnapshot } from '../shared/metrics/run-metrics';
import { decideRecovery, type RecoveryContext } from '../shared/recovery/recovery-policy';
import { sealCheckpoint } from '../shared/security/checkpoint-seal';
import { removeCheckpointLeftovers } from '../shared/train/checkpoint-leftovers';
import { checkpointLimits } from '../shared/train/checkpoint-limits';
import { processCpuSeconds } from '../shared/util/cpu-seconds';
import type { Caller, CheckpointPiece, CheckpointReceipt, ControlPlane, DatasetPlan, Directive, Heartbeat, RunView, StepReportIn, TrainingPlan, WatchLink, WorkerAssignment } from './api';
import { CheckpointMerger } from './checkpoint-merger';
import { Membership } from './membership';
import { ProgressTracker, type ProgressFault } from './progress-tracker';
import { describe, heldStep, type Member, type Registration } from './rendezvous';
import { RingFormation } from './ring-formation';
import { SessionSecrets } from './session-secrets';
import { initialLifecycle, type LifecycleEvent, type LifecycleState, lostSteps, recoveryView, transition } from './run-lifecycle';
import { readResumableRun, RUN_STATE_FILE, writeRunState } from './run-state';
import { SyncAgreement } from './sync-agreement';

/** What a coordinator runs. */
export interface CoordinatorOptions {
  config: RunConfig;
  /** The dataset folder it serves, and what workers need of it. */
  datasetDir: string;
  dataset: DatasetPlan;
  /** The most workers a ring takes (`--workers`); `cluster.minWorkers` is the fewest. */
  worldSize: number;
  /** The run folder: merged checkpoints in `checkpoints/`, the run's state in `run.json`. */
  outDir: string;
  /** Continue the run recorded in `outDir/run.json` (a restarted coordinator); start a new one when there is none. */
  resume?: boolean;
  log: Logger;
  /** Clock in ms (tests pass their own). */
  now?: () => number;
  /** Where the collapse detector's verdicts are exported. */
  collapseMetrics?: CollapseMetrics;
  /** Where ring generations and recoveries are exported. */
  recoveryMetrics?: RecoveryMetrics;
  /** The run's checkpoint-sealing key: every merged checkpoint gets a seal `pull` verifies; null (--insecure) seals none. */
  sealKey: Buffer | null;
}

/**
 * The coordinator of one synchronous data-parallel run, a thin facade over its parts: the run's
 * lifecycle (a pure state machine: rendezvous, running, recovering, finished, failed), one
 * rendezvous and one membership per ring generation, the progress tracker (rank 0's reports, the
 * collapse detector) and the checkpoint merger. A lost, stalled or new worker, a rollback and a
 * restart each start a new generation: its workers register again and train on from the most
 * advanced state any of them holds. Every change of the run is persisted in `run.json`.
 */
export class Coordinator implements ControlPlane {
  private baseRunId = `${new Date().toISOString().replace(/[-:]|\.\d+Z$/g, '').replace('T', '-')}-${randomBytes(3).toString('hex')}`;
  private plan: TrainingPlan;
  /** Resolves with the final view when the run finishes, fails or is shut down. */
  readonly done: Promise<RunView>;
  /** Resolves with the reason when someone asks the coordinator to shut down (Shutdown RPC, signal). */
  readonly shutdownRequested: Promise<string>;
  private requestShutdown: (reason: string) => void = () => undefined;
  private settle: (view: RunView) => void = () => undefined;
  private life: LifecycleState = initialLifecycle();
  /** The run config as workers get it (a rollback lowers the learning rates). */
  private runConfig: RunConfig;
  private readonly formation: RingFormation;
  private membership: Membership | null = null;
  private links = new Map<number, WatchLink>();
  private readonly sessions = new SessionSecrets();
  private readonly progress: ProgressTracker;
  private readonly merger: CheckpointMerger;
  private sync = new SyncAgreement(1);
  private rollbacks = 0;
  /** The checkpoint the forming ring must start from (a rollback), or null. */
  private rollbackTo: number | null = null;
  /** The merged checkpoint the current ring's rank 0 loaded, or null (it broadcast a state it held). */
  private ringCheckpoint: number | null = null;
  private ticker: NodeJS.Timeout | null = null;
  /** Times each pair of workers' link broke, by their places. */
  private readonly brokenLinks = new Map<string, number>();
  /** Workers left out of the run (by place) and why. */
  private readonly excluded = new Map<string, string>();
  private persisting: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly o: CoordinatorOptions) {
    const { config, worldSize } = o;
    if (config.data.batchSize < worldSize) {
      throw new ConfigInvalidError(`data.batchSize ${config.data.batchSize} is smaller than --workers ${worldSize}: every worker needs at least one sample a step`);
    }
    if (config.cluster.minWorkers > worldSize) throw new ConfigInvalidError(`cluster.minWorkers ${config.cluster.minWorkers} exceeds --workers ${worldSize}`);
    this.now = o.now ?? Date.now;
    this.runConfig = config;
    this.plan = planOf(config, o.dataset);
    const bounds = { max: worldSize, min: () => this.runConfig.cluster.minWorkers, runId: () => this.baseRunId, allowMixed: () => this.runConfig.cluster.allowMixedBackends };
    this.formation = new RingFormation(bounds, (joined, who) => {
      this.dispatch({ kind: 'rendezvous-expired', joined, who, nowMs: this.now() });
      return this.life.phase === 'failed' ? 'fail' : 'go-on';
    });
    this.progress = new ProgressTracker(config, o.log, o.collapseMetrics);
    const { sealKey } = o;
    this.merger = new CheckpointMerger({
      outDir: o.outDir,
      keep: config.train.keepCheckpoints,
      limits: checkpointLimits(config),
      log: o.log,
      now: this.now,
      seal: sealKey ? (dir) => sealCheckpoint(dir, sealKey) : undefined,
    });
    this.done = new Promise((resolve) => (this.settle = resolve));
    this.shutdownRequested = new Promise((resolve) => (this.requestShutdown = resolve));
  }

  /** The run's id (the same across its ring generations and coordinator restarts). */
  get runId(): string {
    return this.baseRunId;
  }

  /** The current ring generation. */
  get generation(): number {
    return this.life.generation;
  }

  /** Takes up the run folder (a new run, or the one recorded there with `resume`), starts the rendezvous clock and the liveness checks; call once the service listens. */
  async start(): Promise<void> {
    const { outDir, log } = this.o;
    const recorded = existsSync(join(outDir, RUN_STATE_FILE));
    if (recorded && !this.o.resume) throw new CheckpointError(`${outDir} already holds a run (${RUN_STATE_FILE}); continue it with --resume, or use another --out folder`);
    // A restart policy (Kubernetes, Slurm --requeue) passes --resume every time: the first start has nothing to resume.
    if (!recorded && this.o.resume) log.info({ outDir }, `--resume: ${outDir} holds no run yet; starting a new one`);
    const leftovers = await removeCheckpointLeftovers(outDir);
    if (leftovers.removed.length + leftovers.restored.length > 0) log.warn(leftovers, 'cleaned up what an interrupted write left in the run folder');
    if (this.o.resume && recorded) await this.takeOver();
    else this.formation.arm(this.o.config.cluster.rendezvousTimeoutSeconds * 1000, null, this.runConfig.cluster.rejoinSeconds * 1000);
    if (this.life.phase === 'finished') return;
    const every = Math.max(100, (this.runConfig.cluster.heartbeatSeconds * 1000) / 2);
    this.ticker = setInterval(() => this.checkLiveness(), every);
    await this.persist();
    log.info({ runId: this.runId, workers: this.o.worldSize, minWorkers: this.runConfig.cluster.minWorkers, steps: this.plan.steps }, `run ${this.runId}: waiting for ${this.o.worldSize} workers`);
  }

  async register(registration: Registration, left?: AbortSignal): Promise<WorkerAssignment> {
    const { phase, world } = this.life;
    // The run is over: a worker that comes now has nothing to do and must not be restarted (exit 3).
    if (phase === 'finished' || phase === 'failed') throw new RunStoppedError(`run ${this.runId} has ${phase}${phase === 'failed' ? `: ${this.life.error}` : ''}`);
    const encrypted = this.runConfig.cluster.ringEncryption === 'curve';
    if (encrypted !== (registration.ringPublicKey !== '')) {
      throw new ProtocolViolationError(
        `register: run ${this.runId}'s ring is ${encrypted ? 'encrypted (cluster.ringEncryption curve): a worker must offer its ring key' : 'not encrypted (cluster.ringEncryption none): a worker must offer no ring key'}`,
      );
    }
    const excluded = this.excluded.get(placeOf(registration));
    if (excluded) throw new RunStoppedError(`${describe(registration)} is left out of run ${this.runId}: ${excluded}`);
    // Before a newcomer regroups a training ring: a worker the ring would refuse must not disturb it.
    try {
      this.formation.current.checkKind(registration);
    } catch (err) {
      this.o.log.warn({ host: registration.host, gpu: registration.gpu, backend: registration.backend, device: registration.device }, `refused: ${(err as Error).message}`);
      throw err;
    }
    if (phase === 'running') {
      const member = world.find((m) => m.host === registration.host && m.pid === registration.pid);
      if (member) this.dispatch({ kind: 'ring-broken', reason: `rank ${member.rank} (${member.host} gpu ${member.gpu}) left the ring`, nowMs: this.now() });
      else if (world.length < this.o.worldSize) this.dispatch({ kind: 'newcomer', nowMs: this.now() });
      else throw new RendezvousClosedError(`run ${this.runId} already trains with its ${this.o.worldSize} workers (--workers)`);
    }
    const joining = this.formation.current.join(registration);
    // Wherever the join went (a pending join moves to the next generation's rendezvous).
    left?.addEventListener('abort', () => this.formation.current.leave(registration), { once: true });
    const assignment = await joining;
    if (assignment.generation === this.life.generation && this.life.phase !== 'running') this.formRing(assignment.members);
    const checkpointStep = this.ringCheckpoint;
    return {
      ...assignment,
      runId: this.runId,
      config: this.runConfig,
      plan: this.plan,
      startStep: this.life.startStep,
      checkpointStep,
      startupTimeoutMs: this.startupBound(assignment.members, checkpointStep),
      session: this.sessions.issue(assignment.generation, assignment.rank),
    };
  }

  watch(caller: Caller, link: WatchLink): (why: string) => void {
    this.checkCaller(caller);
    const final = this.directiveFor(caller.generation);
    if (final.action !== 'continue' || !this.membership?.isRunning(caller.rank)) {
      link.push(final.action === 'continue' ? { action: 'regroup', reason: 'not a member of the current ring' } : final);
      link.end();
      return () => undefined;
    }
    this.links.get(caller.rank)?.end();
    this.links.set(caller.rank, link);
    return (why) => {
      if (this.links.get(caller.rank) !== link) return;
      this.links.delete(caller.rank);
      if (caller.generation !== this.life.generation || !this.membership?.isRunning(caller.rank)) return;
      this.membership.failed(caller.rank, `its connection to the coordinator ended (${why})`, this.now());
      this.checkLiveness();
    };
  }

  heartbeat(beat: Heartbeat): Directive {
    this.checkCaller(beat);
    const directive = this.directiveFor(beat.generation);
    if (directive.action !== 'continue' || !this.membership) return directive;
    const now = this.now();
    this.membership.seen(beat.rank, beat.step, now);
    if (beat.condition === 'failed') {
      this.membership.failed(beat.rank, beat.error || 'failed without a reason', now);
      this.checkLiveness();
    } else if (beat.condition === 'finished') {
      this.membership.stopped(beat.rank, now);
      this.maybeFinish();
    } else if (beat.condition === 'left') {
      this.ringBroken(beat.rank, beat.silentPeer, beat.error);
    }
    return this.directiveFor(beat.generation);
  }

  async reportStep(r: StepReportIn): Promise<Directive> {
    this.checkCaller(r);
    const directive = this.directiveFor(r.generation);
    if (directive.action !== 'continue' || !this.membership) return directive;
    this.membership.seen(r.rank, r.stepsDone, this.now());
    this.dispatch({ kind: 'progress', steps: r.stepsDone, nowMs: this.now() });
    try {
      if (r.kind === 'progress' && r.rank === 0) {
        if (r.result.skipped) this.o.recoveryMetrics?.skippedSteps();
        this.actOn(this.progress.follow(r.result, r.images, r.probe, this.life.world.length, this.plan.steps));
      }
      if (r.kind === 'checkpoint') {
        // The report that completes an agreement returns after the merge: a worker that then
        // says it finished leaves the run with its checkpoint published.
        await this.merged(() => this.merger.recordDigest(r.stepsDone, r.rank, r.sha256, !this.progress.collapsed));
      }
      if (r.kind === 'sync') await this.sync.record(r.rank, r.sha256, r.stepsDone);
    } catch (err) {
      // A checkpoint that cannot be merged (the uploaded bytes are not the weights every rank agreed on) ends the run.
      if (!(err instanceof ReplicasDivergedError || err instanceof CheckpointError || err instanceof CheckpointDigestMismatchError)) throw err;
      this.fail(err.message);
    }
    return this.directiveFor(r.generation);
  }

  status(): RunView {
    const now = this.now();
    const workers = (this.membership?.snapshot(now) ?? []).map((w) => ({
      rank: w.member.rank,
      host: w.member.host,
      gpu: w.member.gpu,
      backend: w.member.backend,
      device: w.member.device,
      state: w.state,
      step: Math.max(0, w.step),
      heartbeatAgeSeconds: w.heartbeatAgeMs / 1000,
    }));
    const step = workers.length > 0 ? Math.min(...workers.map((w) => w.step)) : this.life.startStep;
    return {
      runId: this.runId,
      state: this.life.phase,
      generation: this.life.generation,
      step,
      steps: this.plan.steps,
      workers,
      ...this.progress.view(),
      error: this.life.error,
      latestCheckpoint: this.merger.latest ? relative(this.o.outDir, this.merger.latest.dir) : '',
      recoveries: this.life.recoveries.map(recoveryView),
      ringEncryption: this.runConfig.cluster.ringEncryption,
    };
  }

  /** What the run metrics read at scrape time. */
  metricsSnapshot(): RunSnapshot {
    const v = this.status();
    const m = this.merger.latest;
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
    const accept = (p: CheckpointPiece) => {
      this.checkCaller(p);
      if (p.generation !== this.life.generation || this.life.phase !== 'running') throw new CheckpointError(`an upload of ring generation ${p.generation}, which is not the training ring (${this.life.generation}, ${this.life.phase})`);
      if (p.rank !== 0) throw new ProtocolViolationError(`rank ${p.rank} uploaded a checkpoint: only rank 0 does`);
      if (!Number.isSafeInteger(p.step) || p.step < 1 || p.step > this.plan.steps) throw new ProtocolViolationError(`checkpoint upload for step ${p.step}: expected 1..${this.plan.steps}`);
    };
    try {
      const receipt = await this.merged(() => this.merger.receiveUpload(pieces, accept, !this.progress.collapsed));
      return { ...receipt, path: relative(this.o.outDir, receipt.path) };
    } catch (err) {
      if ((err instanceof CheckpointError && /could not be merged/.test(err.message)) || err instanceof CheckpointDigestMismatchError) this.fail(err.message);
      throw err;
    }
  }

  checkpointPieces(step: number): AsyncIterable<FilePiece> {
    return this.merger.pieces(step);
  }

  shutdown(reason: string): void {
    this.requestShutdown(reason);
    this.fail(`shut down: ${reason}`);
  }

  /** Stops the timers and refuses further joins. */
  close(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    this.formation.close('the coordinator is closing');
    void this.merger.close('the coordinator is closing');
    for (const link of this.links.values()) link.end();
    this.links.clear();
  }

  // ---- the lifecycle and its actions

  private dispatch(event: LifecycleEvent): void {
    const { state, actions } = transition(this.life, event, this.recoveryContext());
    const ended = state.phase !== this.life.phase && (state.phase === 'finished' || state.phase === 'failed');
    this.life = state;
    for (const a of actions) {
      switch (a.kind) {
        case 'regroup':
          this.pushAll({ action: 'regroup', reason: a.reason });
          this.membership = null;
          break;
        case 'open-rendezvous':
          this.formation.open(a.generation, a.expect, this.rejoinBound(), this.life.rejoinDeadlineMs === null ? this.settleBound() : null, this.runConfig.cluster.rejoinSeconds * 1000);
          break;
        case 'stop-workers':
          this.pushAll({ action: 'stop', reason: a.reason });
          this.formation.close(a.reason);
          break;
        case 'recovered':
          this.o.recoveryMetrics?.recovered(a.record.cause, a.record.seconds ?? 0, lostSteps(a.record));
          this.o.log.info({ generation: a.record.generation, seconds: a.record.seconds }, `recovered (${a.record.cause}): ring generation ${a.record.generation} trains from step ${a.record.resumedStep}`);
          break;
        case 'persist':
          void this.persist();
          break;
        case 'log':
          this.o.log[a.level]({ runId: this.runId, generation: this.life.generation }, a.message);
          break;
      }
    }
    if (ended) {
      if (this.ticker) clearInterval(this.ticker);
      this.ticker = null;
      // A finished or failed run takes no more uploads: its published checkpoints stay as they are.
      const closed = this.merger.close(`run ${this.runId} has ${state.phase}${state.error ? `: ${state.error}` : ''}`);
      void Promise.all([this.persist(), closed]).finally(() => this.settle(this.status()));
    }
  }

  // A worker left its ring because it heard nothing from (or could hand nothing to) a neighbour.
  // Once a regroup may cure it (a passing glitch); when the same pair breaks again, the link
  // between them is bad and the silent one is left out of the run, so the ring avoids it.
  private ringBroken(reporter: number, silent: number, why: string): void {
    const world = this.life.world;
    const [r, s] = [world[reporter], world[silent]];
    if (!r || !this.membership) return;
    this.membership.left(reporter, this.now());
    const nowMs = this.now();
    if (!s || s === r) return this.dispatch({ kind: 'ring-broken', reason: `rank ${reporter} (${describe(r)}) left the ring: ${why}`, nowMs });
    const pair = [placeOf(r), placeOf(s)].sort().join(' | ');
    const strikes = (this.brokenLinks.get(pair) ?? 0) + 1;
    this.brokenLinks.set(pair, strikes);
    const what = `rank ${reporter} (${describe(r)}) heard nothing from rank ${silent} (${describe(s)})`;
    if (strikes < 2) return this.dispatch({ kind: 'ring-broken', reason: `${what}; the ring regroups`, nowMs });
    this.excluded.set(placeOf(s), `its link with ${describe(r)} broke ${strikes} times`);
    this.dispatch({ kind: 'members-lost', ranks: [silent], cause: 'worker_lost', reason: `${what} again (a broken link): rank ${silent} is left out of the run`, nowMs });
  }

  // What the recovery policy needs to know of the run now.
  private recoveryContext(): RecoveryContext {
    return { config: this.runConfig, optimizer: this.runConfig.optimizer, rollbacks: this.rollbacks, healthyStep: this.merger.healthyCheckpoint?.step ?? null };
  }

  // A fault rank 0's reports show (collapse, a streak of non-finite steps), through the recovery policy.
  private actOn(fault: ProgressFault | null): void {
    if (!fault) return;
    const decision = decideRecovery(fault, this.recoveryContext());
    if (decision.action === 'warn') this.o.log.warn({ step: fault.step }, decision.reason);
    if (decision.action === 'stop') this.fail(decision.reason);
    if (decision.action !== 'rollback') return;
    this.rollbacks++;
    this.runConfig = { ...this.runConfig, optimizer: decision.optimizer };
    this.rollbackTo = decision.toStep;
    this.progress.reset();
    void this.merger.rollBack().then(() => this.persist());
    this.dispatch({ kind: 'rollback', toStep: decision.toStep, reason: decision.reason, cause: fault.kind === 'collapse' ? 'rollback' : 'nonfinite', nowMs: this.now() });
  }

  // The ring of the current generation formed: start following it.
  private formRing(members: readonly Member[]): void {
    const held = heldStep(members, this.runId);
    const checkpoint = this.rollbackTo ?? this.checkpointToLoad(members);
    const startStep = checkpoint ?? Math.max(0, held);
    // The rollback's checkpoint is the start of exactly this ring.
    [this.ringCheckpoint, this.rollbackTo] = [checkpoint, null];
    this.formation.clear();
    const { heartbeatTimeoutSeconds, stallSeconds } = this.runConfig.cluster;
    this.membership = new Membership(members, { heartbeatTimeoutMs: heartbeatTimeoutSeconds * 1000, stallMs: stallSeconds * 1000 }, this.now(), startStep);
    this.merger.startGeneration(this.life.generation, members.length);
    this.sync = new SyncAgreement(members.length);
    this.o.recoveryMetrics?.generation(this.life.generation);
    this.dispatch({ kind: 'ring-formed', members, startStep, nowMs: this.now() });
    // Its CPU seconds here and on the run's last line tell what the training itself cost the coordinator.
    this.o.log.info({ members: members.map((m) => `${m.rank}:${m.host}/gpu${m.gpu}`), startStep, checkpoint, cpuSeconds: processCpuSeconds() }, `ring generation ${this.life.generation}: training`);
  }

  // The merged checkpoint a forming ring must load: the newest one, when no member holds a state as far along.
  private checkpointToLoad(members: readonly Member[]): number | null {
    const latest = this.merger.latest;
    return latest && latest.step > heldStep(members, this.runId) ? latest.step : null;
  }

  // A restarted coordinator takes up the run recorded in its folder.
  private async takeOver(): Promise<void> {
    const saved = await readResumableRun(this.o.outDir, { dataset: this.o.dataset, dataDir: this.o.datasetDir, config: this.o.config, log: this.o.log });
    this.baseRunId = saved.runId;
    this.runConfig = saved.config;
    this.plan = planOf(saved.config, this.o.dataset);
    this.rollbacks = saved.rollbacks ?? 0;
    this.merger.adopt(saved.latestCheckpoint ? { ...saved.latestCheckpoint, atMs: this.now(), bytes: 0 } : null);
    if (saved.state === 'finished') {
      // A finished run is not reopened (a restart policy may start its coordinator again): it serves its checkpoints.
      this.life = { ...this.life, phase: 'finished', generation: saved.generation, startStep: saved.startStep, reachedStep: saved.reachedStep, world: saved.members };
      this.formation.close(`run ${this.runId} has finished`);
      this.o.log.info({ runId: this.runId, latestCheckpoint: saved.latestCheckpoint?.step ?? null }, `--resume: run ${this.runId} has finished; serving its checkpoints`);
      await this.merger.close(`run ${this.runId} has finished`);
      this.settle(this.status());
      return;
    }
    this.dispatch({ kind: 'resumed', generation: saved.generation, reachedStep: saved.reachedStep, members: saved.members, nowMs: this.now() });
    // Its workers retry with backoff: give them that long, on top of a regroup's wait.
    this.formation.arm(this.runConfig.cluster.rendezvousTimeoutSeconds * 1000, this.settleBound() + this.runConfig.cluster.reconnectSeconds * 1000, this.runConfig.cluster.rejoinSeconds * 1000);
    this.o.log.warn({ runId: this.runId, generation: this.life.generation, latestCheckpoint: saved.latestCheckpoint?.step ?? null }, `resuming run ${this.runId}: waiting for its workers`);
  }

  // ---- rendezvous timing

  // How long a ring's start-up broadcast may take: a ring of workers that all hold a state of the
  // run (a regroup) has its data and model, so a broken link shows within two collective bounds;
  // one with a newcomer or a checkpoint to load may first download them.
  private startupBound(members: readonly Member[], checkpointStep: number | null): number {
    const { cluster } = this.runConfig;
    const regroup = checkpointStep === null && members.every((m) => m.runId === this.runId && m.committedStep >= 0);
    return regroup ? 2 * cluster.collectiveTimeoutSeconds * 1000 : cluster.rendezvousTimeoutSeconds * 1000;
  }

  // How long a regrouping ring waits for the survivors it expects before forming without them.
  private settleBound(): number {
    return Math.max(5_000, 3 * this.runConfig.cluster.heartbeatSeconds * 1000);
  }

  // How long a forming ring may take: until the rejoin deadline when too few remain, else the rendezvous bound.
  private rejoinBound(): number {
    const deadline = this.life.rejoinDeadlineMs;
    return deadline === null ? this.runConfig.cluster.rendezvousTimeoutSeconds * 1000 : Math.max(0, deadline - this.now());
  }

  // ---- liveness, directives, the end

  private checkLiveness(): void {
    if (this.life.phase !== 'running' || this.membership === null) return;
    const verdict = this.membership.check(this.now());
    if (verdict.healthy) return;
    this.dispatch({ kind: 'members-lost', ranks: verdict.lost.map((w) => w.member.rank), cause: verdict.cause, reason: verdict.reason, nowMs: this.now() });
  }

  // What a call of generation `generation` hears: stop (the run is over), regroup (its ring ended), or go on.
  private directiveFor(generation: number): Directive {
    const { phase, error, generation: current } = this.life;
    if (phase === 'failed') return { action: 'stop', reason: error };
    if (generation < current) return { action: 'regroup', reason: this.life.recoveries.at(-1)?.reason ?? `ring generation ${current} replaces ${generation}` };
    return { action: 'continue' };
  }

  private pushAll(directive: Directive): void {
    for (const link of this.links.values()) {
      link.push(directive);
      link.end();
    }
    this.links.clear();
  }

  // Runs what may complete a merge; a new merged checkpoint is recorded in run.json before the caller hears back.
  private async merged<T>(merge: () => Promise<T>): Promise<T> {
    const before = this.merger.latest;
    const result = await merge();
    if (this.merger.latest !== before) await this.persist();
    this.maybeFinish();
    return result;
  }

  private maybeFinish(): void {
    if (this.life.phase !== 'running' || !this.membership?.finished) return;
    if (this.merger.latest?.step !== this.plan.steps) return; // the final merge is still on its way
    this.dispatch({ kind: 'finished' });
  }

  private fail(reason: string): void {
    this.dispatch({ kind: 'failed', reason });
  }

  private checkRun(runId: string): void {
    if (runId !== this.runId) throw new RunMismatchError(this.runId, runId);
  }

  // A worker's call for its rank: of this run, of a generation that exists, and carrying that rank's session secret.
  private checkCaller(c: Caller): void {
    this.checkRun(c.runId);
    const current = this.life.generation;
    if (!Number.isSafeInteger(c.generation) || c.generation < 0 || !Number.isSafeInteger(c.rank) || c.rank < 0) {
      throw new ProtocolViolationError(`a call for rank ${c.rank} of ring generation ${c.generation}: both must be whole numbers from 0`);
    }
    if (c.generation > current) throw new ProtocolViolationError(`a call of ring generation ${c.generation}; the run is at ${current}`);
    this.sessions.check(c, current);
  }

  // Writes run.json with the run's state as it is when the write starts; writes never overlap, so the last one holds the newest state.
  private persist(): Promise<void> {
    this.persisting = this.persisting.then(() => this.writeState());
    return this.persisting;
  }

  private async writeState(): Promise<void> {
    try {
      await writeRunState(this.o.outDir, {
        runId: this.runId,
        state: this.life.phase,
        error: this.life.error,
        worldSize: this.o.worldSize,
        config: this.runConfig,
        generation: this.life.generation,
        startStep: this.life.startStep,
        reachedStep: this.life.reachedStep,
        rollbacks: this.rollbacks,
        plan: this.plan,
        members: this.life.world,
        latestCheckpoint: this.merger.latest ? { step: this.merger.latest.step, dir: this.merger.latest.dir } : null,
        recoveries: this.status().recoveries,
      });
    } catch (err) {
      this.o.log.warn({ err }, 'could not persist the run state');
    }
  }
}

// How long the run is and how its batches are drawn: all from its config.
function planOf(config: RunConfig, dataset: DatasetPlan): TrainingPlan {
  return { globalBatch: config.data.batchSize, seed: config.train.seed, steps: config.train.steps, dataset };
}

// A worker's place: its host and GPU, which a restart of its process keeps (CPU workers of one host are told apart by process).
const placeOf = (r: Registration): string => `${r.host} gpu ${r.gpu}${r.gpu < 0 ? ` pid ${r.pid}` : ''}`;
