import * as tf from '@tensorflow/tfjs';
import type { LossConfig } from '../config';

/**
 * The GAN's loss functions, as pure tensor functions. Every loss is a MEAN over the batch
 * of a per-sample quantity, so that averaging the gradients of equal shards of a batch (the
 * data-parallel all-reduce) gives exactly the gradient of the whole batch.
 */

/**
 * Per-element binary cross-entropy of sigmoid(logits) against `targets`, computed from the
 * logits as softplus(x) - x*z: stable for any logit, and its gradient sigmoid(x) - z is
 * exact everywhere (including x = 0).
 */
export function bceWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.softplus(logits), tf.mul(logits, targets)));
}

/** Mean BCE of the discriminator's logits [n, 1] against per-sample targets [n] or [n, 1]. */
export function discriminatorLoss(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(bceWithLogits(logits, targets.reshape(logits.shape))) as tf.Scalar);
}

/** The "real" label the discriminator is trained towards: 0.9 with one-sided label smoothing, else 1. */
export function realLabel(loss: Pick<LossConfig, 'softLabels'>): number {
  return loss.softLabels ? 0.9 : 1;
}

/**
 * The generator's adversarial loss from D's logits on its fakes, by `generatorLoss`:
 * - `unique`: BCE against the real label D is trained with (0.9 with soft labels);
 * - `reverse`: the non-saturating -log D(fake), i.e. BCE against 1;
 * - `saturating`: the original minimax log(1 - D(fake)) = -softplus(logit), which G minimises.
 */
export function generatorAdversarialLoss(logits: tf.Tensor, loss: Pick<LossConfig, 'generatorLoss' | 'softLabels'>): tf.Scalar {
  return tf.tidy(() => {
    switch (loss.generatorLoss) {
      case 'unique':
        return tf.mean(bceWithLogits(logits, tf.fill(logits.shape, realLabel(loss)))) as tf.Scalar;
      case 'reverse':
        return tf.mean(tf.softplus(tf.neg(logits))) as tf.Scalar;
      case 'saturating':
        return tf.neg(tf.mean(tf.softplus(logits))) as tf.Scalar;
    }
  });
}

/**
 * Squared error of the generator's raw output [n, S, S, 1] against the real image:
 * `hole` = per sample, the mean over its hole pixels (0 for a sample without a hole), then
 * the mean over samples; `image` = the mean over every pixel of the raw output. Per-sample
 * means (rather than one mean over all the batch's hole pixels) keep the loss a mean over
 * samples, so shards of unequal hole area still average to the full-batch gradient.
 */
export function l2Loss(raw: tf.Tensor4D, real: tf.Tensor4D, mask: tf.Tensor4D, region: LossConfig['l2Region']): tf.Scalar {
  return tf.tidy(() => {
    const squared = tf.squaredDifference(raw, real);
    if (region === 'image') return tf.mean(squared) as tf.Scalar;
    const holeSum = tf.sum(tf.mul(squared, mask), [1, 2, 3]);
    const holeArea = tf.maximum(tf.sum(mask, [1, 2, 3]), 1);
    return tf.mean(tf.div(holeSum, holeArea)) as tf.Scalar;
  });
}

/** The generator's total loss: the adversarial and L2 terms weighted and selected by `mode`. */
export function generatorTotalLoss(adversarial: tf.Scalar | null, l2: tf.Scalar, loss: Pick<LossConfig, 'mode' | 'ganWeight' | 'l2Weight'>): tf.Scalar {
  return tf.tidy(() => {
    const l2Term = tf.mul(l2, loss.l2Weight) as tf.Scalar;
    if (loss.mode === 'l2') return l2Term;
    if (adversarial === null) throw new Error(`loss mode '${loss.mode}' needs the adversarial loss`);
    const ganTerm = tf.mul(adversarial, loss.ganWeight) as tf.Scalar;
    return loss.mode === 'gan' ? ganTerm : (tf.add(ganTerm, l2Term) as tf.Scalar);
  });
}
