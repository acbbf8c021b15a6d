import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng';
import { nameSeed } from './name-seed';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Kwargs = Parameters<tf.layers.Layer['call']>[1];

/** Constructor arguments of {@link SeededDropout}. */
export interface SeededDropoutArgs extends LayerArgs {
  /** Fraction of units dropped while training, in [0, 1). */
  rate: number;
}

/**
 * A dropout layer whose masks are reproducible and independent of how a batch is split.
 *
 * tfjs's Dropout draws from an unseeded generator, so a resumed run cannot replay the masks
 * of the run it continues; a fixed seed would instead repeat one mask every step. Here the
 * trainer hands the layer one seed per batch row before each training-mode forward pass
 * ({@link setDropoutSeeds}), derived from (run seed, step, pass, GLOBAL sample id). Row r's
 * mask is drawn from `Rng(mix(rowSeeds[r], hash(layer name)))`, so:
 * - resuming at step k redraws exactly the masks the uninterrupted run would have drawn;
 * - a sample gets the same mask whichever rank and batch position it lands on, so averaging
 *   the gradients of two half batches equals the full-batch gradient, dropout included;
 * - layers with different names draw different masks from the same row seeds.
 * In inference mode the layer is the identity; training mode without seeds is an error,
 * because silently falling back to unseeded randomness would break exact resume.
 */
export class SeededDropout extends tf.layers.Layer {
  /** Name under which tfjs serializes the layer. */
  static readonly className = 'SeededDropout';
  /** Fraction of units dropped while training. */
  readonly rate: number;
  private rowSeeds: Uint32Array | null = null;

  constructor(args: SeededDropoutArgs) {
    super(args);
    if (!(args.rate >= 0 && args.rate < 1)) throw new RangeError(`SeededDropout rate must be in [0, 1), got ${args.rate}`);
    this.rate = args.rate;
  }

  /** Sets the per-row seeds used by the next training-mode passes (null to clear). */
  setRowSeeds(rowSeeds: Uint32Array | null): void {
    this.rowSeeds = rowSeeds;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (kwargs.training !== true || this.rate === 0) return x;
    const rows = x.shape[0] ?? 0;
    const seeds = this.rowSeeds;
    if (seeds === null || seeds.length !== rows) {
      throw new Error(
        `SeededDropout '${this.name}' is training on ${rows} rows but has ${seeds?.length ?? 'no'} row seeds; call setDropoutSeeds first`,
      );
    }
    return tf.tidy(() => tf.mul(x, tf.tensor(this.mask(seeds, x.size / Math.max(rows, 1)), x.shape)));
  }

  /** Builds the scaled keep mask (inverted dropout: kept units are divided by 1 - rate). */
  private mask(seeds: Uint32Array, perRow: number): Float32Array {
    const out = new Float32Array(seeds.length * perRow);
    const keep = 1 / (1 - this.rate);
    for (let r = 0; r < seeds.length; r++) {
      const rng = new Rng(nameSeed(seeds[r], this.name));
      const base = r * perRow;
      for (let i = 0; i < perRow; i++) out[base + i] = rng.next() < this.rate ? 0 : keep;
    }
    return out;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}
tf.serialization.registerClass(SeededDropout);

/** Hands every {@link SeededDropout} layer of a model the per-row seeds of its next training passes. */
export function setDropoutSeeds(model: tf.LayersModel, rowSeeds: Uint32Array | null): void {
  for (const layer of model.layers) {
    if (layer instanceof SeededDropout) layer.setRowSeeds(rowSeeds);
  }
}
