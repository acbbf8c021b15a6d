import { encodePng } from '../data/image-codec';

/** One row of a sample grid: the same face occluded, restored and original, pixels in [0, 1]. */
export interface GridRow {
  /** The input image; its hole pixels are drawn as a checkerboard. */
  image: ArrayLike<number>;
  mask: ArrayLike<number>;
  restored: ArrayLike<number>;
}

/**
 * Renders rows of occluded | restored | original as one grayscale PNG, with a white gap
 * between cells and each cell scaled up `scale` times (nearest neighbour) for viewing.
 */
export async function renderGrid(rows: readonly GridRow[], size: number, scale = 2): Promise<Buffer> {
  const gap = 2;
  const cell = size * scale;
  const width = 3 * cell + 4 * gap;
  const height = rows.length * cell + (rows.length + 1) * gap;
  const out = new Uint8Array(width * height).fill(255);
  const checker = (x: number, y: number) => ((Math.floor(x / 4) + Math.floor(y / 4)) % 2 ? 64 : 192);
  rows.forEach((row, r) => {
    const cells: ((i: number, x: number, y: number) => number)[] = [
      (i, x, y) => (row.mask[i] ? checker(x, y) / 255 : row.image[i]),
      (i) => row.restored[i],
      (i) => row.image[i],
    ];
    cells.forEach((value, c) => {
      const top = gap + r * (cell + gap);
      const left = gap + c * (cell + gap);
      for (let y = 0; y < cell; y++) {
        for (let x = 0; x < cell; x++) {
          const i = Math.floor(y / scale) * size + Math.floor(x / scale);
          out[(top + y) * width + left + x] = Math.round(255 * Math.min(1, Math.max(0, value(i, x, y))));
        }
      }
    });
  });
  return encodePng(out, width, height);
}
