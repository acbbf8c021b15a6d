import type { FaceSet } from './api';
import { measureEyesBox, UTKFACE_EYES_BOX } from './eyes-box';

/**
 * A face set of generated pixels (no source files, no labels), for probes and tests: image i is
 * named `<prefix>-<i>.png` and has a hash made from its index; its eyes box is measured as ingest
 * measures it.
 */
export function generatedFaceSet(pixels: Uint8Array, count: number, size: number, prefix: string): FaceSet {
  return {
    eyesBox: measureEyesBox({ pixels, count, size }) ?? UTKFACE_EYES_BOX,
    size,
    count,
    pixels,
    hashes: Array.from({ length: count }, (_, i) => i.toString(16).padStart(64, '0')),
    labels: Array.from({ length: count }, () => ({ age: null, gender: null, race: null })),
    names: Array.from({ length: count }, (_, i) => `${prefix}-${i}.png`),
  };
}
