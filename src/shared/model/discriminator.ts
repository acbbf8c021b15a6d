import * as tf from '@tensorflow/tfjs';
import type { DiscriminatorConfig } from '../config';
import { filtersAt, MIN_SPATIAL } from './generator-plan';
import { INPUT_CHANNELS } from './generator';
import { MinibatchDiscrimination } from './minibatch-discrimination';
import { MinibatchStddev } from './minibatch-stddev';
import { seededGlorot } from './name-seed';
import { SeededDropout } from './seeded-dropout';

/**
 * Builds the discriminator: input [b, S, S, 2] (an image in [-1, 1] plus the hole mask, so it
 * knows where to look), output [b, 1] = a LOGIT (the losses apply the sigmoid, stably).
 *
 * `layers` strided convolutions (stride 2 while the output stays >= 2 pixels, then stride 1),
 * filters doubling from `baseFilters` to `maxFilters`, each followed by LeakyReLU(0.2) and
 * dropout; then flatten, the minibatch layer chosen by `minibatch`, and one dense unit.
 * Layer names are fixed and kernels are initialised from `seed`.
 */
export function buildDiscriminator(cfg: DiscriminatorConfig, imageSize: number, seed = 0): tf.LayersModel {
  const input = tf.input({ shape: [imageSize, imageSize, INPUT_CHANNELS], name: 'd_input' });
  let x: tf.SymbolicTensor = input;
  let size = imageSize;
  for (let i = 0; i < cfg.layers; i++) {
    const stride = Math.ceil(size / 2) >= MIN_SPATIAL ? 2 : 1;
    size = Math.ceil(size / stride);
    const name = `d_conv${i}`;
    x = tf.layers
      .conv2d({
        name,
        filters: filtersAt(i, cfg.baseFilters, cfg.maxFilters),
        kernelSize: cfg.kernelSize,
        strides: stride,
        padding: 'same',
        kernelInitializer: seededGlorot(seed, name),
      })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.leakyReLU({ alpha: 0.2, name: `d_act${i}` }).apply(x) as tf.SymbolicTensor;
    if (cfg.dropout > 0) x = new SeededDropout({ rate: cfg.dropout, name: `d_drop${i}` }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.flatten({ name: 'd_flatten' }).apply(x) as tf.SymbolicTensor;
  if (cfg.minibatch === 'discrimination') {
    x = new MinibatchDiscrimination({
      name: 'd_minibatch',
      kernels: cfg.minibatchKernels,
      dims: cfg.minibatchDims,
      seed,
    }).apply(x) as tf.SymbolicTensor;
  } else if (cfg.minibatch === 'stddev') {
    x = new MinibatchStddev({ name: 'd_minibatch' }).apply(x) as tf.SymbolicTensor;
  }
  const logit = tf.layers.dense({ name: 'd_logit', units: 1, kernelInitializer: seededGlorot(seed, 'd_logit') }).apply(x);
  return tf.model({ inputs: input, outputs: logit as tf.SymbolicTensor, name: 'discriminator' });
}
