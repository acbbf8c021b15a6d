import { ConfigInvalidError } from '../errors';
import type { EpochPlan, StepSamples } from './epoch-plan';

/**
 * How a synchronous data-parallel run splits each global batch across ranks: step k's
 * global batch is the single-process {@link EpochPlan}'s batch k whatever the world size, and
 * rank r takes its r-th contiguous slice, `floor(rB/N) .. floor((r+1)B/N)`. Slices may be
 * uneven (16 over 3 ranks: 5, 5, 6), so a rank's gradient counts in the mean by its
 * {@link weight}. N ranks together see exactly the samples (and, since masks, labels and
 * dropout are keyed by global sample id, exactly the inputs) of one process; within an epoch
 * no sample is used twice, and every rank runs the same number of steps (the epoch's last
 * partial global batch is dropped, as DistributedSampler's drop_last does). A world that
 * changes size mid-run keeps the global batch, so the run's data is unchanged.
 */
export class ShardPlan {
  constructor(
    private readonly epochs: EpochPlan,
    readonly worldSize: number,
  ) {
    const batch = epochs.batchSize;
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new ConfigInvalidError(`world size must be a positive integer, got ${worldSize}`);
    if (batch < worldSize) {
      throw new ConfigInvalidError(`data.batchSize ${batch} is smaller than the ${worldSize} ranks: every rank needs at least one sample a step`);
    }
  }

  /** The epoch and global sample ids that `rank` trains on at 0-based step `step`. */
  at(step: number, rank: number): StepSamples {
    const [from, to] = this.slice(rank);
    const { epoch, ids } = this.epochs.at(step);
    return { epoch, ids: ids.slice(from, to) };
  }

  /** Samples `rank` takes each step. */
  samples(rank: number): number {
    const [from, to] = this.slice(rank);
    return to - from;
  }

  /** The share of the global batch `rank` takes: what its mean gradient is weighted by in the sum over ranks. */
  weight(rank: number): number {
    return this.samples(rank) / this.epochs.batchSize;
  }

  private slice(rank: number): [number, number] {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.worldSize) throw new RangeError(`rank ${rank} is outside 0..${this.worldSize - 1}`);
    return sliceBounds(this.epochs.batchSize, this.worldSize, rank);
  }
}

// Where rank r's slice of a global batch of b over n ranks starts and ends.
function sliceBounds(b: number, n: number, rank: number): [number, number] {
  return [Math.floor((rank * b) / n), Math.floor(((rank + 1) * b) / n)];
}

/** Samples rank `rank` of `worldSize` takes of a global batch of `batchSize` (see {@link ShardPlan}). */
export function sliceSize(batchSize: number, worldSize: number, rank: number): number {
  const [from, to] = sliceBounds(batchSize, worldSize, rank);
  return to - from;
}
