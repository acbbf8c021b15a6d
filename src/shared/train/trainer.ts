import * as tf from '@tensorflow/tfjs';
import type { RunConfig } from '../config';
import { CheckpointError } from '../errors';
import { discriminatorLoss, generatorAdversarialLoss, generatorTotalLoss, l2Loss } from '../model/losses';
import { inpaint } from '../model/inpaint';
import { setDropoutSeeds } from '../model/seeded-dropout';
import { mixSeed } from '../util/rng';
import type { Batch } from './batch';
import { type BatchTensors, batchTensors, disposeBatchTensors } from './batch-tensors';
import {
  type DiscriminatorGradients,
  type GeneratorGradients,
  type GradientReducer,
  type Networks,
  type OptimizerStates,
  type StepResult,
  stepSecondsFrom,
} from './api';
import { flattenGradients, l2Norm, type NamedTensor, trainableVariables, unflattenGradients } from './flat-gradients';
import { labelTargets } from './label-targets';
import { learningRateFactor } from './learning-rate-schedule';

// The step's contract lives in api.ts; re-exported so callers of the trainer find it here too.
export type * from './api';

// Training-mode forward passes of a step, each with its own dropout masks.
const PASS = { generator: 1, dReal: 2, dFake: 3, dOnFakeForG: 4 } as const;
const DROPOUT_SALT = 0x0d509001;
const ADAM_EPSILON = 1e-7;

const now = (): number => performance.now() / 1000;

/** How a trainer takes part in data-parallel training: its reducer and its share of the global batch. */
export interface DataParallel {
  /** Sums the ranks' weighted gradients (see {@link GradientReducer}). */
  reduce: GradientReducer;
  /** This rank's samples over the global batch: its gradient's weight in the sum. */
  share: number;
}

/** A single process: the identity reducer, the whole batch. */
export const SINGLE_PROCESS: DataParallel = { reduce: async (flat) => flat, share: 1 };

/**
 * The synchronous data-parallel GAN step. Each phase computes its gradient as ONE flat
 * Float32Array, hands it to the reducer (identity here, an all-reduce mean across ranks
 * later), and applies the result with its own Adam, so every rank applies the same update:
 *
 * 1. D: G makes fakes (no gradient to G); D's gradient of 0.5 * (BCE on real + BCE on
 *    fake), on separate real and fake passes (isolated minibatches) or one mixed pass;
 *    reduce; apply. Skipped entirely in 'l2' mode.
 * 2. G: G's gradient of its loss against the UPDATED D (standard alternating updates);
 *    reduce; apply.
 *
 * All losses are means over samples, and labels and dropout masks are keyed by global
 * sample id, so (without batch norm or minibatch features, whose statistics are per
 * batch) the mean of the gradients of equal shards equals the full-batch gradient.
 * All randomness is derived from (train seed, step, sample id): a step is a pure function
 * of the weights, the optimizers' state, the batch and the step number, which is what
 * makes resuming from a checkpoint exact.
 *
 * A reduced gradient that holds a NaN or an infinity is not applied, and a D gradient that
 * does skips the G phase: the step is skipped ({@link StepResult.skipped}), the same way on
 * every rank, since every rank holds the same reduced gradient. A rank whose own loss is not
 * finite poisons its gradient, so the sum carries that to every rank too. The caller restores
 * the state before the step (D may have been updated before G's gradient went bad).
 */
export class Trainer {
  /** The generator being trained. */
  readonly generator: tf.LayersModel;
  /** The discriminator being trained. */
  readonly discriminator: tf.LayersModel;
  private readonly optimizerG: ScheduledAdam;
  private readonly optimizerD: ScheduledAdam;
  private readonly varsG: tf.Variable[];
  private readonly varsD: tf.Variable[];

  constructor(
    private readonly config: RunConfig,
    networks: Networks,
    protected parallel: DataParallel = SINGLE_PROCESS,
  ) {
    this.generator = networks.generator;
    this.discriminator = networks.discriminator;
    const { lrG, lrD, beta1, beta2 } = config.optimizer;
    this.optimizerG = new ScheduledAdam(lrG, beta1, beta2, ADAM_EPSILON);
    this.optimizerD = new ScheduledAdam(lrD, beta1, beta2, ADAM_EPSILON);
    this.varsG = trainableVariables(this.generator);
    this.varsD = trainableVariables(this.discriminator);
  }

  /** Takes part in another ring (a new generation: another reducer, another share of the batch). */
  useDataParallel(parallel: DataParallel): void {
    this.parallel = parallel;
  }

