import type * as tf from '@tensorflow/tfjs';
import type { NamedTensor } from './flat-gradients';

/**
 * The training step's contract: the data-parallel hook (the reducer), the networks and
 * optimizer state it works on, and what one step reports.
 */

/**
 * Sums one phase's flat gradient, already weighted by this rank's share of the global batch,
 * with the other ranks' (e.g. a ring all-reduce), and resolves with the gradient every rank
 * then applies: the global batch's mean gradient. Single-process training uses the identity.
 * The returned array may be the argument, updated in place.
 */
export type GradientReducer = (flat: Float32Array, phase: 'D' | 'G', step: number) => Promise<Float32Array>;

/** The generator and discriminator a trainer updates. */
export interface Networks {
  generator: tf.LayersModel;
  discriminator: tf.LayersModel;
}

/** Both Adam optimizers' state (`optimizer.getWeights()`: iterations, then first and second moments). */
export interface OptimizerStates {
  generator: NamedTensor[];
  discriminator: NamedTensor[];
}

/** A step's phases and its total, as {@link StepSeconds} names them. */
export const STEP_PHASES = ['data', 'dCompute', 'dReduce', 'gCompute', 'gReduce', 'apply', 'total'] as const;

/** Wall-clock seconds of each phase of a step. */
export interface StepSeconds {
  /** Getting the batch ready: its arrays to tensors, or the wait for a prefetched batch (and building it when none was). */
  data: number;
  dCompute: number;
  dReduce: number;
  gCompute: number;
  gReduce: number;
  /** Both optimizers' updates. */
  apply: number;
  total: number;
}

/** A step's seconds before its phases are timed: `data` as given, every other phase 0. */
export function stepSecondsFrom(data = 0): StepSeconds {
  return { data, dCompute: 0, dReduce: 0, gCompute: 0, gReduce: 0, apply: 0, total: 0 };
}

/**
 * What one training step measured. D fields are null when D is not trained (`loss.mode`
 * 'l2'). Losses and scores are this rank's (its share of the batch); gradient norms are of
 * the reduced gradient every rank applied.
 */
export interface StepResult {
  /** The 0-based step just run. */
  step: number;
  /** Mean BCE of D on the real batch. */
  dLossReal: number | null;
  /** Mean BCE of D on the fake batch. */
  dLossFake: number | null;
  /** G's adversarial loss (unweighted), null in 'l2' mode. */
  gAdversarialLoss: number | null;
  /** G's L2 loss (unweighted), computed in every mode. */
  gL2Loss: number;
  /** The weighted loss G minimised. */
  gLoss: number;
  /** Mean sigmoid(D) on the real batch, before D's update. */
  dScoreReal: number | null;
  /** Mean sigmoid(D) on the fake batch, before D's update. */
  dScoreFake: number | null;
  /** L2 norm of the (reduced) gradient applied to G. */
  gGradNorm: number;
  /** L2 norm of the (reduced) gradient applied to D. */
  dGradNorm: number | null;
  /**
   * Null when the step's updates were applied; else what was not finite (a reduced gradient,
   * naming this rank's loss when that was the cause), and the step changed nothing. G fields
   * are NaN when a bad D gradient skipped G's phase.
   */
  skipped: string | null;
  seconds: StepSeconds;
}

/** D's flat gradient on one batch and the statistics of the pass that produced it. */
export interface DiscriminatorGradients {
  flat: Float32Array;
  lossReal: number;
  lossFake: number;
  scoreReal: number;
  scoreFake: number;
}

/** G's flat gradient on one batch and its loss terms. */
export interface GeneratorGradients {
  flat: Float32Array;
  adversarial: number | null;
  l2: number;
  total: number;
}

/** What the validation probe measured: the generator's restorations of a fixed held-out batch. */
export interface ProbeResult {
  /** Mean pairwise distance of the generated holes over that of the real ones (~0: every output alike). */
  diversityRatio: number;
  holePsnrDb: number;
  ssim: number;
}
