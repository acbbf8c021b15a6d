import * as tf from '@tensorflow/tfjs';
import type { OptimizerStates } from './api';
import { type NamedTensor, parameterCount, trainableVariables } from './flat-gradients';
import { weightVariables } from './replica-weights';
import type { Trainer } from './trainer';

/**
 * The last committed state of a trainer, kept in memory (Horovod elastic's `State.commit()` /
 * `restore()`): every weight of both networks, batch-norm statistics included, and both Adam
 * states, as copies on the tensor backend's device, with the number of steps they stand for.
 * The loop commits after every step that completed, and restores when a step is skipped for a
 * non-finite value or interrupted by a lost peer, so a step that fails half-way (D updated, G
 * not) leaves no trace.
 */
export class TrainingState {
  private weights: tf.Tensor[] = [];
  private optimizers: OptimizerStates | null = null;
  private committed = -1;

  constructor(private readonly trainer: Trainer) {}

  /** Steps completed in the committed state; -1 before the first commit. */
  get step(): number {
    return this.committed;
  }

  /** Snapshots the trainer's state as the state after `steps` completed steps. */
  async commit(steps: number): Promise<void> {
    const weights = weightVariables(this.trainer, 'all').map((v) => tf.clone(v.read()));
    const optimizers = await this.trainer.optimizerStates();
    this.release();
    [this.weights, this.optimizers, this.committed] = [weights, optimizers, steps];
  }

  /** Puts the committed state back into the trainer; resolves with its step count. */
  async restore(): Promise<number> {
    if (this.optimizers === null) throw new RangeError('restore before the first commit');
    weightVariables(this.trainer, 'all').forEach((v, i) => {
      // The variable takes the copy's data; the copy's own handle can go at once.
      const copy = tf.clone(this.weights[i]);
      v.write(copy);
      copy.dispose();
    });
    await this.trainer.loadOptimizerStates(this.optimizers);
    return this.committed;
  }

  /** Frees the committed copies. */
  dispose(): void {
    this.release();
    this.committed = -1;
  }

  private release(): void {
    tf.dispose(this.weights);
    if (this.optimizers) tf.dispose([...this.optimizers.generator, ...this.optimizers.discriminator].map((n) => n.tensor));
    this.weights = [];
    this.optimizers = null;
  }
}

// The flat form's header: three counts (steps, G's and D's Adam iterations), each as two
// float32 halves of 16 bits, exact whatever the count.
const COUNTS = 3;
const HEADER = 2 * COUNTS;
const HALF = 0x10000;

/** Length of the flat training state of `trainer`'s architecture (see {@link encodeTrainingState}). */
export function trainingStateLength(trainer: Trainer): number {
  const weights = weightVariables(trainer, 'all').reduce((n, v) => n + v.read().size, 0);
  return HEADER + weights + 2 * (parameterCount(trainableVariables(trainer.generator)) + parameterCount(trainableVariables(trainer.discriminator)));
}

/**
 * The trainer's whole live state as one Float32Array, for the broadcast that starts a ring:
 * the step count and both Adam iteration counts, every weight (as {@link weightVariables}
 * orders them), then G's and D's Adam moments (first, then second, in trainable-weight order;
 * zeros before Adam's first update, which is what Adam starts from). The layout depends only
 * on the architecture, so a rank that never trained can receive it.
 */
export async function encodeTrainingState(trainer: Trainer, steps: number): Promise<Float32Array> {
  const flat = new Float32Array(trainingStateLength(trainer));
  const states = await trainer.optimizerStates();
  try {
    const counts = [steps, ...[states.generator, states.discriminator].map((s) => s[0].tensor.dataSync()[0])];
    counts.forEach((n, i) => flat.set([Math.floor(n / HALF), n % HALF], 2 * i));
    let offset = HEADER;
    for (const v of weightVariables(trainer, 'all')) {
      const values = v.read().dataSync();
      flat.set(values, offset);
      offset += values.length;
    }
    // Moments absent (no update yet) stay zero, and take the room of the trainable weights.
    for (const slots of [states.generator, states.discriminator]) {
      for (const { tensor } of slots.slice(1)) {
        flat.set(tensor.dataSync(), offset);
        offset += tensor.size;
      }
    }
  } finally {
    tf.dispose([...states.generator, ...states.discriminator].map((s) => s.tensor));
  }
  return flat;
}

/** Loads a state made by {@link encodeTrainingState} (same architecture) into `trainer`; resolves with its step count. */
export async function decodeTrainingState(trainer: Trainer, flat: Float32Array): Promise<number> {
  const expected = trainingStateLength(trainer);
  if (flat.length !== expected) throw new RangeError(`a training state of ${flat.length} values for a model that needs ${expected}`);
  const counts = Array.from({ length: COUNTS }, (_, i) => flat[2 * i] * HALF + flat[2 * i + 1]);
  let offset = HEADER;
  for (const v of weightVariables(trainer, 'all')) {
    const size = v.read().size;
    const value = tf.tensor(flat.subarray(offset, offset + size), v.read().shape, 'float32');
    v.write(value);
    value.dispose();
    offset += size;
  }
  const slots = (model: tf.LayersModel, iterations: number): NamedTensor[] => {
    const vars = trainableVariables(model);
    const moments = (suffix: string) =>
      vars.map((v) => {
        const tensor = tf.tensor(flat.subarray(offset, offset + v.size), v.shape, 'float32');
        offset += v.size;
        return { name: `${v.name}/${suffix}`, tensor };
      });
    return [{ name: 'iter', tensor: tf.scalar(iterations, 'int32') }, ...moments('m'), ...moments('v')];
  };
  const states = { generator: slots(trainer.generator, counts[1]), discriminator: slots(trainer.discriminator, counts[2]) };
  try {
    await trainer.loadOptimizerStates(states);
  } finally {
    tf.dispose([...states.generator, ...states.discriminator].map((s) => s.tensor));
  }
  return counts[0];
}