  /** Whether D is trained at all (not in the autoencoder's 'l2' mode). */
  get trainsDiscriminator(): boolean {
    return this.config.loss.mode !== 'l2';
  }

  /** Runs 0-based training step `step` on `batch` (this rank's share of the global batch); its data phase is making the batch's tensors. */
  async step(batch: Batch, step: number): Promise<StepResult> {
    const t0 = now();
    return withTensors(batch, (tensors) => this.stepOnTensors(tensors, step, now() - t0));
  }

  /**
   * Runs step `step` on a batch already on the backend, which the caller keeps and disposes.
   * `dataSeconds` is what getting it ready took (e.g. the wait for a prefetched batch): the
   * step's data phase, counted in its total.
   */
  async stepOnTensors(tensors: BatchTensors, step: number, dataSeconds = 0): Promise<StepResult> {
    const t0 = now();
    const factor = learningRateFactor(this.config, step);
    this.optimizerG.scaleLearningRate(factor);
    this.optimizerD.scaleLearningRate(factor);
    const seconds = stepSecondsFrom(dataSeconds);
    const timed = <T>(phase: PhaseOutcome<T>) => {
      seconds.apply += phase.applySeconds;
      return [phase.computeSeconds, phase.reduceSeconds] as const;
    };
    let d: PhaseOutcome<DiscriminatorGradients> | null = null;
    if (this.trainsDiscriminator) {
      d = await this.runPhase('D', step, () => this.dGradients(tensors, step), (c) => 0.5 * (c.lossReal + c.lossFake), (flat) => this.applyDiscriminatorGradients(flat));
      [seconds.dCompute, seconds.dReduce] = timed(d);
    }
    // A skipped D update skips G's phase on every rank alike: they all hold the same reduced D gradient.
    const g = d?.skipped ? null : await this.runPhase('G', step, () => this.gGradients(tensors, step), (c) => c.total, (flat) => this.applyGeneratorGradients(flat));
    if (g) [seconds.gCompute, seconds.gReduce] = timed(g);
    seconds.total = dataSeconds + (now() - t0);
    const dc = d?.computed;
    return {
      step,
      dLossReal: dc?.lossReal ?? null,
      dLossFake: dc?.lossFake ?? null,
      gAdversarialLoss: g?.computed.adversarial ?? null,
      gL2Loss: g?.computed.l2 ?? Number.NaN,
      gLoss: g?.computed.total ?? Number.NaN,
      dScoreReal: dc?.scoreReal ?? null,
      dScoreFake: dc?.scoreFake ?? null,
      gGradNorm: g?.norm ?? Number.NaN,
      dGradNorm: d?.norm ?? null,
      skipped: d?.skipped ?? g?.skipped ?? null,
      seconds,
    };
  }

  /** D's flat gradient (not reduced, not applied) on `batch` at step `step`. */
  async discriminatorGradients(batch: Batch, step: number): Promise<DiscriminatorGradients> {
    return withTensors(batch, (t) => this.dGradients(t, step));
  }

  /** G's flat gradient (not reduced, not applied) on `batch` at step `step`, against the current D. */
  async generatorGradients(batch: Batch, step: number): Promise<GeneratorGradients> {
    return withTensors(batch, (t) => this.gGradients(t, step));
  }

  /** Applies a flat D gradient with D's Adam. */
  applyDiscriminatorGradients(flat: Float32Array): void {
    applyFlat(this.optimizerD, flat, this.varsD, 'discriminator');
  }

  /** Applies a flat G gradient with G's Adam. */
  applyGeneratorGradients(flat: Float32Array): void {
    applyFlat(this.optimizerG, flat, this.varsG, 'generator');
  }

  /** Copies of both optimizers' state, for a checkpoint; the caller disposes the tensors. */
  async optimizerStates(): Promise<OptimizerStates> {
    const copy = async (opt: tf.AdamOptimizer): Promise<NamedTensor[]> => {
      const weights = await opt.getWeights();
      // getWeights returns the live moment variables plus a fresh iterations scalar.
      return weights.map(({ name, tensor }) => ({ name, tensor: tensor instanceof tf.Variable ? tf.clone(tensor) : tensor }));
    };
    return { generator: await copy(this.optimizerG), discriminator: await copy(this.optimizerD) };
  }

  /**
   * Restores both optimizers' state from a checkpoint. Call before the first step; the
   * caller keeps ownership of (and disposes) the given tensors.
   */
  async loadOptimizerStates(states: OptimizerStates): Promise<void> {
    await restoreAdam(this.optimizerG, states.generator, this.varsG, 'generator');
    await restoreAdam(this.optimizerD, states.discriminator, this.varsD, 'discriminator');
  }

