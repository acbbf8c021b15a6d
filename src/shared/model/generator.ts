import * as tf from '@tensorflow/tfjs';
import type { GeneratorConfig } from '../config';
import { type GlobalLinearPlan, planGenerator } from './generator-plan';
import { type Faces, fitFacePrior } from './face-prior';
import { FacePriorFill, installFacePrior } from './face-prior-fill';
import { MirrorConcat } from './mirror-concat';
import { seededGlorot } from './name-seed';
import { SeededDropout } from './seeded-dropout';

/** Channels of the generator's and discriminator's input: the (occluded) image and the hole mask. */
export const INPUT_CHANNELS = 2;

/** Name of the generator's {@link FacePriorFill} layer, when it has one. */
export const PRIOR_LAYER = 'g_prior';

/** Channels the generator's first convolution sees: the input's and the prior's fill, and their mirror image's with `mirrorInput`. */
export function generatorInputChannels(cfg: Pick<GeneratorConfig, 'mirrorInput' | 'prior'>): number {
  const channels = INPUT_CHANNELS + (cfg.prior > 0 ? 1 : 0);
  return cfg.mirrorInput ? 2 * channels : channels;
}

/**
 * Builds the inpainting generator: input [b, S, S, 2] (the occluded image in [-1, 1] with
 * the hole set to 0, plus the mask channel, 1 = hole), output [b, S, S, 1] in [-1, 1] (tanh).
 *
 * An encoder-decoder of strided convolutions with no pooling (pooling gave sparse gradients
 * in the original research), laid out by {@link planGenerator}: LeakyReLU(0.2) in the
 * encoder, ReLU in the decoder, batch norm everywhere except the first encoder layer and the
 * output layer when `norm` is 'batch', dropout after each hidden decoder layer, an optional
 * dense code of `bottleneck` units, and optional U-Net skips. With `upsample: 'resize'` a
 * decoder layer that doubles the size is a bilinear resize and a convolution
 * instead of a transposed convolution, whose overlapping strides draw a checkerboard
 * (Odena et al. 2016); with `mirrorInput` the input's mirror image joins it as channels;
 * with `globalLinear` a dense map from the pooled input adds a whole-face linear prediction
 * to the output before its tanh. With `prior` the face prior's fill ({@link FacePriorFill})
 * joins the input as a channel and is added to the output before its tanh, whose kernel
 * then starts at zero: the untrained generator fills holes with the prior's answer and
 * learns what to change in it.
 * Layers have fixed names and kernels are initialised from `seed`, so the same config and
 * seed give the same weights.
 */
