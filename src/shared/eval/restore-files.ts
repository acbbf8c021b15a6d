import { stat, mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { listImages } from '../data/folder-source';
import { decodeGray, encodePng } from '../data/image-codec';
import { drawMask } from '../data/occlusion';
import { writeFileAtomic } from '../util/atomic-write';
import { mixSeed, Rng } from '../util/rng';
import type { OcclusionKind } from '../config/schema';
import type { Inpainter } from './inpainter';

/** Where the hole is: a fixed mask (from a PNG), or an occlusion kind drawn per file. */
export type MaskSpec = { mask: Uint8Array } | { kind: OcclusionKind; seed: number };

/** Options of {@link restoreFiles}. */
export interface RestoreOptions {
  /** An image file, or a folder of images. */
  input: string;
  /** A file (for a file input) or a folder (for a folder input). */
  out: string;
  mask: MaskSpec;
  inpainter: Inpainter;
  /** The model's image side. */
  size: number;
}

/** The outcome of a restore: the files written, and each file that failed with why. */
export interface RestoreResult {
  restored: string[];
  failed: { file: string; error: string }[];
}

/**
 * Restores one image or every image of a folder, file by file: each is read, converted to
 * grayscale `size`x`size` (an image already that size and gray is not resampled; one that
 * is not square is refused), occluded,
 * restored, and written as PNG under the same name (atomically). A missing, corrupt or
 * unreadable file is recorded in `failed` and the rest still run.
 */
export async function restoreFiles(options: RestoreOptions): Promise<RestoreResult> {
  const inputIsDir = (await stat(options.input).catch(() => null))?.isDirectory() ?? false;
  const files = inputIsDir ? await listImages(options.input) : [options.input];
  const result: RestoreResult = { restored: [], failed: [] };
  if (inputIsDir) await mkdir(options.out, { recursive: true });
  for (const [index, file] of files.entries()) {
    const target = inputIsDir ? join(options.out, basename(file)) : options.out;
    try {
      const pixels = await decodeGray(await readFile(file), options.size, file, { square: true });
      const mask = 'mask' in options.mask ? options.mask.mask : drawMask(options.mask.kind, options.size, new Rng(mixSeed(options.mask.seed, index)));
      const restored = await options.inpainter.inpaint(Float32Array.from(pixels, (v) => v / 255), mask, 1, options.size);
      const png = await encodePng(Uint8Array.from(restored, (v) => Math.round(v * 255)), options.size, options.size);
      await writeFileAtomic(target, png);
      result.restored.push(target);
    } catch (err) {
      result.failed.push({ file, error: (err as Error).message });
    }
  }
  return result;
}
