import { Counter, Histogram, type Registry } from 'prom-client';
import type { GradientReducer } from '../train/api';

/** Every collective metric's name, for the dashboard and alert checks. */
export const COLLECTIVE_METRIC_NAMES = ['facefill_allreduce_bytes_total', 'facefill_allreduce_duration_seconds'] as const;

const NETWORK = { D: 'discriminator', G: 'generator' } as const;

/**
 * The all-reduce as a worker sees it: bytes of gradient reduced and how long each reduction
 * took (including waiting for the slowest rank, which is what a step pays), per network.
 */
export class CollectiveMetrics {
  private readonly bytes: Counter<'network'>;
  private readonly duration: Histogram<'network'>;

  constructor(registry: Registry) {
    const on = { registers: [registry] };
    this.bytes = new Counter({ name: 'facefill_allreduce_bytes_total', help: 'Bytes of gradient all-reduced.', labelNames: ['network'], ...on });
    this.duration = new Histogram({
      name: 'facefill_allreduce_duration_seconds',
      help: 'Wall time of one gradient all-reduce, waiting for the slowest rank included.',
      labelNames: ['network'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      ...on,
    });
  }

  /** Wraps a reducer so that every reduction is counted and timed. */
  instrument(reduce: GradientReducer): GradientReducer {
    return async (flat, phase, step) => {
      const began = performance.now();
      const out = await reduce(flat, phase, step);
      const network = NETWORK[phase];
      this.bytes.inc({ network }, flat.byteLength);
      this.duration.observe({ network }, (performance.now() - began) / 1000);
      return out;
    };
  }
}
