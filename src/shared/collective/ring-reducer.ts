import type { GradientReducer } from '../train/api';
import { type RingOptions, ringAllReduceMean } from './ring-allreduce';

/**
 * The trainer's gradient reducer for a data-parallel rank: every flat D or G gradient is
 * averaged around the ring, so all replicas apply the same update.
 */
export function ringReducer(options: RingOptions): GradientReducer {
  return (flat, phase, step) => ringAllReduceMean(flat, step, phase, options);
}
