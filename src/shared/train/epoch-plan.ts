import type { RunConfig } from '../config';
import { ConfigInvalidError } from '../errors';
import { mixSeed, Rng } from '../util/rng';

/** Which samples a training step uses. */
export interface StepSamples {
  epoch: number;
  /** GLOBAL sample indices of the step's batch, in batch order. */
  ids: Int32Array;
}

/**
 * The order in which a single process visits the training samples: the first
 * `data.maxImages` images of the train split (all when 0), shuffled per epoch by
 * `mixSeed(train.seed, epoch)`, cut into batches of `data.batchSize`, the last partial
 * batch dropped. Step k maps to the same batch whenever it is asked, so a run resumed at
 * step k continues exactly where it stopped.
 */
export class EpochPlan {
  /** Images the run trains on. */
  readonly imageCount: number;
  /** Full batches per epoch. */
  readonly stepsPerEpoch: number;
  /** Samples per step (the global batch). */
  readonly batchSize: number;
  private readonly seed: number;
  private cached: { epoch: number; order: Int32Array } | null = null;

  constructor(trainCount: number, config: Pick<RunConfig, 'data' | 'train'>) {
    const { batchSize, maxImages } = config.data;
    this.imageCount = maxImages > 0 ? Math.min(maxImages, trainCount) : trainCount;
    this.batchSize = batchSize;
    this.seed = config.train.seed;
    this.stepsPerEpoch = Math.floor(this.imageCount / batchSize);
    if (this.stepsPerEpoch === 0) {
      throw new ConfigInvalidError(
        `data.batchSize ${batchSize} exceeds the ${this.imageCount} training images available; use a batch of at most ${this.imageCount}`,
      );
    }
  }

  /** The epoch and sample ids of 0-based step `step`. */
  at(step: number): StepSamples {
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const start = (step % this.stepsPerEpoch) * this.batchSize;
    return { epoch, ids: this.order(epoch).slice(start, start + this.batchSize) };
  }

  private order(epoch: number): Int32Array {
    if (this.cached?.epoch !== epoch) {
      const ids = Array.from({ length: this.imageCount }, (_, i) => i);
      this.cached = { epoch, order: Int32Array.from(new Rng(mixSeed(this.seed, epoch)).shuffle(ids)) };
    }
    return this.cached.order;
  }
}
