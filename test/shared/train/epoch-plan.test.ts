import test from 'ava';
import { ConfigInvalidError } from '../../../src/shared/errors';
import { EpochPlan } from '../../../src/shared/train/epoch-plan';
import { tinyConfig } from './_tiny';

const config = tinyConfig({ data: { batchSize: 4 } });

test('an epoch visits floor(n / batch) full batches of distinct ids, dropping the remainder', (t) => {
  const plan = new EpochPlan(18, config);
  t.is(plan.stepsPerEpoch, 4);
  for (const epoch of [0, 1]) {
    const ids = Array.from({ length: 4 }, (_, s) => Array.from(plan.at(epoch * 4 + s).ids)).flat();
    t.is(ids.length, 16);
    t.is(new Set(ids).size, 16);
    t.true(ids.every((id) => id >= 0 && id < 18));
    for (let s = 0; s < 4; s++) t.is(plan.at(epoch * 4 + s).epoch, epoch);
  }
});

test('the order is reshuffled each epoch and depends on the seed', (t) => {
  const order = (plan: EpochPlan, epoch: number) => Array.from({ length: 4 }, (_, s) => Array.from(plan.at(epoch * 4 + s).ids)).flat();
  const plan = new EpochPlan(16, config);
  t.notDeepEqual(order(plan, 0), order(plan, 1));
  t.deepEqual([...order(plan, 0)].sort((a, b) => a - b), [...order(plan, 1)].sort((a, b) => a - b));
  t.notDeepEqual(order(new EpochPlan(16, tinyConfig({ train: { seed: 99 } })), 0), order(plan, 0));
});

test('any step is answered the same whenever it is asked, as a resumed run needs', (t) => {
  const first = new EpochPlan(16, config);
  const sequential = Array.from({ length: 12 }, (_, s) => Array.from(first.at(s).ids));
  const second = new EpochPlan(16, config);
  for (const s of [11, 3, 7, 0, 8]) t.deepEqual(Array.from(second.at(s).ids), sequential[s]);
});

test('maxImages limits the run to the first images of the split', (t) => {
  const plan = new EpochPlan(100, tinyConfig({ data: { batchSize: 4, maxImages: 10 } }));
  t.is(plan.imageCount, 10);
  t.is(plan.stepsPerEpoch, 2);
  for (let s = 0; s < 10; s++) t.true(Array.from(plan.at(s).ids).every((id) => id < 10));
});

test('a batch larger than the images available is a config error naming both', (t) => {
  t.throws(() => new EpochPlan(3, config), { instanceOf: ConfigInvalidError, message: /batchSize 4 exceeds the 3 training images/ });
});
