import type { LossConfig } from '../config';
import { realLabel } from '../model/losses';
import { mixSeed, Rng } from '../util/rng';

/** The discriminator's per-sample targets for one step. */
export interface LabelTargets {
  /** Target of each real sample (0.9 with soft labels, else 1, plus noise when enabled). */
  real: Float32Array;
  /** Target of each fake sample (0, plus noise when enabled). */
  fake: Float32Array;
}

const REAL = 1;
const FAKE = 0;

/**
 * Draws the discriminator's targets for the samples `ids` of step `step`. With noisy labels
 * each target gets Normal(0, labelNoiseStd) noise seeded by (seed, step, GLOBAL sample id,
 * real/fake) and is clipped to [0, 1]; keying by the global id makes a sample's targets
 * the same whichever rank and batch position it lands on.
 */
export function labelTargets(
  loss: Pick<LossConfig, 'softLabels' | 'noisyLabels' | 'labelNoiseStd'>,
  seed: number,
  step: number,
  ids: ArrayLike<number>,
): LabelTargets {
  const draw = (base: number, kind: number): Float32Array =>
    Float32Array.from({ length: ids.length }, (_, n) => {
      if (!loss.noisyLabels) return base;
      const noisy = base + new Rng(mixSeed(seed, step, ids[n], kind)).normal(0, loss.labelNoiseStd);
      return Math.min(1, Math.max(0, noisy));
    });
  return { real: draw(realLabel(loss), REAL), fake: draw(0, FAKE) };
}
