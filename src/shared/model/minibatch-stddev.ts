import * as tf from '@tensorflow/tfjs';

/**
 * Minibatch standard deviation (Karras et al. 2018, "Progressive Growing of GANs").
 *
 * Appends one feature to every sample: the standard deviation of each input feature over
 * the batch, averaged over features. A collapsed generator produces a batch with almost no
 * variation, which this one number exposes to the discriminator. It has no weights.
 * Input [n, A], output [n, A+1].
 */
export class MinibatchStddev extends tf.layers.Layer {
  /** Name under which tfjs serializes the layer. */
  static readonly className = 'MinibatchStddev';

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const features = shape[1];
    return [shape[0], features === null ? null : features + 1];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor2D;
    return tf.tidy(() => {
      const centred = tf.sub(x, tf.mean(x, 0, true));
      // The epsilon keeps sqrt differentiable when a feature does not vary (a batch of one).
      const std = tf.sqrt(tf.add(tf.mean(tf.square(centred), 0), 1e-8));
      const feature = tf.mul(tf.ones([x.shape[0], 1]), tf.mean(std));
      return tf.concat([x, feature], 1);
    });
  }
}
tf.serialization.registerClass(MinibatchStddev);
