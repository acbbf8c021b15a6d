import type { DataConfig, EyesBox } from '../config/schema';
import type { FaceSet } from './api';

export type { EyesBox };

/**
 * The eyes box of UTKFace's aligned crops, measured by {@link measureEyesBox} on the 17,553
 * training faces of UTKFace.tar.gz at 64x64 (eyes on row 18, 26 px apart): the box of a
 * dataset where the measure finds no eyes.
 */
export const UTKFACE_EYES_BOX: Readonly<EyesBox> = Object.freeze({ top: 0.188, bottom: 0.391, left: 0.147, right: 0.838 });

// The box around the two eye centres, in eye distances: eyes are about half an eye distance
// wide, and crops of one set still differ by a pixel or two.
const HALF_HEIGHT = 0.25;
const MARGIN_BESIDE = 0.35;
// Below this many grey levels between the nose bridge and the darker eye, the mean face shows no eyes.
const MIN_CONTRAST = 8;

/**
 * Finds the eyes on a face set's mean face: the row and the pair of dark spots, mirrored
 * about a centre column near the middle, with the brightest bridge between them (both eyes
 * must be darker than the bridge: hair, a dark band across the whole face, is not a pair).
 * The search spans rows 12-60 % of the side, centres 40-60 % and eye distances 20-60 %.
 * Returns the box {@link HALF_HEIGHT} eye distances above and below the eye row and
 * {@link MARGIN_BESIDE} beyond each eye, or null when no pair stands out by
 * {@link MIN_CONTRAST} grey levels (not faces, or faces too unaligned for a mean to show eyes).
 */
export function measureEyesBox(set: Pick<FaceSet, 'size' | 'count' | 'pixels'>): EyesBox | null {
  const { size, count } = set;
  if (count === 0 || size < 8) return null;
  const area = size * size;
  const mean = new Float64Array(area);
  for (let i = 0; i < set.pixels.length; i++) mean[i % area] += set.pixels[i];
  // Rows smoothed 1-2-1: an eye is a few rows high, a pixel row is noise.
  const at = (r: number, c: number) => (mean[(r - 1) * size + c] + 2 * mean[r * size + c] + mean[(r + 1) * size + c]) / (4 * count);
  let best: { contrast: number; row: number; centre: number; half: number } | null = null;
  const span = (lo: number, hi: number) => [Math.max(1, Math.round(lo * size)), Math.min(size - 2, Math.round(hi * size))] as const;
  const [rowLo, rowHi] = span(0.12, 0.6);
  const [centreLo, centreHi] = span(0.4, 0.6);
  const [halfLo, halfHi] = [Math.max(1, Math.round(0.1 * size)), Math.round(0.3 * size)];
  for (let row = rowLo; row <= rowHi; row++) {
    for (let centre = centreLo; centre <= centreHi; centre++) {
      for (let half = halfLo; half <= halfHi && centre - half >= 0 && centre + half < size; half++) {
        const contrast = at(row, centre) - Math.max(at(row, centre - half), at(row, centre + half));
        if (best === null || contrast > best.contrast) best = { contrast, row, centre, half };
      }
    }
  }
  if (best === null || best.contrast < MIN_CONTRAST) return null;
  const distance = 2 * best.half;
  const frac = (px: number) => Math.min(1, Math.max(0, Number((px / size).toFixed(3))));
  return {
    top: frac(best.row + 0.5 - HALF_HEIGHT * distance),
    bottom: frac(best.row + 0.5 + HALF_HEIGHT * distance),
    left: frac(best.centre + 0.5 - best.half - MARGIN_BESIDE * distance),
    right: frac(best.centre + 0.5 + best.half + MARGIN_BESIDE * distance),
  };
}

/** The eyes box masks on `set` use: the config's explicit `data.eyesBox`, else the set's own. */
export function eyesBoxFor(data: Pick<DataConfig, 'eyesBox'>, set: Pick<FaceSet, 'eyesBox'>): EyesBox {
  return data.eyesBox ?? set.eyesBox;
}

/** `config` with `data.eyesBox` set to the box its masks on `set` use, as a run's checkpoints record it. */
export function withEyesBox<C extends { data: DataConfig }>(config: C, set: Pick<FaceSet, 'eyesBox'>): C {
  return { ...config, data: { ...config.data, eyesBox: eyesBoxFor(config.data, set) } };
}
