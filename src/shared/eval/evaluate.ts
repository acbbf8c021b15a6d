import type { OcclusionKind } from '../config/schema';
import type { FaceSet } from '../data/api';
import { occlusionMask } from '../data/occlusion';
import type { Inpainter } from './inpainter';
import { holeL1Percent, holePsnr, ssim } from './metrics';

/** The scores of one inpainter on one mask kind, each a mean over the images. */
export interface EvalRow {
  mask: OcclusionKind;
  inpainter: string;
  images: number;
  holePsnr: number;
  holeL1Percent: number;
  ssim: number;
}

/** An evaluation: a row per (mask kind, inpainter). */
export interface EvalReport {
  images: number;
  seed: number;
  rows: EvalRow[];
}

/** Options of {@link evaluate}. */
export interface EvalOptions {
  /** Seeds the masks; every inpainter sees the same masks. */
  seed: number;
  /** Evaluate at most this many images (the first ones of the set). */
  limit?: number;
  /** Images handed to an inpainter at once. */
  batchSize?: number;
}

/**
 * Scores every inpainter on every mask kind over the images of a set: mean hole PSNR,
 * mean hole L1 (%) and mean SSIM of the composited image. Masks are drawn per image from
 * the seed alone, so models and baselines are compared on identical inputs; eyes masks go
 * on the set's own eyes box.
 */
export async function evaluate(inpainters: readonly Inpainter[], set: FaceSet, maskKinds: readonly OcclusionKind[], options: EvalOptions): Promise<EvalReport> {
  const count = Math.min(set.count, options.limit ?? set.count);
  if (count === 0) throw new RangeError('evaluate: the split has no images');
  const batch = options.batchSize ?? 64;
  const size = set.size;
  const pixels = size * size;
  const rows: EvalRow[] = [];
  for (const kind of maskKinds) {
    const totals = inpainters.map(() => ({ psnr: 0, l1: 0, ssim: 0 }));
    for (let start = 0; start < count; start += batch) {
      const n = Math.min(batch, count - start);
      const images = Float32Array.from(set.pixels.subarray(start * pixels, (start + n) * pixels), (v) => v / 255);
      const masks = new Uint8Array(n * pixels);
      for (let i = 0; i < n; i++) masks.set(occlusionMask({ [kind]: 1 }, size, set.eyesBox, options.seed, start + i, 0).mask, i * pixels);
      for (const [k, inpainter] of inpainters.entries()) {
        const restored = await inpainter.inpaint(images, masks, n, size);
        for (let i = 0; i < n; i++) {
          const range = [i * pixels, (i + 1) * pixels] as const;
          const [r, o, m] = [restored.subarray(...range), images.subarray(...range), masks.subarray(...range)];
          totals[k].psnr += holePsnr(r, o, m);
          totals[k].l1 += holeL1Percent(r, o, m);
          totals[k].ssim += ssim(r, o, size);
        }
      }
    }
    inpainters.forEach((inp, k) => {
      rows.push({ mask: kind, inpainter: inp.name, images: count, holePsnr: totals[k].psnr / count, holeL1Percent: totals[k].l1 / count, ssim: totals[k].ssim / count });
    });
  }
  return { images: count, seed: options.seed, rows };
}

/** Formats a report as a fixed-width table, one line per (mask, inpainter). */
export function formatEvalTable(report: EvalReport): string {
  const header = ['mask', 'inpainter', 'hole PSNR (dB)', 'hole L1 (%)', 'SSIM'];
  const body = report.rows.map((r) => [r.mask, r.inpainter, r.holePsnr.toFixed(2), r.holeL1Percent.toFixed(2), r.ssim.toFixed(4)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [`${report.images} images, mask seed ${report.seed}`, line(header), ...body.map(line)].join('\n');
}
