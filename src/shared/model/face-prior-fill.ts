import * as tf from '@tensorflow/tfjs';
import { ConditionalFaces, type FacePrior } from './face-prior';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

/** Constructor arguments of {@link FacePriorFill}. */
export interface FacePriorFillArgs extends LayerArgs {
  /** Side of the pooled face the prior models; it divides the image side. */
  side: number;
  components: number;
}

// The fill joins the generator as a pre-tanh value; clipping keeps atanh finite.
const CLIP = 0.99;

/**
 * The face prior's fill of each hole ({@link conditionalFace}), as a layer: input
 * [b, S, S, 2] (the image in [-1, 1] with the hole at 0, and the mask, 1 = hole), output
 * [b, S, S, 1], the most likely face given the visible pixels, resized up from the prior's
 * side and given as atanh of itself, so that adding it before the generator's tanh gives
 * the fill back. The prior is held as non-trainable weights, so checkpoints carry it; it
 * starts empty (the mean face, 0) and {@link installFacePrior} sets it.
 *
 * The solve runs in JS (tfjs has no batched linear solver), so each call reads the pooled
 * batch back from the backend: one sync per forward pass. A mask not seen lately costs about
 * k²·min(hidden, visible)/2 multiply-adds to factor; one seen lately, about 2·k·side².
 */
export class FacePriorFill extends tf.layers.Layer {
  /** Name under which tfjs serializes the layer. */
  static readonly className = 'FacePriorFill';
  readonly side: number;
  readonly components: number;
  private mean: tf.LayerVariable | null = null;
  private basis: tf.LayerVariable | null = null;
  private precision: tf.LayerVariable | null = null;
  private solver: ConditionalFaces | null = null;
  private source: object[] = [];

  constructor(args: FacePriorFillArgs) {
    super({ ...args, trainable: false });
    this.side = args.side;
    this.components = args.components;
  }

  override build(): void {
    const n = this.side * this.side;
    this.mean = this.addWeight('mean', [n], 'float32', tf.initializers.zeros(), undefined, false);
    this.basis = this.addWeight('basis', [n, this.components], 'float32', tf.initializers.zeros(), undefined, false);
    // Ones, not zeros: an empty prior's system is then the identity, and its fill the mean.
    this.precision = this.addWeight('precision', [this.components], 'float32', tf.initializers.ones(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0], shape[1], shape[2], 1];
  }

  /** The prior the layer holds, as float64 arrays. */
  prior(): FacePrior {
    return this.faces().prior;
  }

  // The solver of the prior the weights hold now, made again when they change (a checkpoint
  // loaded, a prior installed), since it keeps factors computed from them. Every write to a
  // tfjs variable gives it new data (a new dataId), so comparing those finds a change
  // without reading the weights back on each forward pass.
  private faces(): ConditionalFaces {
    const tensors = [this.mean, this.basis, this.precision].map((v) => {
      if (v === null) throw new Error(`FacePriorFill '${this.name}' was used before build`);
      return v.read();
    });
    if (this.solver && tensors.every((t, i) => t.dataId === this.source[i])) return this.solver;
    this.source = tensors.map((t) => t.dataId);
    const [mean, basis, precision] = tensors.map((t) => Float64Array.from(t.dataSync()));
    this.solver = new ConditionalFaces({ side: this.side, components: this.components, mean, basis, precision });
    return this.solver;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const [batch, size] = x.shape;
    const factor = size / this.side;
    const faces = this.faces();
    const [known, visible] = tf.tidy(() => {
      const [image, mask] = tf.split(x, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      return [tf.avgPool(image, factor, factor, 'valid').dataSync(), tf.avgPool(tf.sub(1, mask) as tf.Tensor4D, factor, factor, 'valid').dataSync()];
    });
    const n = this.side * this.side;
    const fill = new Float32Array(batch * n);
    const face = new Float64Array(n);
    for (let b = 0; b < batch; b++) {
      faces.fill(known.subarray(b * n, (b + 1) * n), visible.subarray(b * n, (b + 1) * n), face);
      fill.set(face, b * n);
    }
    return tf.tidy(() => {
      let y: tf.Tensor4D = tf.tensor4d(fill, [batch, this.side, this.side, 1]);
      if (factor > 1) y = tf.image.resizeBilinear(y, [size, size], false, true);
      return tf.atanh(tf.clipByValue(y, -CLIP, CLIP));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), side: this.side, components: this.components };
  }
}
tf.serialization.registerClass(FacePriorFill);

/** Puts a fitted prior into a generator's {@link FacePriorFill} layer, whose side and components it must match. */
export function installFacePrior(layer: FacePriorFill, prior: FacePrior): void {
  if (prior.side !== layer.side || prior.components !== layer.components) {
    throw new RangeError(`a ${prior.side}x${prior.side} prior of ${prior.components} components does not fit layer '${layer.name}' (${layer.side}x${layer.side}, ${layer.components})`);
  }
  const n = prior.side * prior.side;
  const values = [
    tf.tensor1d(Float32Array.from(prior.mean)),
    tf.tensor2d(Float32Array.from(prior.basis), [n, prior.components]),
    tf.tensor1d(Float32Array.from(prior.precision)),
  ];
  layer.setWeights(values);
  tf.dispose(values);
}
