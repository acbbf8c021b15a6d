import { createHash } from 'node:crypto';
import { createAllReduce, ringAllReduce, ringBroadcast, type RingAllReduceOptions } from '../shared/collective';
import type { CheckpointContent } from '../shared/train/checkpoint';
import { readWeights, weightsSha256, writeWeights } from '../shared/train/replica-weights';
import type { Replica } from '../shared/train/train-loop';
import { decodeTrainingState, encodeTrainingState, trainingStateLength } from '../shared/train/training-state';

/** What a ring replica hands to its worker. */
export interface ReplicaHooks {
  /** Gets each checkpoint with the sha256 of its weights (equal on every rank unless the replicas diverged); resolves with the directory written, if any. */
  publish(content: CheckpointContent, digest: string): Promise<string | null>;
  /** Hears the step count and the sha256 of the training state every rank holds once the ring's start-up broadcast is done. */
  synced(steps: number, digest: string): Promise<void>;
}

/**
 * A training run as one replica of a ring: gradients all-reduced, rank 0's whole training
 * state (weights, both Adam states, step count) broadcast to every rank when the ring starts,
 * whether the ring is a run's first or one regrouped after a fault (a new rank that never
 * trained receives it all), and at each checkpoint the batch-norm moving statistics (which each
 * rank updated from its own shard) averaged, as Horovod does, which makes every replica's
 * weights equal again. The broadcast waits up to `startupTimeoutMs`.
 */
export function ringReplica(collective: RingAllReduceOptions, hooks: ReplicaHooks, startupTimeoutMs = collective.timeoutMs): Replica {
  const { rank, worldSize } = collective.transport;
  return {
    rank,
    worldSize,
    reduce: createAllReduce(collective),
    synchronize: async (trainer, steps) => {
      const state = rank === 0 ? await encodeTrainingState(trainer, steps) : new Float32Array(trainingStateLength(trainer));
      // The first collective is also the start-up barrier: it waits for the slowest rank's
      // dataset download and model build, which the per-step bound need not cover.
      await ringBroadcast(state, { step: 0, phase: 'init' }, { ...collective, timeoutMs: startupTimeoutMs });
      const synced = rank === 0 ? steps : await decodeTrainingState(trainer, state);
      await hooks.synced(synced, createHash('sha256').update(new Uint8Array(state.buffer, state.byteOffset, state.byteLength)).digest('hex'));
      return synced;
    },
    checkpoint: async (content) => {
      const stats = readWeights(content.networks, 'statistics');
      if (stats.length > 0) {
        const mean = await ringAllReduce(stats, { step: content.step - 1, phase: 'stats' }, { ...collective, inPlace: true, reduction: 'mean' });
        writeWeights(content.networks, 'statistics', mean);
      }
      return hooks.publish(content, weightsSha256(content.networks));
    },
  };
}
