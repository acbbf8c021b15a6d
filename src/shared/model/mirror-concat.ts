import * as tf from '@tensorflow/tfjs';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

/**
 * Appends the left-right mirror image of an NHWC input as more channels: [b, h, w, c] in,
 * [b, h, w, 2c] out. No weights; the gradient flows back through both copies.
 */
export class MirrorConcat extends tf.layers.Layer {
  /** Name under which tfjs serializes the layer. */
  static readonly className = 'MirrorConcat';

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[3];
    return [shape[0], shape[1], shape[2], channels === null ? null : 2 * channels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    return tf.tidy(() => tf.concat([x, tf.reverse(x, 2)], 3));
  }
}

tf.serialization.registerClass(MirrorConcat);
