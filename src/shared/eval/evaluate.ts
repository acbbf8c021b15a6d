import type { OcclusionKind } from '../config/schema';
import type { FaceSet } from '../data/api';
import { applyReframing, IDENTITY_REFRAMING, JITTERS, type Reframing, reframeBox } from '../data/augmentation';
import { occlusionMask } from '../data/occlusion';
import { Rng } from '../util/rng';
import type { Inpainter } from './inpainter';
import { holeDetail, holeL1Percent, holePsnr, ssim } from './metrics';

/** The scores of one inpainter on one mask kind, each a mean over the images. */
export interface EvalRow {
  mask: OcclusionKind;
  /** `plain`: the faces as they are; `jitter`: the mean over the fixed re-framings of {@link JITTERS}. */
  framing: Framing;
  inpainter: string;
  images: number;
  holePsnr: number;
  holeL1Percent: number;
  ssim: number;
  /** The fills' {@link holeDetail} over the originals', each summed over the images; null when the originals' holes are flat. */
  holeDetail: number | null;
}

/** An evaluation: a row per (mask kind, inpainter). */
export interface EvalReport {
  images: number;
  seed: number;
  rows: EvalRow[];
}

/** How the evaluated faces are framed. */
export type Framing = 'plain' | 'jitter';

/** Options of {@link evaluate}. */
export interface EvalOptions {
  /** `jitter` scores every image under each of {@link JITTERS}; default `plain`. */
  framing?: Framing;
  /** Seeds the masks; every inpainter sees the same masks. */
  seed: number;
  /** Evaluate at most this many images (the first ones of the set). */
  limit?: number;
  /** Images handed to an inpainter at once. */
  batchSize?: number;
}

/**
 * Scores every inpainter on every mask kind over the images of a set: mean hole PSNR,
 * mean hole L1 (%), mean SSIM of the composited image, and the detail in the holes. Masks
 * are drawn per image from the seed alone, so models and baselines are compared on
 * identical inputs; eyes masks go on the set's own eyes box, moved with the face when it is
 * re-framed.
 */
export async function evaluate(inpainters: readonly Inpainter[], set: FaceSet, maskKinds: readonly OcclusionKind[], options: EvalOptions): Promise<EvalReport> {
  const count = Math.min(set.count, options.limit ?? set.count);
  if (count === 0) throw new RangeError('evaluate: the split has no images');
  const batch = options.batchSize ?? 64;
  const size = set.size;
  const pixels = size * size;
  const framing = options.framing ?? 'plain';
  const reframings = framing === 'jitter' ? JITTERS.map((j) => j.reframing) : [IDENTITY_REFRAMING];
  const samples = count * reframings.length;
  const rows: EvalRow[] = [];
  for (const kind of maskKinds) {
    const totals = inpainters.map(() => ({ psnr: 0, l1: 0, ssim: 0, detail: 0 }));
    // The originals' detail is the same for every inpainter.
    let originalDetail = 0;
    for (let start = 0; start < count; start += batch) {
      for (const reframing of reframings) {
        const n = Math.min(batch, count - start);
        const { images, masks } = framedBatch(set, start, n, reframing, kind, options.seed);
        for (let i = 0; i < n; i++) originalDetail += holeDetail(images.subarray(i * pixels, (i + 1) * pixels), masks.subarray(i * pixels, (i + 1) * pixels), size);
        for (const [k, inpainter] of inpainters.entries()) {
          const restored = await inpainter.inpaint(images, masks, n, size);
          for (let i = 0; i < n; i++) {
            const range = [i * pixels, (i + 1) * pixels] as const;
            const [r, o, m] = [restored.subarray(...range), images.subarray(...range), masks.subarray(...range)];
            totals[k].psnr += holePsnr(r, o, m);
            totals[k].l1 += holeL1Percent(r, o, m);
            totals[k].ssim += ssim(r, o, size);
            totals[k].detail += holeDetail(r, m, size);
          }
        }
      }
    }
    inpainters.forEach((inp, k) => {
      const t = totals[k];
      rows.push({ mask: kind, framing, inpainter: inp.name, images: count, holePsnr: t.psnr / samples, holeL1Percent: t.l1 / samples, ssim: t.ssim / samples, holeDetail: originalDetail > 0 ? t.detail / originalDetail : null });
    });
  }
  return { images: count, seed: options.seed, rows };
}

// Images [start, start + n) of the set re-framed, in [0, 1], with their masks of `kind`.
// The jitters are noise-free, so the generator handed to applyReframing is never drawn from.
function framedBatch(set: FaceSet, start: number, n: number, reframing: Reframing, kind: OcclusionKind, seed: number): { images: Float32Array; masks: Uint8Array } {
  const { size } = set;
  const pixels = size * size;
  const eyes = reframeBox(set.eyesBox, reframing, size);
  const images = new Float32Array(n * pixels);
  const masks = new Uint8Array(n * pixels);
  for (let i = 0; i < n; i++) {
    const face = set.pixels.subarray((start + i) * pixels, (start + i + 1) * pixels);
    const framed = reframing === IDENTITY_REFRAMING ? face : applyReframing(face, size, reframing, new Rng(0));
    for (let p = 0; p < pixels; p++) images[i * pixels + p] = framed[p] / 255;
    masks.set(occlusionMask({ [kind]: 1 }, size, eyes, seed, start + i, 0).mask, i * pixels);
  }
  return { images, masks };
}

/** Formats a report as a fixed-width table, one line per (mask, inpainter). */
export function formatEvalTable(report: EvalReport): string {
  const header = ['mask', 'framing', 'inpainter', 'hole PSNR (dB)', 'hole L1 (%)', 'SSIM', 'hole detail'];
  const body = report.rows.map((r) => [r.mask, r.framing, r.inpainter, r.holePsnr.toFixed(2), r.holeL1Percent.toFixed(2), r.ssim.toFixed(4), r.holeDetail === null ? '-' : r.holeDetail.toFixed(2)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [`${report.images} images, mask seed ${report.seed}`, line(header), ...body.map(line)].join('\n');
}
