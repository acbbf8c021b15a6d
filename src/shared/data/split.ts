import { ConfigInvalidError } from '../errors';
import type { Split } from './api';

/** Fractions of train, val and test; they sum to 1. */
export type SplitFractions = readonly [train: number, val: number, test: number];

/** The default 80/10/10 split. */
export const DEFAULT_SPLIT: SplitFractions = [0.8, 0.1, 0.1];

/**
 * Assigns an image to a split from its content hash alone, so the assignment does not
 * depend on file order or names, and byte-identical copies always land in the same split.
 */
export function splitOf(sha256Hex: string, fractions: SplitFractions = DEFAULT_SPLIT): Split {
  // The first 52 bits of a sha256 are uniform in [0, 1) when scaled, and exact in a double.
  const u = Number.parseInt(sha256Hex.slice(0, 13), 16) / 2 ** 52;
  if (u < fractions[0]) return 'train';
  return u < fractions[0] + fractions[1] ? 'val' : 'test';
}

/** Validates split fractions: three non-negative numbers summing to 1 (within rounding). */
export function parseSplitFractions(text: string): SplitFractions {
  const parts = text.split(',').map(Number);
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p) || p < 0) || Math.abs(parts[0] + parts[1] + parts[2] - 1) > 1e-6) {
    throw new ConfigInvalidError(`split '${text}': expected three non-negative fractions summing to 1, e.g. 0.8,0.1,0.1`);
  }
  return [parts[0], parts[1], parts[2]];
}
