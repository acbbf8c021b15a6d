import type { FaceSet } from '../data/api';
import type { Inpainter } from './inpainter';

/** Baseline: every hole pixel takes the mean of the image's known pixels. */
export function meanFillInpainter(): Inpainter {
  return {
    name: 'mean-fill',
    inpaint: async (images, masks, count, size) => fillEach(images, masks, count, size, (known) => () => known.mean),
  };
}

/**
 * Baseline: holes take the training set's mean face, shifted so that its mean over the
 * image's known pixels equals the image's own known-pixel mean (brightness matched).
 */
export function meanFaceInpainter(trainSet: FaceSet): Inpainter {
  const pixels = trainSet.size * trainSet.size;
  const face = new Float64Array(pixels);
  for (let i = 0; i < trainSet.pixels.length; i++) face[i % pixels] += trainSet.pixels[i];
  for (let i = 0; i < pixels; i++) face[i] /= 255 * trainSet.count;
  return {
    name: 'mean-face',
    inpaint: async (images, masks, count, size) => {
      if (size !== trainSet.size) throw new RangeError(`mean-face baseline is ${trainSet.size}x${trainSet.size}, images are ${size}x${size}`);
      return fillEach(images, masks, count, size, (known) => {
        const shift = known.mean - known.meanOf(face);
        return (i) => face[i] + shift;
      });
    },
  };
}

/** The known pixels of one image, for baselines that fill from them. */
interface KnownPixels {
  mean: number;
  /** Mean of another image over this image's known pixels. */
  meanOf(other: ArrayLike<number>): number;
}

function fillEach(
  images: Float32Array,
  masks: Uint8Array,
  count: number,
  size: number,
  filler: (known: KnownPixels) => (pixel: number) => number,
): Float32Array {
  const pixels = size * size;
  const out = Float32Array.from(images);
  for (let n = 0; n < count; n++) {
    const off = n * pixels;
    const meanOf = (other: ArrayLike<number>, base: number) => {
      let sum = 0;
      let k = 0;
      for (let i = 0; i < pixels; i++) {
        if (masks[off + i]) continue;
        sum += other[base + i];
        k++;
      }
      return k ? sum / k : 0.5;
    };
    const fill = filler({ mean: meanOf(images, off), meanOf: (other) => meanOf(other, 0) });
    for (let i = 0; i < pixels; i++) if (masks[off + i]) out[off + i] = Math.min(1, Math.max(0, fill(i)));
  }
  return out;
}
