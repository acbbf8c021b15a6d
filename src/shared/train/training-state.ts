import * as tf from '@tensorflow/tfjs';
import type { OptimizerStates } from './api';
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
