import { readFile } from 'node:fs/promises';
import { MaskFileError } from '../errors';
import { decodeGray } from './image-codec';

/**
 * Loads a user-given mask image (any size; white = hole, black = known), resized to
 * `size`x`size` and thresholded at half intensity. A mask with no hole pixel is an error:
 * restoring through it would silently do nothing.
 */
export async function loadMaskFile(file: string, size: number): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new MaskFileError(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const gray = await decodeGray(bytes, size, file);
  const mask = Uint8Array.from(gray, (v) => (v >= 128 ? 1 : 0));
  if (!mask.includes(1)) throw new MaskFileError(file, 'has no hole (no pixel is white): white marks the region to restore');
  return mask;
}
