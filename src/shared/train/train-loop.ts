import type { RunConfig } from '../config';
import type { FaceSet } from '../data/api';
import { loadSplit } from '../data/dataset';
import { manifestHash } from '../data/manifest';
import { CheckpointError, ConfigInvalidError, NonFiniteTrainingError, RunStoppedError } from '../errors';
import type { Logger } from '../log';
import { buildDiscriminator, buildGenerator } from '../model';
import type { RecoveryMetrics } from '../metrics/recovery-metrics';
import { CollapseWatch, type Rollback, type TrainingMonitor } from '../monitor/collapse-watch';
import { makeBatch } from './batch';
import { type CheckpointContent, latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint';
import { EpochPlan, type StepSamples } from './epoch-plan';
import { ShardPlan } from './shard-plan';
import { compareForResume, describeChanges } from './resume-compatibility';
import type { GradientReducer, Networks, OptimizerStates, StepResult } from './api';
import { type DataParallel, SINGLE_PROCESS, Trainer } from './trainer';
import { TrainingState } from './training-state';
import { pruneCheckpoints } from './checkpoint-retention';
import { nonFiniteWeight } from './replica-weights';
import { decideRecovery, type Fault } from '../recovery/recovery-policy';

export type { Rollback, TrainingMonitor };

/** What {@link runTraining} needs. */
export interface TrainingOptions {
  config: RunConfig;
  /** An ingested dataset folder (its train split is loaded). */
  dataDir: string;
  /** The run folder: checkpoints go to `<outDir>/checkpoints/`. */
  outDir: string;
  /** Continue from the run folder's latest checkpoint (a new run when there is none). */
  resume: boolean;
  /** Called after every step with its epoch; the next step waits for it, and a throw ends the run. */
  onStep?: (result: StepResult, epoch: number) => void | Promise<void>;
  /** Data-parallel replicas: this process is one rank of a ring (see {@link Replica}). */
  replica?: Replica;
  /** Watch the run for mode collapse and act on `config.monitor.collapseAction` (see {@link TrainingMonitor}). */
  monitor?: TrainingMonitor;
  /** Where the run's recoveries and skipped non-finite steps are exported. */
  recoveryMetrics?: RecoveryMetrics;
  /** Fault injection for tests and chaos runs: this process's D gradient is NaN at these 0-based steps. */
  nanGradientSteps?: ReadonlySet<number>;
  log?: Logger;
}

/**
 * What makes a training run one replica of a synchronous data-parallel run: it takes its rank's
 * slice of every global batch (ShardPlan), reduces gradients with `reduce`, starts from the
 * same weights as the other ranks, and saves checkpoints the replica's way.
 */
export interface Replica {
  rank: number;
  worldSize: number;
  reduce: GradientReducer;
  /** Makes every rank's weights equal before the first step (e.g. a broadcast from rank 0). */
  synchronize(networks: Networks, step: number): Promise<void>;
  /**
   * Takes over a checkpoint at a checkpoint step (e.g. average the statistics, report the
   * weights' hash, save and upload on rank 0); resolves with the directory written, if any.
   */
  checkpoint(content: CheckpointContent): Promise<string | null>;
}

/** {@link TrainingOptions} with the train split already in memory instead of a dataset folder. */
export interface FaceSetTrainingOptions extends Omit<TrainingOptions, 'dataDir'> {
  set: FaceSet;
  /** Hash of the dataset's manifest, recorded in checkpoints and checked on resume. */
  manifestHash: string;
}

/** How a training run went. */
export interface TrainingSummary {
  /** Step the run started from (0, or the resumed checkpoint's step). */
  startStep: number;
  /** Completed steps at the end (`train.steps` unless the checkpoint was already past it). */
  endStep: number;
  stepsRun: number;
  seconds: number;
  /** Global-batch images per second over the steps run. */
  imagesPerSecond: number;
  /** The last step's result, null when no step ran. */
  last: StepResult | null;
  /** The newest checkpoint directory, null when none was written or found. */
  checkpoint: string | null;
  /** The checkpoint the run resumed from, or null. */
  resumedFrom: string | null;
}

/** Trains on the train split of the dataset in `dataDir`; see {@link trainOnFaceSet}. */
export async function runTraining(options: TrainingOptions): Promise<TrainingSummary> {
  const { dataDir, ...rest } = options;
  const set = await loadSplit(dataDir, 'train');
  return trainOnFaceSet({ ...rest, set, manifestHash: await manifestHash(dataDir) });
}

/**
 * Trains a GAN for `config.train.steps` steps (from scratch, or from the run folder's latest
 * checkpoint with `resume`), checkpointing every `train.checkpointEvery` steps and at the end.
 * Refuses to start a new run over an existing one, and to resume on another dataset or
 * with another architecture. Every completed step is committed in memory; a step skipped for a
 * non-finite value is undone from that commit, and a streak of them, like a collapse, goes to
 * the recovery policy (a replica leaves both to the coordinator, which sees every rank alike).
 */
export async function trainOnFaceSet(options: FaceSetTrainingOptions): Promise<TrainingSummary> {
  const { config, set, outDir, log } = options;
  if (set.size !== config.data.imageSize) {
    throw new ConfigInvalidError(
      `the dataset holds ${set.size}x${set.size} images but data.imageSize is ${config.data.imageSize}; ingest at ${config.data.imageSize} or set data.imageSize=${set.size}`,
    );
  }
  const { replica } = options;
  const plan = new EpochPlan(set.count, config);
  const shards = replica ? new ShardPlan(plan, replica.worldSize) : null;
  const samplesAt = (step: number): StepSamples => (shards && replica ? shards.at(step, replica.rank) : plan.at(step));
  const parallel = withInjectedNaN(shards && replica ? { reduce: replica.reduce, share: shards.weight(replica.rank) } : SINGLE_PROCESS, options.nanGradientSteps);
  const save = async (content: CheckpointContent) => {
    // Only finite weights are ever written, merged or published.
    const bad = nonFiniteWeight(content.networks);
    if (bad) throw new NonFiniteTrainingError(`the weights are not finite at step ${content.step} (${bad}): no checkpoint is written`);
    return replica ? replica.checkpoint(content) : saveCheckpoint(outDir, content);
  };
  const start = await startingPoint(options);
  let runConfig = config;
  let trainer = new Trainer(runConfig, start.networks, parallel);
  let state = new TrainingState(trainer);
  try {
    await replica?.synchronize(start.networks, start.step);
    if (start.optimizers) {
      await trainer.loadOptimizerStates(start.optimizers);
      disposeStates(start.optimizers);
    }
    await state.commit(start.step);
    const { steps, checkpointEvery, logEvery } = config.train;
    log?.info(
      { startStep: start.step, steps, images: plan.imageCount, stepsPerEpoch: plan.stepsPerEpoch, resumedFrom: start.from },
      start.from ? `resuming at step ${start.step} of ${steps}` : `training ${steps} steps`,
    );
    const watch = options.monitor ? new CollapseWatch(options.monitor, config) : null;
    const began = performance.now();
    let last: StepResult | null = null;
    let checkpoint = start.from;
    let stepsRun = 0;
    let rollbacks = 0;
    let skippedInARow = 0;
    // The newest checkpoint this run saved while the detector judged it healthy.
    let healthy: { dir: string; step: number } | null = null;
    // Carries out the policy's answer to a fault of a single-process run; resolves with the step to go on from, if it rolled back.
    const recover = async (fault: Fault, done: number, reason: string): Promise<number | null> => {
      const decision = decideRecovery(fault, { config: runConfig, optimizer: runConfig.optimizer, rollbacks, healthyStep: healthy?.step ?? null });
      if (decision.action === 'warn') log?.warn({ step: done }, decision.reason);
      if (decision.action === 'stop') throw fault.kind === 'nonfinite' ? new NonFiniteTrainingError(decision.reason) : new RunStoppedError(decision.reason);
      if (decision.action !== 'rollback' || !healthy) return null;
      rollbacks++;
      const recoveryStarted = performance.now();
      state.dispose();
      const back = await rollBack(trainer, healthy.dir, { ...runConfig, optimizer: decision.optimizer });
      [trainer, runConfig] = [back.trainer, back.config];
      state = new TrainingState(trainer);
      await state.commit(back.step);
      watch?.reset();
      skippedInARow = 0;
      const { lrG, lrD } = runConfig.optimizer;
      const rollback: Rollback = { fromStep: done, toStep: back.step, checkpoint: back.dir, lrG, lrD, reason };
      log?.warn(rollback, decision.reason);
      options.recoveryMetrics?.recovered(fault.kind === 'nonfinite' ? 'nonfinite' : 'rollback', (performance.now() - recoveryStarted) / 1000, done - back.step);
      await options.monitor?.onRollback?.(rollback);
      return back.step;
    };
    for (let step = start.step; step < steps; step++) {
      // A step's awaits can all resolve as microtasks (wasm, cpu): yield so that timers and
      // I/O (logs, sockets, heartbeats) run between steps instead of after the run.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const { epoch, ids } = samplesAt(step);
      last = await trainer.step(makeBatch(set, ids, runConfig, epoch), step);
      stepsRun++;
      const done = step + 1;
      if (last.skipped) {
        skippedInARow++;
        options.recoveryMetrics?.skippedSteps();
        await state.restore();
        log?.warn({ step: done, inARow: skippedInARow }, `step ${done} skipped: ${last.skipped}`);
      } else {
        skippedInARow = 0;
        await state.commit(done);
      }
      await options.onStep?.(last, epoch);
      if (!last.skipped && done % logEvery === 0) log?.info(stepLog(last, shards?.samples(replica?.rank ?? 0) ?? config.data.batchSize), `step ${done}/${steps}`);
      if (last.skipped && !replica) {
        const back = await recover({ kind: 'nonfinite', step: done, streak: skippedInARow, what: last.skipped }, done, last.skipped);
        if (back !== null) {
          step = back - 1;
          continue;
        }
      }
      const verdict = watch && !last.skipped ? await watch.observe(last, done, trainer.generator, runConfig, log) : null;
      if (verdict?.event && !replica) {
        const back = await recover({ kind: 'collapse', step: done, reason: verdict.reason }, done, verdict.reason);
        if (back !== null) {
          step = back - 1;
          continue;
        }
      }
      if ((checkpointEvery > 0 && done % checkpointEvery === 0) || done === steps) {
        const optimizers = await trainer.optimizerStates();
        try {
          const networks = { generator: trainer.generator, discriminator: trainer.discriminator };
          const written = await save({ step: done, config: runConfig, manifestHash: options.manifestHash, networks, optimizers });
          if (written) {
            checkpoint = written;
            if (!verdict?.collapsed && skippedInARow === 0) healthy = { dir: written, step: done };
            log?.info({ checkpoint }, `checkpoint at step ${done}`);
            // A replica's checkpoints are the coordinator's to keep or prune.
            if (!replica) await pruneCheckpoints(outDir, config.train.keepCheckpoints, healthy ? [healthy.step] : []);
          }
        } finally {
          disposeStates(optimizers);
        }
      }
    }
    const seconds = (performance.now() - began) / 1000;
    return {
      startStep: start.step,
      endStep: Math.max(steps, start.step),
      stepsRun,
      seconds,
      imagesPerSecond: stepsRun > 0 ? (stepsRun * config.data.batchSize) / seconds : 0,
      last,
      checkpoint,
      resumedFrom: start.from,
    };
  } finally {
    state.dispose();
    disposeTrainer(trainer);
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

/**
 * Replaces `trainer` (disposed) by one on the checkpoint in `dir`, trained with `config` (the
 * rollback's lowered learning rates); resolves with it, its config and the checkpoint's step.
 * Single process only (no reducer): a replica's rollbacks are the coordinator's.
 */
async function rollBack(trainer: Trainer, dir: string, config: RunConfig): Promise<{ trainer: Trainer; config: RunConfig; step: number; dir: string }> {
  const saved = await loadCheckpoint(dir);
  // Adam takes its learning rate when built: a new trainer on the checkpoint's networks and optimizer state.
  const replacement = new Trainer(config, saved.networks);
  try {
    await replacement.loadOptimizerStates(saved.optimizers);
  } catch (err) {
    disposeTrainer(replacement);
    throw err;
  } finally {
    disposeStates(saved.optimizers);
  }
  disposeTrainer(trainer);
  return { trainer: replacement, config, step: saved.step, dir: saved.dir };
}

interface StartingPoint {
  networks: Networks;
  optimizers: OptimizerStates | null;
  step: number;
  from: string | null;
}

async function startingPoint(options: FaceSetTrainingOptions): Promise<StartingPoint> {
  const { config, outDir, log } = options;
  const existing = await latestCheckpoint(outDir);
  if (existing && !options.resume) {
    throw new CheckpointError(`${outDir} already holds a run (latest checkpoint ${existing}); resume it, or train into another folder`);
  }
  if (!existing) {
    if (options.resume) log?.warn({ outDir }, 'no checkpoint to resume from; starting a new run');
    const size = config.data.imageSize;
    return {
      networks: {
        generator: buildGenerator(config.generator, size, config.train.seed),
        discriminator: buildDiscriminator(config.discriminator, size, config.train.seed),
      },
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
  if (saved.manifestHash !== options.manifestHash) {
    refuse(`it was trained on dataset manifest ${saved.manifestHash}, this dataset's is ${options.manifestHash}`);
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
