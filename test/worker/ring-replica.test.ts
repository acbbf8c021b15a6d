import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { MemoryRing } from '../../src/shared/collective/memory-transport';
import type { RunConfig } from '../../src/shared/config';
import { createLogger } from '../../src/shared/log';
import { loadCheckpoint, saveCheckpoint } from '../../src/shared/train/checkpoint';
import { readWeights } from '../../src/shared/train/replica-weights';
import { trainOnFaceSet } from '../../src/shared/train/train-loop';
import { ringReplica } from '../../src/worker/ring-replica';
import { maxAbsDiff, syntheticFaces, tinyConfig } from '../shared/train/_tiny';

test.before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const faces = syntheticFaces(40, 16);
const tmp = () => mkdtempSync(join(tmpdir(), 'facefill-replica-'));

const weightsOf = async (dir: string): Promise<Float32Array> => {
  const { networks } = await loadCheckpoint(dir);
  const flat = readWeights(networks, 'all');
  networks.generator.dispose();
  networks.discriminator.dispose();
  return flat;
};

/** Trains `config` as `worldSize` ring replicas in this process; resolves with rank 0's checkpoint and every rank's digests. */
async function replicas(config: RunConfig, worldSize: number): Promise<{ dir: string; digests: string[][] }> {
  const ring = new MemoryRing(worldSize, createLogger('test', 'silent'));
  const out = tmp();
  const digests: string[][] = Array.from({ length: worldSize }, () => []);
  await Promise.all(
    Array.from({ length: worldSize }, (_, rank) =>
      trainOnFaceSet({
        config,
        set: faces,
        manifestHash: 'm',
        outDir: join(out, `rank-${rank}`),
        resume: false,
        replica: ringReplica({ transport: ring.transport(rank), run: 'eq', timeoutMs: 30_000 }, async (content, digest) => {
          digests[rank].push(digest);
          return rank === 0 ? saveCheckpoint(join(out, 'rank-0'), content) : null;
        }),
      }),
    ),
  );
  return { dir: join(out, 'rank-0'), digests };
}

test('2 replicas of the training loop with batch b each end with the weights of 1 process with batch 2b, and agree bit for bit', async (t) => {
  // No batch norm or minibatch features: their statistics are per shard (as in DDP without SyncBN).
  const config = tinyConfig({
    generator: { norm: 'none', dropout: 0.2 },
    discriminator: { minibatch: 'none', dropout: 0.2 },
    data: { batchSize: 8 },
    train: { steps: 4, checkpointEvery: 2 },
  });
  const single = tmp();
  await trainOnFaceSet({ config, set: faces, manifestHash: 'm', outDir: single, resume: false });
  const { dir, digests } = await replicas(config, 2);
  t.is(digests[0].length, 2, 'a digest per checkpoint');
  t.deepEqual(digests[1], digests[0], 'the replicas diverged');
  const drift = maxAbsDiff(await weightsOf(dir), await weightsOf(single));
  t.true(drift < 1e-4, `data-parallel weights differ from single-process weights by ${drift}`);
});

test('with batch norm, the averaged statistics make the replicas identical at every checkpoint', async (t) => {
  const config = tinyConfig({ data: { batchSize: 8 }, train: { steps: 3, checkpointEvery: 2 } });
  const { digests } = await replicas(config, 2);
  t.is(digests[0].length, 2);
  t.deepEqual(digests[1], digests[0]);
});
