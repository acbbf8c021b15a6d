import type { OcclusionKind } from '../config/schema';
import type { FaceSet } from '../data/api';
import { occlusionMask } from '../data/occlusion';
import { type GridRow, renderGrid } from './grid';
import type { Inpainter } from './inpainter';

/**
 * Renders occluded | restored | original for the first `perKind` images of a set under each
 * mask kind (masks seeded and placed as in {@link evaluate}, so the grid shows evaluated samples).
 */
export async function sampleGrid(inpainter: Inpainter, set: FaceSet, kinds: readonly OcclusionKind[], seed: number, perKind = 4): Promise<Buffer> {
  const pixels = set.size * set.size;
  const rows: GridRow[] = [];
  for (const kind of kinds) {
    for (let i = 0; i < Math.min(perKind, set.count); i++) {
      const image = Float32Array.from(set.pixels.subarray(i * pixels, (i + 1) * pixels), (v) => v / 255);
      const { mask } = occlusionMask({ [kind]: 1 }, set.size, set.eyesBox, seed, i, 0);
      rows.push({ image, mask, restored: await inpainter.inpaint(image, mask, 1, set.size) });
    }
  }
  return renderGrid(rows, set.size);
}
