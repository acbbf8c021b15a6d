import { basename } from 'node:path';
import type { FaceLabels } from './api';

const UNKNOWN: FaceLabels = { age: null, gender: null, race: null };

/** The oldest age UTKFace records is 116; anything past this is a broken name, not an age. */
const MAX_AGE = 120;

// `<age>_<gender>_<race>_<digits>.<extensions>`: "25_0_2_20170116174525125.jpg.chip.jpg",
// or the generated "7_1_0_000042.synthetic.png". The dot must follow the digits directly
// and no space may appear anywhere.
const PATTERN = /^(\d{1,3})_([01])_([0-4])_\d+\.[A-Za-z0-9.]+$/;

/**
 * Parses UTKFace's `<age>_<gender>_<race>_<datetime>.jpg.chip.jpg` file names (any folder
 * prefix is ignored). A name that breaks the pattern (a missing field, a missing dot, a
 * space, an out-of-range code) gets all-null labels: the image is still used, only its
 * labels are unknown.
 */
export function parseUtkfaceLabels(name: string): FaceLabels {
  const m = PATTERN.exec(basename(name));
  if (!m) return UNKNOWN;
  const age = Number(m[1]);
  if (age > MAX_AGE) return UNKNOWN;
  return { age, gender: Number(m[2]), race: Number(m[3]) };
}

/** True when every label is known. */
export function isLabelled(labels: FaceLabels): boolean {
  return labels.age !== null && labels.gender !== null && labels.race !== null;
}
