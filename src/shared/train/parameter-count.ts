import type { DiscriminatorConfig, GeneratorConfig } from '../config';
import { filtersAt, MIN_SPATIAL, planGenerator } from '../model/generator-plan';
import { generatorInputChannels, INPUT_CHANNELS } from '../model/generator';

/**
 * How many weights the networks a config describes hold, counted from the config alone (no
 * tensor is made), so that a coordinator knows how big a checkpoint of its run can be. The
 * counts follow `buildGenerator` and `buildDiscriminator` layer by layer; a test holds them
 * equal to the built models' for a range of configs, so a change to a builder that the count
 * does not follow fails there.
 */

/** The weights of one network: all of them (float32 each), and the trainable ones Adam keeps two moments for. */
export interface ParameterCount {
  all: number;
  trainable: number;
}

/** The weights of the generator `cfg` describes for `imageSize` pixel images. */
export function generatorParameters(cfg: GeneratorConfig, imageSize: number): ParameterCount {
  const plan = planGenerator(cfg, imageSize);
  const norm = cfg.norm === 'batch';
  const count = new Counter(cfg.kernelSize);
  let channels = generatorInputChannels(cfg);
  for (const layer of plan.encoder) {
    count.conv(channels, layer.filters, !layer.norm);
    if (layer.norm) count.batchNorm(layer.filters);
    channels = layer.filters;
  }
  if (plan.bottleneck > 0) {
    const size = plan.encoder.at(-1)?.size ?? imageSize;
    const features = size * size * channels;
    count.dense(features, plan.bottleneck, true);
    count.dense(plan.bottleneck, features, !norm);
    if (norm) count.batchNorm(features);
  }
  for (const layer of plan.decoder) {
    if (layer.output) {
      count.conv(channels, 1, true);
      continue;
    }
    count.conv(channels, layer.filters, !norm);
    if (norm) count.batchNorm(layer.filters);
    channels = layer.filters + (layer.skipFrom === null ? 0 : plan.encoder[layer.skipFrom].filters);
  }
  if (plan.global) count.dense(plan.global.pooledSize ** 2 * INPUT_CHANNELS, plan.global.outputSize ** 2, true);
  if (plan.prior) count.fixed(plan.prior.side ** 2 * (1 + plan.prior.components) + plan.prior.components);
  return count.total();
}

/** The weights of the discriminator `cfg` describes for `imageSize` pixel images. */
export function discriminatorParameters(cfg: DiscriminatorConfig, imageSize: number): ParameterCount {
  const count = new Counter(cfg.kernelSize);
  let channels = INPUT_CHANNELS;
  let size = imageSize;
  for (let i = 0; i < cfg.layers; i++) {
    const stride = Math.ceil(size / 2) >= MIN_SPATIAL ? 2 : 1;
    size = Math.ceil(size / stride);
    const filters = filtersAt(i, cfg.baseFilters, cfg.maxFilters);
    count.conv(channels, filters, true);
    channels = filters;
  }
  let features = size * size * channels;
  if (cfg.minibatch === 'discrimination') {
    count.trainable(features * cfg.minibatchKernels * cfg.minibatchDims);
    features += cfg.minibatchKernels;
  } else if (cfg.minibatch === 'stddev') {
    features += 1;
  }
  count.dense(features, 1, true);
  return count.total();
}

// Sums the weights layer by layer, the way tfjs's layers create them.
class Counter {
  private all = 0;
  private learned = 0;

  constructor(private readonly kernelSize: number) {}

  // A convolution or a transposed one: a k x k kernel per input and output channel, and a bias per output.
  conv(inputs: number, outputs: number, bias: boolean): void {
    this.trainable(this.kernelSize * this.kernelSize * inputs * outputs + (bias ? outputs : 0));
  }

  dense(inputs: number, units: number, bias: boolean): void {
    this.trainable(inputs * units + (bias ? units : 0));
  }

  // Gamma and beta are learned; the moving mean and variance are not (Adam keeps no moments for them).
  batchNorm(channels: number): void {
    this.trainable(2 * channels);
    this.all += 2 * channels;
  }

  // Weights set once and never learned (the face prior's mean, basis and precisions).
  fixed(n: number): void {
    this.all += n;
  }

  trainable(n: number): void {
    this.all += n;
    this.learned += n;
  }

  total(): ParameterCount {
    return { all: this.all, trainable: this.learned };
  }
}
