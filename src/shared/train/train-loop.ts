import type { RunConfig } from '../config';
import type { FaceSet } from '../data/api';
import { loadSplit } from '../data/dataset';
import { manifestHash } from '../data/manifest';
import { CheckpointError, ConfigInvalidError, RunStoppedError } from '../errors';
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
import { Trainer } from './trainer';

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
  /** Where the run's recoveries and skipped non-finite steps are exported (the loop reports none yet). */
  recoveryMetrics?: RecoveryMetrics;
  log?: Logger;
}

// Bounds a run that collapses again after every rollback (with rollbackLrFactor 1, a
// deterministic run would replay the same collapse forever).
const MAX_ROLLBACKS = 5;

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
 * with another architecture.
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
  const save = (content: CheckpointContent) => (replica ? replica.checkpoint(content) : saveCheckpoint(outDir, content));
  const start = await startingPoint(options);
  let runConfig = config;
  let trainer = new Trainer(runConfig, start.networks, replica?.reduce);
  try {
    await replica?.synchronize(start.networks, start.step);
    if (start.optimizers) {
      await trainer.loadOptimizerStates(start.optimizers);
      disposeStates(start.optimizers);
    }
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
    // The newest checkpoint this run saved while the detector judged it healthy.
    let healthy: string | null = null;
    for (let step = start.step; step < steps; step++) {
      // A step's awaits can all resolve as microtasks (wasm, cpu): yield so that timers and
      // I/O (logs, sockets, heartbeats) run between steps instead of after the run.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const { epoch, ids } = samplesAt(step);
      last = await trainer.step(makeBatch(set, ids, runConfig, epoch), step);
      stepsRun++;
      await options.onStep?.(last, epoch);
      const done = step + 1;
      if (done % logEvery === 0) log?.info(stepLog(last, shards?.perRankBatch ?? config.data.batchSize), `step ${done}/${steps}`);
      const verdict = watch ? await watch.observe(last, done, trainer.generator, runConfig, log) : null;
      if (verdict?.event && !replica) {
        const action = config.monitor.collapseAction;
        log?.warn({ step: done, score: verdict.score, diversityRatio: verdict.diversityRatio, action }, `mode collapse at step ${done}: ${verdict.reason}`);
        const stop = (why: string) => new RunStoppedError(`mode collapse at step ${done}: ${verdict.reason}; ${why}`);
        if (action === 'stop') throw stop(`stopped (monitor.collapseAction is 'stop')`);
        if (action === 'rollback') {
          if (!healthy) throw stop(`monitor.collapseAction is 'rollback' but this run saved no checkpoint while healthy, so it stops`);
          if (rollbacks === MAX_ROLLBACKS) throw stop(`stopped after ${MAX_ROLLBACKS} rollbacks (monitor.collapseAction is 'rollback')`);
          rollbacks++;
          const back = await rollBack(trainer, healthy, runConfig);
          [trainer, runConfig] = [back.trainer, back.config];
          watch?.reset();
          const rollback: Rollback = { fromStep: done, toStep: back.step, checkpoint: back.dir, lrD: runConfig.optimizer.lrD, reason: verdict.reason };
          log?.warn(rollback, `rolled back from step ${done} to the healthy checkpoint of step ${back.step}; discriminator learning rate now ${rollback.lrD}`);
          await options.monitor?.onRollback?.(rollback);
          step = back.step - 1;
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
            if (!verdict?.collapsed) healthy = written;
            log?.info({ checkpoint }, `checkpoint at step ${done}`);
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
    disposeTrainer(trainer);
  }
}

/**
 * Replaces `trainer` (disposed) by one on the checkpoint in `dir` whose D learns at `rollbackLrFactor`
 * times the rate of `config`; resolves with it, its config and the checkpoint's step. Single
 * process only (no reducer): a replica never rolls back.
 */
async function rollBack(trainer: Trainer, dir: string, config: RunConfig): Promise<{ trainer: Trainer; config: RunConfig; step: number; dir: string }> {
  const lrD = config.optimizer.lrD * config.monitor.rollbackLrFactor;
  const slower: RunConfig = { ...config, optimizer: { ...config.optimizer, lrD } };
  const saved = await loadCheckpoint(dir);
  // Adam takes its learning rate when built: a new trainer on the checkpoint's networks and optimizer state.
  const replacement = new Trainer(slower, saved.networks);
  try {
    await replacement.loadOptimizerStates(saved.optimizers);
  } catch (err) {
    disposeTrainer(replacement);
    throw err;
  } finally {
    disposeStates(saved.optimizers);
  }
  disposeTrainer(trainer);
  return { trainer: replacement, config: slower, step: saved.step, dir: saved.dir };
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