  /** Releases the optimizers' state (the networks belong to the caller). */
  dispose(): void {
    this.optimizerG.dispose();
    this.optimizerD.dispose();
  }

  // One phase of the step: compute the flat gradient, weigh it by this rank's share, sum it
  // across ranks, and apply it unless the sum holds a non-finite value; timed.
  private async runPhase<T extends { flat: Float32Array }>(
    phase: 'D' | 'G',
    step: number,
    compute: () => Promise<T>,
    lossOf: (computed: T) => number,
    apply: (flat: Float32Array) => void,
  ): Promise<PhaseOutcome<T>> {
    const t0 = now();
    const computed = await compute();
    const { flat } = computed;
    const { share, reduce } = this.parallel;
    if (share !== 1) for (let i = 0; i < flat.length; i++) flat[i] *= share;
    const localLoss = lossOf(computed);
    if (!Number.isFinite(localLoss) && flat.length > 0) flat[0] = Number.NaN;
    const t1 = now();
    const reduced = await reduce(flat, phase, step);
    const t2 = now();
    // The norm is finite exactly when every value is (squares of float32 values cannot overflow a double).
    const norm = l2Norm(reduced);
    const network = phase === 'D' ? 'discriminator' : 'generator';
    let skipped: string | null = null;
    if (Number.isFinite(norm)) apply(reduced);
    else skipped = `the ${network} gradient is not finite${Number.isFinite(localLoss) ? '' : ` (this rank's ${network} loss is ${localLoss})`}`;
    return { computed, norm, skipped, computeSeconds: t1 - t0, reduceSeconds: t2 - t1, applySeconds: now() - t2 };
  }

  private rowSeeds(step: number, pass: number, ids: Int32Array): Uint32Array {
    const seed = this.config.train.seed;
    return Uint32Array.from(ids, (id) => mixSeed(seed, step, DROPOUT_SALT, pass, id));
  }

  private async dGradients(t: BatchTensors, step: number): Promise<DiscriminatorGradients> {
    const { loss } = this.config;
    const targets = labelTargets(loss, this.config.train.seed, step, t.ids);
    const seedsReal = this.rowSeeds(step, PASS.dReal, t.ids);
    const seedsFake = this.rowSeeds(step, PASS.dFake, t.ids);
    // G runs in training mode with the seeds of the G phase, so D learns from exactly the
    // fakes G's own update will then see (batch statistics, same dropout masks).
    const inputs = tf.tidy(() => {
      setDropoutSeeds(this.generator, this.rowSeeds(step, PASS.generator, t.ids));
      const fake = inpaint(this.generator, t.real, t.mask, true).composite;
      return { real: tf.concat([t.real, t.mask], 3), fake: tf.concat([fake, t.mask], 3) };
    });
    let stats: tf.Tensor[] = [];
    const D = this.discriminator;
    const pass = (x: tf.Tensor, seeds: Uint32Array): tf.Tensor => {
      setDropoutSeeds(D, seeds);
      return D.apply(x, { training: true }) as tf.Tensor;
    };
    try {
      const { value, grads } = tf.variableGrads(() => {
        let logitsReal: tf.Tensor;
        let logitsFake: tf.Tensor;
        if (loss.isolatedMinibatches) {
          logitsReal = pass(inputs.real, seedsReal);
          logitsFake = pass(inputs.fake, seedsFake);
        } else {
          const mixedSeeds = new Uint32Array(seedsReal.length * 2);
          mixedSeeds.set(seedsReal);
          mixedSeeds.set(seedsFake, seedsReal.length);
          [logitsReal, logitsFake] = tf.split(pass(tf.concat([inputs.real, inputs.fake], 0), mixedSeeds), 2, 0);
        }
        const lossReal = discriminatorLoss(logitsReal, tf.tensor1d(targets.real));
        const lossFake = discriminatorLoss(logitsFake, tf.tensor1d(targets.fake));
        stats = [lossReal, lossFake, tf.mean(tf.sigmoid(logitsReal)), tf.mean(tf.sigmoid(logitsFake))].map((s) => tf.keep(s));
        return tf.mul(tf.add(lossReal, lossFake), 0.5) as tf.Scalar;
      }, this.varsD);
      const flat = await flattenGradients(grads, this.varsD);
      tf.dispose([value, grads]);
      const [lossReal, lossFake, scoreReal, scoreFake] = await Promise.all(stats.map(async (s) => (await s.data())[0]));
      return { flat, lossReal, lossFake, scoreReal, scoreFake };
    } finally {
      tf.dispose([inputs.real, inputs.fake, ...stats]);
      setDropoutSeeds(this.generator, null);
      setDropoutSeeds(D, null);
    }
  }

  private async gGradients(t: BatchTensors, step: number): Promise<GeneratorGradients> {
    const { loss } = this.config;
    const kept: { l2?: tf.Tensor; adversarial?: tf.Tensor } = {};
    try {
      const { value, grads } = tf.variableGrads(() => {
        setDropoutSeeds(this.generator, this.rowSeeds(step, PASS.generator, t.ids));
        const { raw, composite } = inpaint(this.generator, t.real, t.mask, true);
        const l2 = l2Loss(raw, t.real, t.mask, loss.l2Region);
        let adversarial: tf.Scalar | null = null;
        if (loss.mode !== 'l2') {
          setDropoutSeeds(this.discriminator, this.rowSeeds(step, PASS.dOnFakeForG, t.ids));
          const logits = this.discriminator.apply(tf.concat([composite, t.mask], 3), { training: true }) as tf.Tensor;
          adversarial = generatorAdversarialLoss(logits, loss);
          kept.adversarial = tf.keep(adversarial);
        }
        kept.l2 = tf.keep(l2);
        return generatorTotalLoss(adversarial, l2, loss);
      }, this.varsG);
      const flat = await flattenGradients(grads, this.varsG);
      const total = (await value.data())[0];
      tf.dispose([value, grads]);
      const scalar = async (x: tf.Tensor | undefined): Promise<number | null> => (x === undefined ? null : (await x.data())[0]);
      return { flat, adversarial: await scalar(kept.adversarial), l2: (await scalar(kept.l2)) ?? Number.NaN, total };
    } finally {
      tf.dispose([kept.l2, kept.adversarial].filter((x): x is tf.Tensor => x !== undefined));
      setDropoutSeeds(this.generator, null);
      setDropoutSeeds(this.discriminator, null);
    }
  }
}

/** What one phase of a step computed, reduced and applied (or skipped), and how long each part took. */
interface PhaseOutcome<T> {
  computed: T;
  /** L2 norm of the reduced gradient. */
  norm: number;
  /** What was not finite, when the reduced gradient was not applied. */
  skipped: string | null;
  computeSeconds: number;
  reduceSeconds: number;
  applySeconds: number;
}

// Runs `fn` on the batch as tensors, disposing them however `fn` ends.
async function withTensors<T>(batch: Batch, fn: (tensors: BatchTensors) => Promise<T>): Promise<T> {
  const tensors = batchTensors(batch);
  try {
    return await fn(tensors);
  } finally {
    disposeBatchTensors(tensors);
  }
}

function applyFlat(optimizer: tf.Optimizer, flat: Float32Array, variables: tf.Variable[], network: string): void {
  const grads = unflattenGradients(flat, variables, network);
  try {
    optimizer.applyGradients(grads);
  } finally {
    tf.dispose(grads.map((g) => g.tensor));
  }
}

async function restoreAdam(optimizer: tf.AdamOptimizer, state: NamedTensor[], variables: tf.Variable[], network: string): Promise<void> {
  // Adam keeps [iterations, m_1..m_n, v_1..v_n]; n is 0 before its first update.
  const moments = state.length - 1;
  if (moments !== 0 && moments !== 2 * variables.length) {
    throw new CheckpointError(
      `${network} optimizer state holds ${moments} moment tensors; the model has ${variables.length} trainable weights (expected ${2 * variables.length})`,
    );
  }
  // setWeights makes new moment variables without freeing the ones it replaces (a restore
  // after training would leak them): they go once the new ones are in.
  const replaced = await optimizer.getWeights();
  const clones = state.map(({ name, tensor }) => ({ name, tensor: tf.clone(tensor) }));
  await optimizer.setWeights(clones);
  tf.dispose([...clones, ...replaced].map((c) => c.tensor));
}

// Adam whose rate a schedule scales step by step: tfjs's reads its rate at every update, but keeps it protected.
class ScheduledAdam extends tf.AdamOptimizer {
  private readonly baseRate: number;

  constructor(learningRate: number, beta1: number, beta2: number, epsilon: number) {
    super(learningRate, beta1, beta2, epsilon);
    this.baseRate = learningRate;
  }

  /** Updates from now on at the configured rate times `factor`. */
  scaleLearningRate(factor: number): void {
    this.learningRate = this.baseRate * factor;
  }
}
