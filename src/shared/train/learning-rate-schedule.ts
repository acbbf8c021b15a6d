import { COSINE_FLOOR, type RunConfig } from '../config/schema';

/**
 * The factor on `optimizer.lrG` and `lrD` at 0-based step `step` of a `train.steps` run: 1
 * throughout for `constant`; for `cosine`, from 1 at step 0 along half a cosine to
 * {@link COSINE_FLOOR} at the last step. A function of the step alone, so a resumed run
 * steps at the rates the uninterrupted one would have.
 */
export function learningRateFactor(config: Pick<RunConfig, 'optimizer' | 'train'>, step: number): number {
  if (config.optimizer.schedule === 'constant') return 1;
  const last = Math.max(1, config.train.steps - 1);
  const progress = Math.min(1, Math.max(0, step / last));
  return COSINE_FLOOR + ((1 - COSINE_FLOOR) * (1 + Math.cos(Math.PI * progress))) / 2;
}
