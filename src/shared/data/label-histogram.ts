import type { FaceLabels } from './api';

/** Age buckets of the histogram: decades, the last one open-ended. */
export const AGE_BUCKETS = ['0-9', '10-19', '20-29', '30-39', '40-49', '50-59', '60-69', '70-79', '80-89', '90+'] as const;
/** Gender names in UTKFace code order (0 male, 1 female). */
export const GENDER_NAMES = ['male', 'female'] as const;
/** Race names in UTKFace code order (0 White .. 4 Others). */
export const RACE_NAMES = ['white', 'black', 'asian', 'indian', 'others'] as const;

/** Image counts per age bucket, gender and race, each with an `unknown` count for unparsed names. */
export interface LabelHistograms {
  age: Record<string, number>;
  gender: Record<string, number>;
  race: Record<string, number>;
}

/** The age bucket an age falls in, or `unknown`. */
export function ageBucket(age: number | null): string {
  return age === null ? 'unknown' : AGE_BUCKETS[Math.min(Math.floor(age / 10), AGE_BUCKETS.length - 1)];
}

/**
 * Counts labels per age bucket, gender and race. Every bucket is present (zero counts
 * included) in a fixed order, so the manifest a dataset gets does not depend on the
 * order its images were decoded in.
 */
export function labelHistograms(labels: Iterable<FaceLabels>): LabelHistograms {
  const zeros = (keys: readonly string[]) => Object.fromEntries([...keys, 'unknown'].map((k) => [k, 0]));
  const h: LabelHistograms = { age: zeros(AGE_BUCKETS), gender: zeros(GENDER_NAMES), race: zeros(RACE_NAMES) };
  for (const { age, gender, race } of labels) {
    h.age[ageBucket(age)]++;
    h.gender[gender === null ? 'unknown' : GENDER_NAMES[gender]]++;
    h.race[race === null ? 'unknown' : RACE_NAMES[race]]++;
  }
  return h;
}
