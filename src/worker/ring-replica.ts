import { createAllReduce, ringAllReduce, ringBroadcast, type RingAllReduceOptions } from '../shared/collective';
import type { CheckpointContent } from '../shared/train/checkpoint';
import { readWeights, weightsSha256, writeWeights } from '../shared/train/replica-weights';
import type { Replica } from '../shared/train/train-loop';

/**
 * A training run as one replica of a ring: gradients all-reduced to their mean, rank 0's
 * initial weights broadcast to every rank, and at each checkpoint the batch-norm moving
 * statistics (which each rank updated from its own shard) averaged, as Horovod does, which
 * makes every replica's weights equal again. `publish` then gets the checkpoint with the
 * sha256 of those weights (the same on every rank unless the replicas diverged) and returns
 * the directory it wrote, if any. The broadcast waits up to `startupTimeoutMs`.
 */
export function ringReplica(
  collective: RingAllReduceOptions,
  publish: (content: CheckpointContent, digest: string) => Promise<string | null>,
  startupTimeoutMs = collective.timeoutMs,
): Replica {
  const { rank, worldSize } = collective.transport;
  return {
    rank,
    worldSize,
    reduce: createAllReduce(collective),
    synchronize: async (networks, step) => {
      const weights = readWeights(networks, 'all');
      // The first collective is also the start-up barrier: it waits for the slowest rank's
      // dataset download and model build, which the per-step bound need not cover.
      await ringBroadcast(weights, { step, phase: 'init' }, { ...collective, timeoutMs: startupTimeoutMs });
      if (rank !== 0) writeWeights(networks, 'all', weights);
    },
    checkpoint: async (content) => {
      const stats = readWeights(content.networks, 'statistics');
      if (stats.length > 0) {
        const mean = await ringAllReduce(stats, { step: content.step - 1, phase: 'stats' }, { ...collective, inPlace: true, reduction: 'mean' });
        writeWeights(content.networks, 'statistics', mean);
      }
      return publish(content, weightsSha256(content.networks));
    },
  };
}
