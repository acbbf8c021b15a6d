import type { RunConfig } from '../config';
import type { FaceSet } from '../data/api';
import { withEyesBox } from '../data/eyes-box';
import { CheckpointError, ConfigInvalidError, NonFiniteTrainingError, RunStoppedError } from '../errors';
import type { Logger } from '../log';
import type { RecoveryMetrics } from '../metrics/recovery-metrics';
import { buildDiscriminator, buildGenerator, fitGeneratorPrior } from '../model';
import { CollapseWatch, type Rollback, type TrainingMonitor } from '../monitor/collapse-watch';
import { decideRecovery, type Fault } from '../recovery/recovery-policy';
import { processCpuSeconds } from '../util/cpu-seconds';
import { type GradientReducer, type Networks, type OptimizerStates, STEP_PHASES, type StepResult, type StepSeconds, stepSecondsFrom } from './api';
import { makeBatch } from './batch';
import { BatchPrefetcher } from './batch-prefetcher';
import { type BatchTensors, batchTensors, disposeBatchTensors } from './batch-tensors';
import { type CheckpointContent, latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint';
import { pruneCheckpoints } from './checkpoint-retention';
import { EpochPlan, type StepSamples } from './epoch-plan';
import { nonFiniteWeight } from './replica-weights';
import { compareForResume, describeChanges } from './resume-compatibility';
import { ShardPlan } from './shard-plan';
import { type DataParallel, SINGLE_PROCESS, type Trainer } from './trainer';
import { trainerFor } from './trainer-for';
import { TrainingState } from './training-state';

/**
 * What makes a training run one replica of a synchronous data-parallel run: it takes its rank's
 * slice of every global batch (ShardPlan), sums its weighted gradients with the other ranks'
 * through `reduce`, starts from the same training state as the other ranks, and saves
 * checkpoints the replica's way.
 */
export interface Replica {
  rank: number;
  worldSize: number;
  reduce: GradientReducer;
  /**
   * Makes every rank's training state (weights, optimizer states, step count) rank 0's before
   * the first step of the ring, e.g. with a broadcast; `steps` is what this rank holds.
   * Resolves with the step count to go on from.
   */
  synchronize(trainer: Trainer, steps: number): Promise<number>;
  /**
   * Takes over a checkpoint at a checkpoint step (e.g. average the statistics, report the
   * weights' hash, save and upload on rank 0); resolves with the directory written, if any.
   */
  checkpoint(content: CheckpointContent): Promise<string | null>;
}

/** What stays the same for a session's whole life. */
export interface SessionOptions {
  config: RunConfig;
  /** The train split, in memory. */
  set: FaceSet;
  /** Hash of the dataset's manifest, recorded in checkpoints and checked on resume. */
  manifestHash: string;
  /** The run folder: checkpoints go to `<outDir>/checkpoints/`. */
  outDir: string;
  /** Continue from the run folder's latest checkpoint (a new run when there is none). */
  resume: boolean;
  /** Where the run's recoveries and skipped non-finite steps are exported. */
  recoveryMetrics?: RecoveryMetrics;
  /** Fault injection for tests and chaos runs: this process's D gradient is NaN at these 0-based steps. */
  nanGradientSteps?: ReadonlySet<number>;
  log?: Logger;
}

/** One call of {@link TrainingSession.train}: the ring it trains in, and what watches it. */
export interface TrainCall {
  /** Data-parallel replicas: this process is one rank of a ring. */
  replica?: Replica;
  /** Called after every step with its epoch; the next step waits for it, and a throw ends the call. */
  onStep?: (result: StepResult, epoch: number) => void | Promise<void>;
  /** Watch the run for mode collapse and act on `config.monitor.collapseAction`. */
  monitor?: TrainingMonitor;
}

/** How a training run went. */
export interface TrainingSummary {
  /** Step the call started from (0, the resumed checkpoint's, or the ring's). */
  startStep: number;
  /** Completed steps at the end (`train.steps` unless the checkpoint was already past it). */
  endStep: number;
  stepsRun: number;
  seconds: number;
  /** Global-batch images per second over the steps run. */
  imagesPerSecond: number;
  /** Mean seconds per step of each phase over the steps run, to 0.1 ms (zeros when none ran): where the time went. */
  phaseSeconds: StepSeconds;
  /** CPU seconds the whole process used over the same span as `seconds` (all threads, start-up excluded). */
  cpuSeconds: number;
  /** The last step's result, null when no step ran. */
  last: StepResult | null;
  /** The newest checkpoint directory, null when none was written or found. */
  checkpoint: string | null;
  /** The checkpoint the session started from, or null. */
  resumedFrom: string | null;
}

/**
 * A training run's state and its step loop (Horovod elastic's `State` and `run`): the networks,
 * both optimizers and an in-memory commit of them after every completed step. {@link train}
 * runs the remaining steps, alone or as one replica of a ring; when a ring breaks under it, the
 * caller {@link restore}s the last commit and trains again in the next ring, whose start-up
 * synchronisation makes every rank's state equal. A step skipped for a non-finite value is
 * undone from the commit; a streak of them, like a collapse, goes to the recovery policy (a
 * replica leaves both to the coordinator, which sees every rank alike).
 */
export class TrainingSession {
  private runConfig: RunConfig;
  private state: TrainingState;
  private readonly plan: EpochPlan;
  private rollbacks = 0;
  // The newest checkpoint saved while the run was healthy (single process).
  private healthy: { dir: string; step: number } | null = null;

  private constructor(
    private readonly o: SessionOptions,
    private trainer: Trainer,
    private readonly from: string | null,
  ) {
    this.runConfig = o.config;
    this.plan = new EpochPlan(o.set.count, o.config);
    this.state = new TrainingState(trainer);
  }

  /** Builds the networks (fresh, or from the run folder's latest checkpoint with `resume`) and commits their state. */
  static async open(options: SessionOptions): Promise<TrainingSession> {
    // Resolved once, so checkpoints carry the eyes box and a resume compares like with like.
    const o = { ...options, config: withEyesBox(options.config, options.set) };
    const { config, set } = o;
    if (set.size !== config.data.imageSize) {
      throw new ConfigInvalidError(
        `the dataset holds ${set.size}x${set.size} images but data.imageSize is ${config.data.imageSize}; ingest at ${config.data.imageSize} or set data.imageSize=${set.size}`,
      );
    }
    const start = await startingPoint(o);
    const session = new TrainingSession(o, trainerFor(config, start.networks), start.from);
    try {
      if (start.optimizers) await session.trainer.loadOptimizerStates(start.optimizers);
      await session.state.commit(start.step);
    } catch (err) {
      session.dispose();
      throw err;
    } finally {
      if (start.optimizers) disposeStates(start.optimizers);
    }
    return session;
  }

  /** Steps completed in the committed state. */
  get committedStep(): number {
    return this.state.step;
  }

  /** The networks being trained. */
  get networks(): Networks {
    return { generator: this.trainer.generator, discriminator: this.trainer.discriminator };
  }

  /** The config the session trains with (a rollback lowers its learning rates). */
  get config(): RunConfig {
    return this.runConfig;
  }

  /** Puts the last commit back (after a step the ring broke under); resolves with its step count. */
  restore(): Promise<number> {
    return this.state.restore();
  }

  /**
   * Trains on with `config`'s optimizer settings (the coordinator lowered them in a rollback):
   * Adam takes its learning rate when built, so a new trainer takes over the networks and the
   * committed state.
   */
  async reconfigure(config: RunConfig): Promise<void> {
    const { lrG, lrD, beta1, beta2 } = this.runConfig.optimizer;
    const next = config.optimizer;
    this.runConfig = withEyesBox(config, this.o.set);
    if (next.lrG === lrG && next.lrD === lrD && next.beta1 === beta1 && next.beta2 === beta2) return;
    await this.replaceTrainer(trainerFor(config, this.trainer), this.state.step);
  }

  /** Runs the steps left to `train.steps`, from the committed state (or the ring's, once synchronised). */
  async train(call: TrainCall = {}): Promise<TrainingSummary> {
    const { o } = this;
    const { replica } = call;
    const shards = replica ? new ShardPlan(this.plan, replica.worldSize) : null;
    const samplesAt = (step: number): StepSamples => (shards && replica ? shards.at(step, replica.rank) : this.plan.at(step));
    const parallel = shards && replica ? { reduce: replica.reduce, share: shards.weight(replica.rank) } : SINGLE_PROCESS;
    this.trainer.useDataParallel(withInjectedNaN(parallel, o.nanGradientSteps));
    const startStep = replica ? await replica.synchronize(this.trainer, this.state.step) : this.state.step;
    if (startStep !== this.state.step) await this.state.commit(startStep);
    const { steps, checkpointEvery, logEvery } = this.runConfig.train;
    o.log?.info(
      { startStep, steps, images: this.plan.imageCount, stepsPerEpoch: this.plan.stepsPerEpoch, resumedFrom: this.from },
      startStep > 0 ? `resuming at step ${startStep} of ${steps}` : `training ${steps} steps`,
    );
    const watch = call.monitor ? new CollapseWatch(call.monitor, this.runConfig) : null;
    const began = performance.now();
    const cpuBefore = processCpuSeconds();
    let last: StepResult | null = null;
    let checkpoint = this.from;
    let stepsRun = 0;
    const phaseTotals = stepSecondsFrom();
    let skippedInARow = 0;
    // Carries out the policy's answer to a fault of a single-process run; resolves with the step to go on from, if it rolled back.
    const recover = async (fault: Fault, done: number, reason: string): Promise<number | null> => {
      const back = await this.recover(fault, done, reason, call.monitor);
      if (back === null) return null;
      watch?.reset();
      skippedInARow = 0;
      return back;
    };
    // Batches are keyed by step: after a rollback the loop's next step gets its own batch, not one built ahead.
    const batches = new BatchPrefetcher<BatchTensors>(
      {
        build: (step) => {
          const { epoch, ids } = samplesAt(step);
          return batchTensors(makeBatch(o.set, ids, this.runConfig, epoch));
        },
        release: disposeBatchTensors,
      },
      { depth: this.runConfig.data.prefetch, from: startStep, end: steps },
    );
    try {
      for (let step = startStep; step < steps; step++) {
        // A step's awaits can all resolve as microtasks (wasm, cpu): yield so that timers and
        // I/O (logs, sockets, heartbeats) run between steps instead of after the run.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const { result, epoch } = await this.stepOn(batches, step);
        last = result;
        stepsRun++;
        for (const phase of STEP_PHASES) phaseTotals[phase] += result.seconds[phase];
        const done = step + 1;
        if (last.skipped) {
          skippedInARow++;
          o.recoveryMetrics?.skippedSteps();
          await this.state.restore();
          o.log?.warn({ step: done, inARow: skippedInARow }, `step ${done} skipped: ${last.skipped}`);
        } else {
          skippedInARow = 0;
          await this.state.commit(done);
        }
        await call.onStep?.(last, epoch);
        if (!last.skipped && done % logEvery === 0) o.log?.info(stepLog(last, shards?.samples(replica?.rank ?? 0) ?? this.runConfig.data.batchSize), `step ${done}/${steps}`);
        if (last.skipped && !replica) {
          const back = await recover({ kind: 'nonfinite', step: done, streak: skippedInARow, what: last.skipped }, done, last.skipped);
          if (back !== null) {
            step = back - 1;
            continue;
          }
        }
        const verdict = watch && !last.skipped ? await watch.observe(last, done, this.trainer.generator, this.runConfig, o.log) : null;
        if (verdict?.event && !replica) {
          const back = await recover({ kind: 'collapse', step: done, reason: verdict.reason }, done, verdict.reason);
          if (back !== null) {
            step = back - 1;
            continue;
          }
        }
        if ((checkpointEvery > 0 && done % checkpointEvery === 0) || done === steps) {
          const written = await this.save(done, replica);
          if (written) {
            checkpoint = written;
            if (!verdict?.collapsed && skippedInARow === 0) this.healthy = { dir: written, step: done };
            o.log?.info({ checkpoint }, `checkpoint at step ${done}`);
            // A replica's checkpoints are the coordinator's to keep or prune.
            if (!replica) await pruneCheckpoints(o.outDir, this.runConfig.train.keepCheckpoints, this.healthy ? [this.healthy.step] : []);
          }
        }
      }
    } finally {
      batches.close();
    }
    const seconds = (performance.now() - began) / 1000;
    return {
      startStep,
      endStep: Math.max(steps, startStep),
      stepsRun,
      seconds,
      imagesPerSecond: stepsRun > 0 ? (stepsRun * this.runConfig.data.batchSize) / seconds : 0,
      phaseSeconds: meanPhases(phaseTotals, stepsRun),
      cpuSeconds: Number((processCpuSeconds() - cpuBefore).toFixed(2)),
      last,
      checkpoint,
      resumedFrom: this.from,
    };
  }

  // Runs `step` on its batch from `batches`; the wait for the batch (about 0 when it was built ahead) is the step's data phase.
  private async stepOn(batches: BatchPrefetcher<BatchTensors>, step: number): Promise<{ result: StepResult; epoch: number }> {
    const asked = performance.now();
    const batch = batches.take(step);
    try {
      return { result: await this.trainer.stepOnTensors(batch, step, (performance.now() - asked) / 1000), epoch: batch.epoch };
    } finally {
      disposeBatchTensors(batch);
    }
  }

  /** Frees the networks, the optimizers and the commit. */
  dispose(): void {
    this.state.dispose();
    disposeTrainer(this.trainer);
  }

  // Saves (or hands the replica) the checkpoint of `done` steps; only finite weights are ever written, merged or published.
  private async save(done: number, replica: Replica | undefined): Promise<string | null> {
    const networks = { generator: this.trainer.generator, discriminator: this.trainer.discriminator };
    const bad = nonFiniteWeight(networks);
    if (bad) throw new NonFiniteTrainingError(`the weights are not finite at step ${done} (${bad}): no checkpoint is written`);
    const optimizers = await this.trainer.optimizerStates();
    try {
      const content = { step: done, config: this.runConfig, manifestHash: this.o.manifestHash, networks, optimizers };
      return await (replica ? replica.checkpoint(content) : saveCheckpoint(this.o.outDir, content));
    } finally {
      disposeStates(optimizers);
    }
  }

  // The recovery policy's answer to a fault of a single-process run, carried out; resolves with the step to go on from after a rollback.
  private async recover(fault: Fault, done: number, reason: string, monitor: TrainingMonitor | undefined): Promise<number | null> {
    const { o } = this;
    const healthy = this.healthy;
    const decision = decideRecovery(fault, { config: this.runConfig, optimizer: this.runConfig.optimizer, rollbacks: this.rollbacks, healthyStep: healthy?.step ?? null });
    if (decision.action === 'warn') o.log?.warn({ step: done }, decision.reason);
    if (decision.action === 'stop') throw fault.kind === 'nonfinite' ? new NonFiniteTrainingError(decision.reason) : new RunStoppedError(decision.reason);
    if (decision.action !== 'rollback' || !healthy) return null;
    this.rollbacks++;
    const started = performance.now();
    const config = { ...this.runConfig, optimizer: decision.optimizer };
    const saved = await loadCheckpoint(healthy.dir);
    try {
      await this.replaceTrainer(trainerFor(config, saved.networks, SINGLE_PROCESS), saved.step, saved.optimizers);
    } finally {
      disposeStates(saved.optimizers);
    }
    this.runConfig = config;
    const { lrG, lrD } = config.optimizer;
    const rollback: Rollback = { fromStep: done, toStep: saved.step, checkpoint: saved.dir, lrG, lrD, reason };
    o.log?.warn(rollback, decision.reason);
    o.recoveryMetrics?.recovered(fault.kind === 'nonfinite' ? 'nonfinite' : 'rollback', (performance.now() - started) / 1000, done - saved.step);
    await monitor?.onRollback?.(rollback);
    return saved.step;
  }

  // Hands training to `next` (on the same networks, or a checkpoint's), with the current
  // optimizer states or `optimizers`, committed as `steps`; the old trainer goes.
  private async replaceTrainer(next: Trainer, steps: number, optimizers?: OptimizerStates): Promise<void> {
    const states = optimizers ?? (await this.trainer.optimizerStates());
    try {
      await next.loadOptimizerStates(states);
    } finally {
      if (!optimizers) disposeStates(states);
    }
    const old = this.trainer;
    this.state.dispose();
    this.trainer = next;
    this.state = new TrainingState(next);
    await this.state.commit(steps);
    old.dispose();
    // A trainer on a checkpoint's networks leaves the old networks behind.
    if (next.generator !== old.generator) old.generator.dispose();
    if (next.discriminator !== old.discriminator) old.discriminator.dispose();
  }
}

// Makes this process's D gradient NaN before it is reduced at the given steps, as a failing GPU or an overflow would.
function withInjectedNaN(parallel: DataParallel, steps: ReadonlySet<number> | undefined): DataParallel {
  if (!steps || steps.size === 0) return parallel;
  return {
    ...parallel,
    reduce: (flat, phase, step) => {
      if (phase === 'D' && steps.has(step)) flat.fill(Number.NaN);
      return parallel.reduce(flat, phase, step);
    },
  };
}

interface StartingPoint {
  networks: Networks;
  optimizers: OptimizerStates | null;
  step: number;
  from: string | null;
}

async function startingPoint(o: SessionOptions): Promise<StartingPoint> {
  const { config, outDir, log } = o;
  const existing = await latestCheckpoint(outDir);
  if (existing && !o.resume) {
    throw new CheckpointError(`${outDir} already holds a run (latest checkpoint ${existing}); resume it, or train into another folder`);
  }
  if (!existing) {
    if (o.resume) log?.warn({ outDir }, 'no checkpoint to resume from; starting a new run');
    const size = config.data.imageSize;
    const generator = buildGenerator(config.generator, size, config.train.seed);
    const started = Date.now();
    if (fitGeneratorPrior(generator, config.generator, o.set)) {
      log?.info({ components: config.generator.prior, faces: o.set.count, ms: Date.now() - started }, 'fitted the face prior to the train split');
    }
    return {
      networks: { generator, discriminator: buildDiscriminator(config.discriminator, size, config.train.seed) },
      optimizers: null,
      step: 0,
      from: null,
    };
  }
  const saved = await loadCheckpoint(existing);
  const refuse = (reason: string): never => {
    saved.networks.generator.dispose();
    saved.networks.discriminator.dispose();
    disposeStates(saved.optimizers);
    throw new CheckpointError(`cannot resume from ${saved.dir}: ${reason}`);
  };
  if (saved.manifestHash !== o.manifestHash) {
    refuse(`it was trained on dataset manifest ${saved.manifestHash}, this dataset's is ${o.manifestHash}`);
  }
  const changes = compareForResume(saved.config, config);
  if (changes.architecture.length > 0) refuse(`the model architecture differs (${describeChanges(changes.architecture)})`);
  if (changes.other.length > 0) {
    log?.warn({ changes: changes.other }, `resuming with changed settings: ${describeChanges(changes.other)}`);
  }
  return { networks: saved.networks, optimizers: saved.optimizers, step: saved.step, from: saved.dir };
}

function disposeTrainer(trainer: Trainer): void {
  trainer.dispose();
  trainer.generator.dispose();
  trainer.discriminator.dispose();
}

function disposeStates(states: OptimizerStates): void {
  for (const { tensor } of [...states.generator, ...states.discriminator]) tensor.dispose();
}

function stepLog(r: StepResult, batchSize: number): Record<string, number | null> {
  return {
    dLossReal: r.dLossReal,
    dLossFake: r.dLossFake,
    gAdversarial: r.gAdversarialLoss,
    gL2: r.gL2Loss,
    dScoreReal: r.dScoreReal,
    dScoreFake: r.dScoreFake,
    imagesPerSecond: batchSize / r.seconds.total,
  };
}

function meanPhases(totals: StepSeconds, steps: number): StepSeconds {
  const mean = stepSecondsFrom();
  for (const phase of STEP_PHASES) mean[phase] = steps > 0 ? Number((totals[phase] / steps).toFixed(4)) : 0;
  return mean;
}
