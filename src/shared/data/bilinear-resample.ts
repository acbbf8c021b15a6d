/**
 * Zoom, shift and mirror of a grayscale image by inverse mapping with bilinear sampling.
 * The forward map scales about the image centre, then shifts, then mirrors left-right;
 * each output pixel reads the source at the pre-image of its position. A pre-image outside
 * the image reads the nearest edge pixel: a black (or any constant) border would be a frame
 * no real photo has, and a model trained on it would learn to draw it.
 */

/** One axis-aligned re-framing in pixels: zoom factor, shifts (right, down) and mirror. */
export interface PixelFraming {
  scale: number;
  dx: number;
  dy: number;
  flip: boolean;
}

const INV_255 = 1 / 255;

/**
 * Resamples a size*size 8-bit image into `out` (size*size floats), as values in [0, 1].
 * Pixel i sits at coordinate i, so the centre is (size - 1) / 2, mirroring maps i to
 * size - 1 - i exactly, and a shift by whole pixels moves the image by exactly that many.
 */
export function resampleBilinear(pixels: Uint8Array, size: number, f: PixelFraming, out: Float32Array): void {
  const centre = (size - 1) / 2;
  const last = size - 1;
  // The map is axis-aligned, so a source column depends only on the output column and a
  // source row only on the output row: the column taps are worked out once for all rows.
  // Plain arrays: small typed arrays live off the JS heap and cost more to allocate.
  const left: number[] = [];
  const right: number[] = [];
  const weight: number[] = [];
  for (let x = 0; x < size; x++) {
    const source = preImage((f.flip ? last - x : x) - f.dx, centre, f.scale, last);
    const lo = Math.floor(source);
    left.push(lo);
    right.push(lo === last ? lo : lo + 1);
    weight.push(source - lo);
  }
  for (let y = 0; y < size; y++) {
    const source = preImage(y - f.dy, centre, f.scale, last);
    const lo = Math.floor(source);
    const top = lo * size;
    const bottom = (lo === last ? lo : lo + 1) * size;
    const wy = source - lo;
    const row = y * size;
    for (let x = 0; x < size; x++) {
      const a = left[x];
      const b = right[x];
      const wx = weight[x];
      const upper = pixels[top + a] + wx * (pixels[top + b] - pixels[top + a]);
      const lower = pixels[bottom + a] + wx * (pixels[bottom + b] - pixels[bottom + a]);
      out[row + x] = (upper + wy * (lower - upper)) * INV_255;
    }
  }
}

// The source coordinate of an output coordinate already un-shifted (and un-mirrored),
// clamped to the image so that outside reads the edge.
function preImage(unshifted: number, centre: number, scale: number, last: number): number {
  const source = centre + (unshifted - centre) / scale;
  return source <= 0 ? 0 : source >= last ? last : source;
}
