import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { MemoryRing } from '../../../src/shared/collective/memory-transport';
import { createLogger } from '../../../src/shared/log';
import { createAllReduce } from '../../../src/shared/collective/ring-allreduce';
import { buildDiscriminator, buildGenerator } from '../../../src/shared/model';
import { makeBatch } from '../../../src/shared/train/batch';
import { EpochPlan } from '../../../src/shared/train/epoch-plan';
import { ShardPlan } from '../../../src/shared/train/shard-plan';
import { Trainer } from '../../../src/shared/train/trainer';
import { maxAbsDiff, syntheticFaces, tinyConfig } from '../train/_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

// No batch norm or minibatch features (their statistics are per shard, as in DDP without
// SyncBN); seeded dropout and noisy labels stay on: they are keyed by global sample id.
const config = tinyConfig({
  generator: { norm: 'none', dropout: 0.2 },
  discriminator: { minibatch: 'none', dropout: 0.2 },
  data: { batchSize: 8 },
});
const faces = syntheticFaces(40, 16);
const STEPS = 3;

function newTrainer(parallel?: ConstructorParameters<typeof Trainer>[2]): Trainer {
  const networks = { generator: buildGenerator(config.generator, 16, 9), discriminator: buildDiscriminator(config.discriminator, 16, 9) };
  return new Trainer(config, networks, parallel);
}

const weights = (t: Trainer): Float32Array =>
  Float32Array.from([t.generator, t.discriminator].flatMap((m) => m.getWeights().flatMap((w) => Array.from(w.dataSync()))));

test('2 ranks with batch b each end with the weights of 1 process with batch 2b, and bit-identical to each other', async (t) => {
  const plan = new EpochPlan(faces.count, config);
  const single = newTrainer();
  for (let s = 0; s < STEPS; s++) {
    const { epoch, ids } = plan.at(s);
    await single.step(makeBatch(faces, ids, config, epoch), s);
  }

  const ring = new MemoryRing(2, createLogger('test', 'silent'));
  const shards = new ShardPlan(plan, 2);
  const ranks = [0, 1].map((rank) => newTrainer({ reduce: createAllReduce({ transport: ring.transport(rank), run: 'dp', timeoutMs: 10_000 }), share: shards.weight(rank) }));
  for (let s = 0; s < STEPS; s++) {
    await Promise.all(
      ranks.map((trainer, rank) => {
        const { epoch, ids } = shards.at(s, rank);
        return trainer.step(makeBatch(faces, ids, config, epoch), s);
      }),
    );
  }
  const [w0, w1] = ranks.map(weights);
  t.deepEqual(w0, w1, 'the replicas diverged');
  const drift = maxAbsDiff(w0, weights(single));
  t.true(drift < 1e-4, `data-parallel weights differ from single-process weights by ${drift}`);
  t.true(maxAbsDiff(w0, weights(newTrainer())) > 1e-3, 'training moved the weights');
});