export function buildGenerator(cfg: GeneratorConfig, imageSize: number, seed = 0): tf.LayersModel {
  const plan = planGenerator(cfg, imageSize);
  const input = tf.input({ shape: [imageSize, imageSize, INPUT_CHANNELS], name: 'g_input' });
  const conv = (name: string, filters: number, stride: number, bias: boolean, transposed: boolean) => {
    const args = {
      name,
      filters,
      kernelSize: cfg.kernelSize,
      strides: stride,
      padding: 'same' as const,
      useBias: bias,
      kernelInitializer: plan.prior && name === 'g_out' ? tf.initializers.zeros() : seededGlorot(seed, name),
    };
    return transposed ? tf.layers.conv2dTranspose(args) : tf.layers.conv2d(args);
  };
  const normalise = (x: tf.SymbolicTensor, name: string, on: boolean): tf.SymbolicTensor =>
    on ? (tf.layers.batchNormalization({ name }).apply(x) as tf.SymbolicTensor) : x;

  const prior = plan.prior ? (new FacePriorFill({ name: PRIOR_LAYER, ...plan.prior }).apply(input) as tf.SymbolicTensor) : null;
  let x: tf.SymbolicTensor = prior ? (tf.layers.concatenate({ axis: -1, name: 'g_prior_concat' }).apply([input, prior]) as tf.SymbolicTensor) : input;
  if (cfg.mirrorInput) x = new MirrorConcat({ name: 'g_mirror' }).apply(x) as tf.SymbolicTensor;
  // A decoder layer: transposed, or (resize) a resize by its stride and a stride-1 convolution.
  const upsample = (name: string, filters: number, stride: number, bias: boolean): void => {
    if (cfg.upsample === 'transposed') {
      x = conv(name, filters, stride, bias, true).apply(x) as tf.SymbolicTensor;
      return;
    }
    // Bilinear: the wasm backend's gradient of a nearest-neighbour resize is wrong (off by hundreds against the cpu backend's).
    if (stride > 1) x = tf.layers.upSampling2d({ size: [stride, stride], interpolation: 'bilinear', name: `${name}_resize` }).apply(x) as tf.SymbolicTensor;
    x = conv(name, filters, 1, bias, false).apply(x) as tf.SymbolicTensor;
  };
  const encoded: tf.SymbolicTensor[] = [];
  plan.encoder.forEach((layer, i) => {
    x = conv(`g_enc${i}_conv`, layer.filters, layer.stride, !layer.norm, false).apply(x) as tf.SymbolicTensor;
    x = normalise(x, `g_enc${i}_bn`, layer.norm);
    x = tf.layers.leakyReLU({ alpha: 0.2, name: `g_enc${i}_act` }).apply(x) as tf.SymbolicTensor;
    encoded.push(x);
  });

  if (plan.bottleneck > 0) {
    const [h, w, c] = x.shape.slice(1) as number[];
    x = tf.layers.flatten({ name: 'g_code_flatten' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ name: 'g_code', units: plan.bottleneck, kernelInitializer: seededGlorot(seed, 'g_code') }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.leakyReLU({ alpha: 0.2, name: 'g_code_act' }).apply(x) as tf.SymbolicTensor;
    const norm = cfg.norm === 'batch';
    x = tf.layers
      .dense({ name: 'g_uncode', units: h * w * c, useBias: !norm, kernelInitializer: seededGlorot(seed, 'g_uncode') })
      .apply(x) as tf.SymbolicTensor;
    x = normalise(x, 'g_uncode_bn', norm);
    x = tf.layers.reLU({ name: 'g_uncode_act' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reshape({ name: 'g_uncode_reshape', targetShape: [h, w, c] }).apply(x) as tf.SymbolicTensor;
  }

  plan.decoder.forEach((layer, j) => {
    if (layer.output) {
      upsample('g_out', 1, layer.stride, true);
      if (plan.global) x = tf.layers.add({ name: 'g_global_add' }).apply([x, globalLinear(input, plan.global, imageSize)]) as tf.SymbolicTensor;
      if (prior) x = tf.layers.add({ name: 'g_prior_add' }).apply([x, prior]) as tf.SymbolicTensor;
      x = tf.layers.activation({ activation: 'tanh', name: 'g_out_tanh' }).apply(x) as tf.SymbolicTensor;
      return;
    }
    const norm = cfg.norm === 'batch';
    upsample(cfg.upsample === 'transposed' ? `g_dec${j}_deconv` : `g_dec${j}_conv`, layer.filters, layer.stride, !norm);
    x = normalise(x, `g_dec${j}_bn`, norm);
    x = tf.layers.reLU({ name: `g_dec${j}_act` }).apply(x) as tf.SymbolicTensor;
    if (cfg.dropout > 0) x = new SeededDropout({ rate: cfg.dropout, name: `g_dec${j}_drop` }).apply(x) as tf.SymbolicTensor;
    if (layer.skipFrom !== null) {
      x = tf.layers.concatenate({ axis: -1, name: `g_dec${j}_skip` }).apply([x, encoded[layer.skipFrom]]) as tf.SymbolicTensor;
    }
  });
  return tf.model({ inputs: input, outputs: x, name: 'generator' });
}

/**
 * Fits a new generator's face prior to `faces` (the train split) and installs it; returns
 * false, doing nothing, for a generator without one. Every replica fits the same set to
 * the same bits.
 */
export function fitGeneratorPrior(generator: tf.LayersModel, cfg: GeneratorConfig, faces: Faces): boolean {
  const plan = planGenerator(cfg, faces.size).prior;
  if (!plan) return false;
  installFacePrior(generator.getLayer(PRIOR_LAYER) as FacePriorFill, fitFacePrior(faces, plan.side, plan.components));
  return true;
}

// A half face's far side is many kernels away from the pixels that predict it; one dense map
// reaches it at once. Its weights start at zero, so the path adds nothing until it learns.
function globalLinear(input: tf.SymbolicTensor, plan: GlobalLinearPlan, imageSize: number): tf.SymbolicTensor {
  const pool = imageSize / plan.pooledSize;
  const grow = imageSize / plan.outputSize;
  let x = tf.layers.averagePooling2d({ poolSize: pool, strides: pool, name: 'g_global_pool' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'g_global_flatten' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ name: 'g_global', units: plan.outputSize ** 2, kernelInitializer: 'zeros' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reshape({ name: 'g_global_reshape', targetShape: [plan.outputSize, plan.outputSize, 1] }).apply(x) as tf.SymbolicTensor;
  if (grow > 1) x = tf.layers.upSampling2d({ size: [grow, grow], interpolation: 'bilinear', name: 'g_global_resize' }).apply(x) as tf.SymbolicTensor;
  return x;
}
