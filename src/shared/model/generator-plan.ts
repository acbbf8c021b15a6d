import { type GeneratorConfig, PRIOR_SIDE_MAX, PRIOR_SIDE_MIN, priorSide } from '../config';
import { ConfigInvalidError } from '../errors';

/** One strided (or, when clamped, stride-1) convolution of the generator's encoder. */
export interface EncoderLayerPlan {
  filters: number;
  stride: 1 | 2;
  /** Spatial size of the layer's output. */
  size: number;
  /** Batch norm after the convolution (never on the first layer). */
  norm: boolean;
}

/** One transposed convolution of the generator's decoder. */
export interface DecoderLayerPlan {
  filters: number;
  stride: 1 | 2;
  /** Spatial size of the layer's output. */
  size: number;
  /** Encoder layer whose output is concatenated to this layer's (U-Net skip), or null. */
  skipFrom: number | null;
  /** True for the last layer, which outputs the tanh image and has no norm or dropout. */
  output: boolean;
}

/** The whole-face linear path: the input average-pooled to `pooledSize`, a dense map to a `outputSize` image, resized up to the image size. */
export interface GlobalLinearPlan {
  pooledSize: number;
  outputSize: number;
}

/** The face prior's fill: a Gaussian over faces pooled to `side`, with `components` components. */
export interface PriorPlan {
  side: number;
  components: number;
}

/** The generator's layer-by-layer shape, before any tensor exists. */
export interface GeneratorPlan {
  imageSize: number;
  encoder: EncoderLayerPlan[];
  /** Width of the dense code between encoder and decoder; 0 for none. */
  bottleneck: number;
  decoder: DecoderLayerPlan[];
  /** The whole-face linear path, or null without `globalLinear`. */
  global: GlobalLinearPlan | null;
  /** The face prior's fill, or null without `prior`. */
  prior: PriorPlan | null;
}

/** Smallest spatial size a downsampling may produce. */
export const MIN_SPATIAL = 2;

// Sides of the global path: the dense map's weights grow with the fourth power of these.
const GLOBAL_POOLED_MAX = 16;
const GLOBAL_OUTPUT_MAX = 32;

/** Largest divisor of `n` that is at most `cap`, so that pooling or resizing by `n / it` is exact. */
function largestDivisorAtMost(n: number, cap: number): number {
  for (let d = Math.min(n, cap); d > 1; d--) if (n % d === 0) return d;
  return 1;
}

/** Filters at depth `level` (0 = first layer): doubling from `base`, capped at `max`. */
export function filtersAt(level: number, base: number, max: number): number {
  return Math.min(base * 2 ** level, max);
}

/**
 * How many of `wanted` stride-2 halvings of `size` can be undone exactly by stride-2
 * transposed convolutions: each must divide evenly and leave at least {@link MIN_SPATIAL}.
 */
export function exactHalvings(size: number, wanted: number): number {
  let n = 0;
  while (n < wanted && size % 2 === 0 && size / 2 >= MIN_SPATIAL) {
    size /= 2;
    n++;
  }
  return n;
}

/**
 * Plans the generator: the slides' "N layered" count split into floor(N/2) encoder
 * convolutions and N - floor(N/2) decoder transposed convolutions (the last one outputs
 * the image). Encoder layers halve the size while that stays exact and >= 2, then
 * continue at stride 1; decoder layers double it until it is back to the image size, then
 * continue at stride 1. Filters double from `baseFilters` up to `maxFilters` with depth and
 * mirror in the decoder; a skip joins each decoder output to the deepest encoder output of
 * the same size.
 */
export function planGenerator(cfg: GeneratorConfig, imageSize: number): GeneratorPlan {
  const encoderCount = Math.floor(cfg.layers / 2);
  const halvings = exactHalvings(imageSize, encoderCount);
  const encoder: EncoderLayerPlan[] = [];
  let size = imageSize;
  for (let i = 0; i < encoderCount; i++) {
    const stride = i < halvings ? 2 : 1;
    size /= stride;
    encoder.push({ filters: filtersAt(i, cfg.baseFilters, cfg.maxFilters), stride, size, norm: cfg.norm === 'batch' && i > 0 });
  }
  const deepestAt = (s: number): number | null => {
    for (let i = encoder.length - 1; i >= 0; i--) if (encoder[i].size === s) return i;
    return null;
  };
  const decoder: DecoderLayerPlan[] = [];
  const decoderCount = cfg.layers - encoderCount;
  for (let j = 0; j < decoderCount; j++) {
    const stride = size < imageSize ? 2 : 1;
    size *= stride;
    const output = j === decoderCount - 1;
    const mirror = deepestAt(size);
    decoder.push({
      filters: output ? 1 : mirror === null ? cfg.baseFilters : encoder[mirror].filters,
      stride,
      size,
      skipFrom: cfg.skip && !output ? mirror : null,
      output,
    });
  }
  const global = cfg.globalLinear
    ? { pooledSize: largestDivisorAtMost(imageSize, GLOBAL_POOLED_MAX), outputSize: largestDivisorAtMost(imageSize, GLOBAL_OUTPUT_MAX) }
    : null;
  return { imageSize, encoder, bottleneck: cfg.bottleneck, decoder, global, prior: planPrior(cfg.prior, imageSize) };
}

function planPrior(components: number, imageSize: number): PriorPlan | null {
  if (components === 0) return null;
  const side = priorSide(imageSize);
  if (side === null) {
    throw new ConfigInvalidError(`generator.prior needs an image side with a divisor from ${PRIOR_SIDE_MIN} to ${PRIOR_SIDE_MAX} to pool the faces to; ${imageSize} has none`);
  }
  return { side, components };
}
