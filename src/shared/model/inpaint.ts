import * as tf from '@tensorflow/tfjs';

/** What the generator makes of a batch: its raw output, and that output pasted into the holes. */
export interface Inpainting {
  /** The generator's whole output image, [b, S, S, 1] in [-1, 1]. */
  raw: tf.Tensor4D;
  /** The real image with only its hole pixels replaced by the raw output. */
  composite: tf.Tensor4D;
}

/**
 * Runs the generator on occluded images: builds its 2-channel input (the image with the hole
 * zeroed, plus the mask), and composites the raw output into the hole, keeping every known
 * pixel. `real` is [b, S, S, 1] in [-1, 1]; `mask` is [b, S, S, 1] with 1 = hole. With
 * `training`, batch norm uses batch statistics and dropout is on (its seeds must be set).
 */
export function inpaint(generator: tf.LayersModel, real: tf.Tensor4D, mask: tf.Tensor4D, training = false): Inpainting {
  return tf.tidy(() => {
    const known = tf.mul(real, tf.sub(1, mask)) as tf.Tensor4D;
    const raw = generator.apply(tf.concat([known, mask], 3), { training }) as tf.Tensor4D;
    const composite = tf.add(known, tf.mul(raw, mask)) as tf.Tensor4D;
    return { raw, composite };
  });
}
