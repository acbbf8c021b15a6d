import { readFile } from 'node:fs/promises';
import { decodeGray, encodePng } from '../data/image-codec';
import { writeFileAtomic } from '../util/atomic-write';

/**
 * How a restore reads its input images and writes its results: {@link imageFileIo} (sharp and
 * durable file writes), or a stand-in that records or fails calls in tests. Calls on distinct
 * files may run at once.
 */
export interface RestoreIo {
  /** Reads `file` as gray `size`x`size` pixels, one byte each, refusing an image that is not square; rejects with why it cannot. */
  read(file: string, size: number): Promise<Uint8Array>;
  /** Writes gray `size`x`size` pixels as a PNG at `target`, atomically (whole or not at all). */
  write(target: string, pixels: Uint8Array, size: number): Promise<void>;
}

/** The {@link RestoreIo} of `facefill restore`: any image sharp reads in, PNG files written with {@link writeFileAtomic} out. */
export const imageFileIo: RestoreIo = {
  async read(file, size) {
    return decodeGray(await readFile(file), size, file, { square: true });
  },
  async write(target, pixels, size) {
    await writeFileAtomic(target, await encodePng(pixels, size, size));
  },
};
