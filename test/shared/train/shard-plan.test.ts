import test from 'ava';
import { ConfigInvalidError } from '../../../src/shared/errors';
import { EpochPlan } from '../../../src/shared/train/epoch-plan';
import { ShardPlan } from '../../../src/shared/train/shard-plan';
import { tinyConfig } from './_tiny';

const plan = (images: number, batchSize: number, world: number, seed = 5) =>
  new ShardPlan(new EpochPlan(images, tinyConfig({ data: { batchSize }, train: { seed } })), world);

test('the ranks of a step together take exactly the single-process global batch, in order', (t) => {
  const single = new EpochPlan(103, tinyConfig({ data: { batchSize: 12 }, train: { seed: 5 } }));
  for (const world of [1, 2, 3, 4, 5, 6, 7, 12]) {
    const sharded = plan(103, 12, world);
    for (let step = 0; step < 30; step++) {
      const parts = Array.from({ length: world }, (_, r) => sharded.at(step, r));
      t.deepEqual(
        parts.flatMap((p) => Array.from(p.ids)),
        Array.from(single.at(step).ids),
      );
      t.true(parts.every((p, r) => p.epoch === single.at(step).epoch && p.ids.length === sharded.samples(r)));
    }
  }
});

test('uneven slices differ by at most one sample, and the ranks\' weights sum to 1 in proportion to their samples', (t) => {
  for (const [batch, world] of [[16, 3], [12, 5], [8, 8], [9, 2]]) {
    const p = plan(100, batch, world);
    const sizes = Array.from({ length: world }, (_, r) => p.samples(r));
    t.is(sizes.reduce((a, b) => a + b, 0), batch);
    t.true(Math.max(...sizes) - Math.min(...sizes) <= 1, `${batch} over ${world}: ${sizes.join(', ')}`);
    const weights = Array.from({ length: world }, (_, r) => p.weight(r));
    t.true(Math.abs(weights.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    weights.forEach((w, r) => t.is(w, sizes[r] / batch));
  }
});

test('within an epoch no sample is used twice across ranks and steps, and at most one partial batch is dropped', (t) => {
  const images = 103;
  const p = plan(images, 12, 4);
  const steps = Math.floor(images / 12);
  for (const epoch of [0, 1, 2]) {
    const seen = new Set<number>();
    for (let s = epoch * steps; s < (epoch + 1) * steps; s++) {
      for (let r = 0; r < 4; r++) {
        const { ids, epoch: e } = p.at(s, r);
        t.is(e, epoch);
        for (const id of ids) {
          t.false(seen.has(id), `sample ${id} twice in epoch ${epoch}`);
          seen.add(id);
        }
      }
    }
    t.is(seen.size, steps * 12);
    t.true(images - seen.size < 12);
  }
});

test('a batch smaller than the world, and ranks outside the world, are refused by name', (t) => {
  t.throws(() => plan(100, 2, 3), { instanceOf: ConfigInvalidError, message: /batchSize 2 is smaller than the 3 ranks/ });
  t.throws(() => plan(100, 12, 4).at(0, 4), { message: /rank 4/ });
});
