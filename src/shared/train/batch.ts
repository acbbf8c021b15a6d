import type { RunConfig } from '../config';
import type { FaceSet } from '../data/api';
import { augmentSample, reframeBox } from '../data/augmentation';
import { eyesBoxFor } from '../data/eyes-box';
import { occlusionMask } from '../data/occlusion';

/**
 * One batch of training data, as plain arrays (the unit a data-parallel rank receives):
 * `count` images of `size`x`size`, row-major, one channel.
 */
export interface Batch {
  /** GLOBAL sample indices (into the train split), which seed masks, labels and dropout. */
  ids: Int32Array;
  /** count*size*size pixels in [-1, 1]. */
  real: Float32Array;
  /** count*size*size values, 1 = hole, 0 = known pixel. */
  mask: Float32Array;
  count: number;
  size: number;
  /** Epoch the batch belongs to (occlusions are redrawn every epoch). */
  epoch: number;
}

/**
 * Assembles the batch of the given global sample ids: their pixels augmented
 * (`data.augment`) and scaled to [-1, 1], and an occlusion, both drawn per sample from
 * (train seed, sample id, epoch), so the same sample gets the same augmentation and hole on
 * any rank and different ones each epoch.
 */
export function makeBatch(set: FaceSet, ids: ArrayLike<number>, config: Pick<RunConfig, 'data' | 'train'>, epoch: number): Batch {
  const size = set.size;
  const area = size * size;
  const count = ids.length;
  const eyes = eyesBoxFor(config.data, set);
  const { seed } = config.train;
  const real = new Float32Array(count * area);
  const mask = new Float32Array(count * area);
  for (let n = 0; n < count; n++) {
    const id = ids[n];
    if (!Number.isInteger(id) || id < 0 || id >= set.count) {
      throw new RangeError(`sample id ${id} is outside the face set (0..${set.count - 1})`);
    }
    const { pixels, reframing } = augmentSample(set.pixels.subarray(id * area, (id + 1) * area), size, config.data.augment, seed, id, epoch);
    // The eyes moved with the face.
    const hole = occlusionMask(config.data.occlusion, size, reframeBox(eyes, reframing, size), seed, id, epoch).mask;
    const base = n * area;
    for (let i = 0; i < area; i++) {
      real[base + i] = pixels[i] / 127.5 - 1;
      mask[base + i] = hole[i];
    }
  }
  return { ids: Int32Array.from(ids), real, mask, count, size, epoch };
}
