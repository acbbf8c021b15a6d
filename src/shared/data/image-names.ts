import { basename, extname } from 'node:path';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff', '.gif']);

/** True for file names that look like images (by extension; hidden files are not). */
export function isImageName(name: string): boolean {
  const base = basename(name);
  return !base.startsWith('.') && IMAGE_EXTENSIONS.has(extname(base).toLowerCase());
}
