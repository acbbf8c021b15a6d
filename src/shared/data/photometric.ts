import type { Rng } from '../util/rng';

/**
 * Exposure changes, blur and noise on a grayscale image held as floats in [0, 1]
 * (`Float32Array` of size*size, row-major), changed in place. They run for every training
 * sample on the data path, so none calls a transcendental function per pixel: on the
 * 2-core test machine `Math.pow` cost about 120 ns and `Math.log` or `Math.cos` about
 * 25 ns, against 1 or 2 ns for a multiply-add (measured), which would have made them most
 * of a sample's augmentation time.
 */

const GAMMA_SEGMENTS = 256;

// ln of each node's square root, (i / 256), once: a gamma table then costs one exp per node.
const LN_NODE = Float64Array.from({ length: GAMMA_SEGMENTS + 1 }, (_, i) => Math.log(i / GAMMA_SEGMENTS));

/**
 * Contrast about the image mean (`mean + contrast * (p - mean)`), then brightness, then a
 * clamp to [0, 1] (as a sensor saturates, and a power has no real value below 0), then
 * gamma (`p ** gamma`).
 *
 * Gamma is read from a 256-segment piecewise-linear table indexed by sqrt(p), so its
 * nodes crowd towards black, where the power curve bends most. Against `p ** gamma` it is
 * within 0.005 of a grey level for gamma in [0.8, 1.25], and within 0.07 for gamma in
 * [e^-1, e] (0.25 in the first segment, p below 1/65536).
 */
export function adjustExposure(v: Float32Array, contrast: number, brightness: number, gamma: number): void {
  let mean = 0;
  if (contrast !== 1) {
    for (let i = 0; i < v.length; i++) mean += v[i];
    mean /= v.length;
  }
  // mean + c (p - mean) + b, as one multiply-add per pixel.
  const offset = mean * (1 - contrast) + brightness;
  if (gamma === 1) {
    for (let i = 0; i < v.length; i++) {
      const p = v[i] * contrast + offset;
      v[i] = p <= 0 ? 0 : p >= 1 ? 1 : p;
    }
    return;
  }
  const table = gammaTable(gamma);
  for (let i = 0; i < v.length; i++) {
    const p = v[i] * contrast + offset;
    const t = Math.sqrt(p <= 0 ? 0 : p >= 1 ? 1 : p) * GAMMA_SEGMENTS;
    const k = t >= GAMMA_SEGMENTS ? GAMMA_SEGMENTS - 1 : t | 0;
    v[i] = table[k] + (t - k) * (table[k + 1] - table[k]);
  }
}

// Refilled by each call rather than allocated: nothing awaits between filling and reading it.
const GAMMA_TABLE = new Float64Array(GAMMA_SEGMENTS + 1);

// (i / 256)^(2 gamma) = ((i / 256)^2)^gamma; ln 0 = -Infinity gives exp(-Infinity) = 0 at black.
function gammaTable(gamma: number): Float64Array {
  const table = GAMMA_TABLE;
  for (let i = 0; i <= GAMMA_SEGMENTS; i++) table[i] = Math.exp(2 * gamma * LN_NODE[i]);
  return table;
}

/** The normalised taps of a Gaussian of the given sigma in pixels, from the centre out: k[0] .. k[ceil(3 sigma)]. */
export function halfGaussianKernel(sigma: number): Float64Array {
  const radius = Math.ceil(3 * sigma);
  const k = new Float64Array(radius + 1);
  let total = 0;
  for (let i = 0; i <= radius; i++) {
    k[i] = Math.exp((-i * i) / (2 * sigma * sigma));
    total += i === 0 ? k[i] : 2 * k[i];
  }
  for (let i = 0; i <= radius; i++) k[i] /= total;
  return k;
}

/**
 * Blurs a size*size image with a separable Gaussian of radius ceil(3 sigma), a tap past
 * the edge reading the edge pixel, as the geometry does: a blur must not darken the
 * border. `scratch` is any Float32Array of the same length, overwritten.
 */
export function gaussianBlur(v: Float32Array, size: number, sigma: number, scratch: Float32Array): void {
  const k = halfGaussianKernel(sigma);
  // Blurring the rows and writing them transposed, twice, blurs both ways with one
  // cache-friendly loop (a 64x64 image fits in L1, so the strided writes cost little).
  blurRowsTransposed(v, scratch, size, k);
  blurRowsTransposed(scratch, v, size, k);
}

function blurRowsTransposed(src: Float32Array, dst: Float32Array, size: number, k: Float64Array): void {
  const radius = k.length - 1;
  const last = size - 1;
  const k0 = k[0];
  for (let y = 0; y < size; y++) {
    const row = y * size;
    for (let x = 0; x < size; x++) {
      let sum = k0 * src[row + x];
      if (x >= radius && x + radius <= last) {
        for (let j = 1; j <= radius; j++) sum += k[j] * (src[row + x - j] + src[row + x + j]);
      } else {
        for (let j = 1; j <= radius; j++) sum += k[j] * (src[row + (x - j < 0 ? 0 : x - j)] + src[row + (x + j > last ? last : x + j)]);
      }
      dst[x * size + y] = sum;
    }
  }
}

// A power of two, so the top bits of a 32-bit draw pick an atom.
const NORMAL_BITS = 12;
const NORMAL_ATOMS = 1 << NORMAL_BITS;

/**
 * The standard normal as 4096 equally likely values: each the quantile at the middle of
 * its 1/4096 of probability, the whole set rescaled to unit variance (its tails stop at
 * about ±3.6). One uniform draw and a lookup per pixel replace Box-Muller's logarithm and
 * cosine; after rounding to 256 grey levels the difference from a true normal is not
 * visible at the noise levels augmentation uses.
 */
const NORMAL = normalAtoms(NORMAL_ATOMS);

// The normal CDF by trapezoids over [-8, 8] in steps of 1/512, inverted by one sweep.
function normalAtoms(n: number): Float64Array {
  const step = 1 / 512;
  const points = 16 * 512 + 1;
  const density = (x: number) => Math.exp((-x * x) / 2);
  const cdf = new Float64Array(points);
  for (let k = 1; k < points; k++) cdf[k] = cdf[k - 1] + (step * (density(-8 + (k - 1) * step) + density(-8 + k * step))) / 2;
  const total = cdf[points - 1];
  const atoms = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const p = ((i + 0.5) / n) * total;
    while (cdf[k + 1] < p) k++;
    atoms[i] = -8 + step * (k + (p - cdf[k]) / (cdf[k + 1] - cdf[k]));
  }
  let variance = 0;
  for (const a of atoms) variance += a * a;
  const norm = Math.sqrt(n / variance);
  for (let i = 0; i < n; i++) atoms[i] *= norm;
  return atoms;
}

/**
 * Adds zero-mean Gaussian noise of standard deviation `std` to every pixel. Takes one
 * draw from `rng`, which seeds a mulberry32 sequence (the algorithm of `Rng`) kept in a
 * local variable: `Rng.next()` measured about 12 ns a call, the same steps on a local
 * about 2 ns, and this runs once per pixel.
 */
export function addGaussianNoise(v: Float32Array, std: number, rng: Rng): void {
  let state = (rng.next() * 4294967296) | 0;
  for (let i = 0; i < v.length; i++) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    v[i] += std * NORMAL[(t ^ (t >>> 14)) >>> (32 - NORMAL_BITS)];
  }
}
