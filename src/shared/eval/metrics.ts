/**
 * Image-quality measures of a restoration, on pixels in [0, 1]. Hole metrics compare only
 * the pixels that were hidden (the known ones are copied and would flatter the score);
 * SSIM compares the whole composited image, as a viewer sees it.
 */

/** PSNR reported for a hole restored exactly (MSE 0), instead of +Infinity. */
export const PSNR_CAP_DB = 100;

/** Peak signal-to-noise ratio over the hole pixels, in dB (peak 1.0); {@link PSNR_CAP_DB} for an exact match. */
export function holePsnr(restored: ArrayLike<number>, original: ArrayLike<number>, mask: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    sum += (restored[i] - original[i]) ** 2;
    n++;
  }
  if (n === 0) throw new RangeError('holePsnr: the mask has no hole pixels');
  const mse = sum / n;
  return mse === 0 ? PSNR_CAP_DB : Math.min(PSNR_CAP_DB, -10 * Math.log10(mse));
}

/** Mean absolute error over the hole pixels, in percent of the full range. */
export function holeL1Percent(restored: ArrayLike<number>, original: ArrayLike<number>, mask: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    sum += Math.abs(restored[i] - original[i]);
    n++;
  }
  if (n === 0) throw new RangeError('holeL1Percent: the mask has no hole pixels');
  return (100 * sum) / n;
}

/**
 * Detail drawn inside the hole: the sum of absolute differences between neighbours (across
 * and down) that both lie in it. A restoration's detail over the original's says how sharp a
 * fill is: 0 for a flat fill, below 1 for a blur, 1 for as much as the face has.
 */
export function holeDetail(image: ArrayLike<number>, mask: ArrayLike<number>, size: number): number {
  let sum = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      if (!mask[i]) continue;
      if (x + 1 < size && mask[i + 1]) sum += Math.abs(image[i + 1] - image[i]);
      if (y + 1 < size && mask[i + size]) sum += Math.abs(image[i + size] - image[i]);
    }
  }
  return sum;
}

const C1 = 0.01 ** 2;
const C2 = 0.03 ** 2;

/**
 * Structural similarity (Wang et al. 2004) of two size x size images: Gaussian window
 * sigma 1.5 (11 taps), C1 = 0.01², C2 = 0.03² for range 1, mean over the positions where
 * the whole window fits (the reference implementation's 'valid' region; for images under
 * 11 pixels the window shrinks to the image).
 */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, size: number): number {
  const radius = Math.min(5, Math.floor((size - 1) / 2));
  const w = gaussian(radius, 1.5);
  const blur = (f: (i: number) => number) => separableFilter(f, size, w);
  const ma = blur((i) => a[i]);
  const mb = blur((i) => b[i]);
  const aa = blur((i) => a[i] * a[i]);
  const bb = blur((i) => b[i] * b[i]);
  const ab = blur((i) => a[i] * b[i]);
  const valid = size - 2 * radius;
  let total = 0;
  for (let y = 0; y < valid; y++) {
    for (let x = 0; x < valid; x++) {
      const i = y * valid + x;
      const va = aa[i] - ma[i] * ma[i];
      const vb = bb[i] - mb[i] * mb[i];
      const cov = ab[i] - ma[i] * mb[i];
      total += ((2 * ma[i] * mb[i] + C1) * (2 * cov + C2)) / ((ma[i] ** 2 + mb[i] ** 2 + C1) * (va + vb + C2));
    }
  }
  return total / (valid * valid);
}

function gaussian(radius: number, sigma: number): Float64Array {
  const w = Float64Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = w.reduce((s, v) => s + v, 0);
  return w.map((v) => v / sum);
}

// 'valid' 2-D filtering with a separable kernel: rows, then columns.
function separableFilter(value: (i: number) => number, size: number, w: Float64Array): Float64Array {
  const k = w.length;
  const valid = size - k + 1;
  const rows = new Float64Array(size * valid);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < valid; x++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += w[j] * value(y * size + x + j);
      rows[y * valid + x] = s;
    }
  }
  const out = new Float64Array(valid * valid);
  for (let y = 0; y < valid; y++) {
    for (let x = 0; x < valid; x++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += w[j] * rows[(y + j) * valid + x];
      out[y * valid + x] = s;
    }
  }
  return out;
}
