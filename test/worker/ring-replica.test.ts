import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { MemoryRing } from '../../src/shared/collective/memory-transport';
import type { RunConfig } from '../../src/shared/config';
import { createLogger } from '../../src/shared/log';
import { saveCheckpoint } from '../../src/shared/train/checkpoint';
import { readWeights } from '../../src/shared/train/replica-weights';
import { trainOnFaceSet } from '../../src/shared/train/train-loop';
import { ringReplica } from '../../src/worker/ring-replica';
import { TrainingSession } from '../../src/shared/train/training-session';
import { checkpointWeights, maxAbsDiff, syntheticFaces, tinyConfig } from '../shared/train/_tiny';

test.before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const faces = syntheticFaces(40, 16);
const tmp = () => mkdtempSync(join(tmpdir(), 'facefill-replica-'));



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
        replica: ringReplica(
          { transport: ring.transport(rank), run: 'eq', timeoutMs: 30_000 },
          {
            publish: async (content, digest) => {
              digests[rank].push(digest);
              return rank === 0 ? saveCheckpoint(join(out, 'rank-0'), content) : null;
            },
            synced: async () => {},
          },
        ),
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
  const drift = maxAbsDiff(await checkpointWeights(dir), await checkpointWeights(single));
  t.true(drift < 1e-4, `data-parallel weights differ from single-process weights by ${drift}`);
});

test('with batch norm, the averaged statistics make the replicas identical at every checkpoint', async (t) => {
  const config = tinyConfig({ data: { batchSize: 8 }, train: { steps: 3, checkpointEvery: 2 } });
  const { digests } = await replicas(config, 2);
  t.is(digests[0].length, 2);
  t.deepEqual(digests[1], digests[0]);
});

// No batch norm or minibatch features, whose statistics depend on how the batch is split.
const splitFree = tinyConfig({
  generator: { norm: 'none', dropout: 0.2 },
  discriminator: { minibatch: 'none', dropout: 0.2 },
  data: { batchSize: 8 },
  train: { steps: 8, checkpointEvery: 0 },
});

test('3 ranks (slices of 2, 3 and 3) that lose one after step 4 regroup as 2 from the committed state and end within 1e-4 of one process', async (t) => {
  const single = tmp();
  await trainOnFaceSet({ config: splitFree, set: faces, manifestHash: 'm', outDir: single, resume: false });

  const sessions = await Promise.all([0, 1, 2].map(() => TrainingSession.open({ config: splitFree, set: faces, manifestHash: 'm', outDir: tmp(), resume: false })));
  const synced: { steps: number; digest: string }[][] = [[], [], []];
  const hooks = (rank: number) => ({ publish: async () => null, synced: async (steps: number, digest: string) => void synced[rank].push({ steps, digest }) });
  const first = new MemoryRing(3, createLogger('test', 'silent'));
  const transports = [0, 1, 2].map((r) => first.transport(r));
  const lost = new Error('rank 2 died');
  const generation0 = sessions.map((session, rank) =>
    session.train({
      replica: ringReplica({ transport: transports[rank], run: 'g0', timeoutMs: 30_000 }, hooks(rank)),
      onStep: async (r) => {
        if (rank === 2 && r.step === 3) {
          // Rank 2 dies after completing step 4; the coordinator's regroup closes the others' links.
          await Promise.all(transports.map((x) => x.close()));
          throw lost;
        }
      },
    }),
  );
  const ends = await Promise.allSettled(generation0);
  t.true(ends.every((e) => e.status === 'rejected'), 'every rank of the broken ring stopped');
  const committed = await Promise.all(sessions.slice(0, 2).map((s) => s.restore()));
  t.deepEqual(committed, [4, 4], 'the survivors hold the state after step 4: nothing is lost but the step in flight');

  const second = new MemoryRing(2, createLogger('test', 'silent'));
  const summaries = await Promise.all(
    sessions.slice(0, 2).map((session, rank) => session.train({ replica: ringReplica({ transport: second.transport(rank), run: 'g1', timeoutMs: 30_000 }, hooks(rank)) })),
  );
  t.deepEqual(summaries.map((s) => [s.startStep, s.stepsRun]), [[4, 4], [4, 4]]);
  t.is(synced[0][1].digest, synced[1][1].digest, 'the regrouped ring starts from one state');
  const weights = sessions.slice(0, 2).map((s) => readWeights(s.networks, 'all'));
  t.deepEqual(weights[0], weights[1], 'the replicas diverged');
  const drift = maxAbsDiff(weights[0], await checkpointWeights(single));
  t.true(drift < 1e-4, `a regrouped run's weights differ from one process's by ${drift}`);
  for (const s of sessions) s.dispose();
});

test('a rank that joins with no training state receives the whole of it, Adam moments and step count too', async (t) => {
  const veteran = await TrainingSession.open({ config: splitFree, set: faces, manifestHash: 'm', outDir: tmp(), resume: false });
  await veteran.train({ replica: { rank: 0, worldSize: 1, reduce: async (f) => f, synchronize: async (_t, s) => s, checkpoint: async () => null } });
  t.is(veteran.committedStep, 8);
  const newcomer = await TrainingSession.open({ config: { ...splitFree, train: { ...splitFree.train, seed: 99 } }, set: faces, manifestHash: 'm', outDir: tmp(), resume: false });
  const ring = new MemoryRing(2, createLogger('test', 'silent'));
  const digests: string[] = [];
  const more = { ...splitFree, train: { ...splitFree.train, steps: 10 } };
  await Promise.all([veteran.reconfigure(more), newcomer.reconfigure(more)]);
  const summaries = await Promise.all(
    [veteran, newcomer].map((session, rank) =>
      session.train({ replica: ringReplica({ transport: ring.transport(rank), run: 'join', timeoutMs: 30_000 }, { publish: async () => null, synced: async (_s, d) => void digests.push(d) }) }),
    ),
  );
  t.deepEqual(summaries.map((s) => s.startStep), [8, 8]);
  t.is(digests[0], digests[1]);
  t.is(newcomer.committedStep, 10);
  veteran.dispose();
  newcomer.dispose();
});
