import type { FaceSet } from '../../../src/shared/data/api';
import { generatedFaceSet } from '../../../src/shared/data/generated-face-set';
import { drawSyntheticFace } from '../../../src/shared/data/synthetic-face';

/** A small in-memory set of generated faces at 32x32 (every 4th pixel of the 128px drawing). */
export function syntheticSet(count: number, seed = 0): FaceSet {
  const size = 32;
  const pixels = new Uint8Array(count * size * size);
  for (let n = 0; n < count; n++) {
    const face = drawSyntheticFace(seed, n);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) pixels[n * size * size + y * size + x] = face.pixels[y * 4 * 128 + x * 4];
  }
  return generatedFaceSet(pixels, count, size, 'synthetic');
}

/** `count` generated faces drawn at `size`x`size` (not subsampled), bytes, image after image. */
export function drawnFaces(count: number, seed: number, size: number): Uint8Array {
  const pixels = new Uint8Array(count * size * size);
  for (let n = 0; n < count; n++) pixels.set(drawSyntheticFace(seed, n, size).pixels, n * size * size);
  return pixels;
}
