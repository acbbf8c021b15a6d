import { basename } from 'node:path';
import type { FaceLabels } from './api';

const UNKNOWN: FaceLabels = { age: null, gender: null, race: null };

/**
 * Parses UTKFace's `<age>_<gender>_<race>_<datetime>.jpg.chip.jpg` file names. A name that
 * breaks the pattern (a missing field, a missing dot, a space, out-of-range codes) gets
 * all-null labels: the image is still used, only its labels are unknown.
 */
export function parseUtkfaceLabels(name: string): FaceLabels {
  const m = /^(\d{1,3})_([01])_([0-4])_[^_\s]+$/.exec(stem(basename(name)));
  if (!m) return UNKNOWN;
  const age = Number(m[1]);
  if (age > 120) return UNKNOWN;
  return { age, gender: Number(m[2]), race: Number(m[3]) };
}

/** True when every label is known. */
export function isLabelled(labels: FaceLabels): boolean {
  return labels.age !== null && labels.gender !== null && labels.race !== null;
}

// "25_0_2_20170116174525125.jpg.chip.jpg" → "25_0_2_20170116174525125"; the datetime
// field may carry its own dots in generated names ("…_00017.synthetic.png").
function stem(file: string): string {
  const dot = file.indexOf('.');
  return dot < 0 ? file : file.slice(0, dot);
}
