import { ConfigInvalidError } from '../errors';
import type { EpochPlan, StepSamples } from './epoch-plan';

/**
 * How a synchronous data-parallel run splits each global batch across ranks: step k's
 * global batch is the single-process {@link EpochPlan}'s batch k, and rank r takes its r-th
 * contiguous slice. So N ranks of batch b/N see exactly the samples (and, since masks,
 * labels and dropout are keyed by global sample id, exactly the inputs) of one process of
 * batch b; within an epoch no sample is used twice, and every rank runs the same number of
 * steps (the epoch's last partial global batch is dropped, as DistributedSampler's
 * drop_last does).
 */
export class ShardPlan {
  /** Samples each rank takes per step. */
  readonly perRankBatch: number;

  constructor(
    private readonly epochs: EpochPlan,
    readonly worldSize: number,
  ) {
    const batch = epochs.batchSize;
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new ConfigInvalidError(`world size must be a positive integer, got ${worldSize}`);
    if (batch % worldSize !== 0) {
      throw new ConfigInvalidError(`data.batchSize ${batch} does not split evenly across ${worldSize} ranks; use a multiple of ${worldSize}`);
    }
    this.perRankBatch = batch / worldSize;
  }

  /** The epoch and global sample ids that `rank` trains on at 0-based step `step`. */
  at(step: number, rank: number): StepSamples {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.worldSize) throw new RangeError(`rank ${rank} is outside 0..${this.worldSize - 1}`);
    const { epoch, ids } = this.epochs.at(step);
    return { epoch, ids: ids.slice(rank * this.perRankBatch, (rank + 1) * this.perRankBatch) };
  }
}
