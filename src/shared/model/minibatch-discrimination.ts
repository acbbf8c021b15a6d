import * as tf from '@tensorflow/tfjs';
import { nameSeed } from './name-seed';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

/** Constructor arguments of {@link MinibatchDiscrimination}. */
export interface MinibatchDiscriminationArgs extends LayerArgs {
  /** Number of kernels B (features appended per sample). */
  kernels: number;
  /** Dimension C of each kernel's projection. */
  dims: number;
  /** Seed of the projection tensor's initial values. */
  seed: number;
}

/**
 * Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs").
 *
 * A learned tensor T of shape [A, B*C] projects each sample's features x_i (length A) to a
 * matrix M_i of B rows of C values; for each kernel b the layer appends
 * o_b(x_i) = sum_j exp(-||M_i,b - M_j,b||_L1) over the batch (j = i included, contributing 1).
 * Samples that look alike score high, so a discriminator seeing a collapsed generator's
 * near-identical fakes can tell them from the varied real batch. Input [n, A], output [n, A+B].
 */
export class MinibatchDiscrimination extends tf.layers.Layer {
  /** Name under which tfjs serializes the layer. */
  static readonly className = 'MinibatchDiscrimination';
  /** Number of kernels B. */
  readonly kernels: number;
  /** Kernel dimension C. */
  readonly dims: number;
  private readonly seed: number;
  private projection: tf.LayerVariable | null = null;

  constructor(args: MinibatchDiscriminationArgs) {
    super(args);
    this.kernels = args.kernels;
    this.dims = args.dims;
    this.seed = args.seed;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const features = shape[shape.length - 1];
    if (features === null) throw new Error(`MinibatchDiscrimination '${this.name}' needs a known feature count`);
    // Salimans et al. initialised T with std 0.05; small values keep exp(-L1) away from 0 early on.
    const init = tf.initializers.randomNormal({ mean: 0, stddev: 0.05, seed: nameSeed(this.seed, this.name) });
    this.projection = this.addWeight('T', [features, this.kernels * this.dims], 'float32', init);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const features = shape[1];
    return [shape[0], features === null ? null : features + this.kernels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor2D;
    const t = this.projection;
    if (t === null) throw new Error(`MinibatchDiscrimination '${this.name}' was called before build`);
    return tf.tidy(() => {
      const m = tf.matMul(x, t.read()).reshape([-1, this.kernels, this.dims]);
      const l1 = tf.abs(tf.sub(m.expandDims(1), m.expandDims(0))).sum(3);
      const o = tf.exp(tf.neg(l1)).sum(1);
      return tf.concat([x, o], 1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), kernels: this.kernels, dims: this.dims, seed: this.seed };
  }
}
tf.serialization.registerClass(MinibatchDiscrimination);
