import test from 'ava';
import { BatchPrefetcher, type PrefetchOptions } from '../../../src/shared/train/batch-prefetcher';

// A batch that says which step it was built for and which build made it.
interface Item {
  step: number;
  build: number;
}

// A source that logs its builds and releases; `failAt` steps throw when built.
function source(failAt: ReadonlySet<number> = new Set()) {
  const log = { built: [] as number[], released: [] as Item[] };
  return {
    log,
    build: (step: number): Item => {
      log.built.push(step);
      if (failAt.has(step)) throw new Error(`no batch for step ${step}`);
      return { step, build: log.built.length };
    },
    release: (item: Item) => void log.released.push(item),
  };
}

// Lets the event loop run `n` turns (each prefetch build takes one).
const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const open = (options: Partial<PrefetchOptions> = {}, failAt?: ReadonlySet<number>) => {
  const src = source(failAt);
  return { src, batches: new BatchPrefetcher(src, { depth: 2, from: 0, end: 100, ...options }) };
};

test('each take hands out the batch of the step asked for, and the loop gets every step once', async (t) => {
  for (const depth of [0, 1, 2]) {
    const { src, batches } = open({ depth, end: 6 });
    const taken: number[] = [];
    for (let step = 0; step < 6; step++) {
      await turns(3);
      taken.push(batches.take(step).step);
    }
    batches.close();
    t.deepEqual(taken, [0, 1, 2, 3, 4, 5], `depth ${depth}`);
    t.deepEqual(src.log.built, [0, 1, 2, 3, 4, 5], `depth ${depth}: each step built once`);
    t.deepEqual(src.log.released, [], `depth ${depth}: nothing built in vain`);
  }
});

test('it builds up to depth batches ahead, one per turn of the event loop, and none past the end', async (t) => {
  const { src, batches } = open({ depth: 2, from: 3, end: 6 });
  t.is(batches.held, 0, 'nothing is built synchronously on open');
  await turns(1);
  t.deepEqual(src.log.built, [3]);
  await turns(5);
  t.deepEqual(src.log.built, [3, 4], 'bounded by depth');
  t.is(batches.take(3).step, 3);
  await turns(5);
  t.deepEqual(src.log.built, [3, 4, 5], 'bounded by the end');
  t.is(batches.held, 2);
  batches.close();
});

test('depth 0 builds each batch when it is taken and holds none', async (t) => {
  const { src, batches } = open({ depth: 0 });
  await turns(3);
  t.deepEqual(src.log.built, []);
  t.is(batches.take(0).step, 0);
  await turns(3);
  t.deepEqual(src.log.built, [0]);
  t.is(batches.held, 0);
  batches.close();
});

test('a take of a step not at the head of the queue (a rollback, a jump) frees what was built ahead and builds that step', async (t) => {
  const { src, batches } = open({ depth: 2 });
  await turns(3);
  batches.take(0);
  await turns(3);
  t.is(batches.held, 2);
  // Rolled back: steps 1 and 2 were built ahead for nothing.
  t.is(batches.take(0).step, 0);
  t.deepEqual(src.log.released.map((i) => i.step), [1, 2]);
  await turns(3);
  // Forward past the queue's head: step 1 is freed, step 2 is handed out as built.
  const ahead = batches.take(2);
  t.is(ahead.step, 2);
  t.deepEqual(src.log.released.map((i) => i.step), [1, 2, 1]);
  batches.close();
});

test('close frees every batch still held, stops building, and a later take throws', async (t) => {
  const { src, batches } = open({ depth: 2 });
  await turns(3);
  batches.take(0);
  await turns(1);
  t.deepEqual(src.log.built, [0, 1, 2]);
  batches.close();
  t.deepEqual(src.log.released.map((i) => i.step), [1, 2]);
  await turns(5);
  t.deepEqual(src.log.built, [0, 1, 2], 'no build after close');
  t.is(batches.held, 0);
  t.throws(() => batches.take(1), { message: /closed/ });
});

test('a build that fails ahead of time fails the take of its step, not the event loop, and the steps before it come through', async (t) => {
  const { src, batches } = open({ depth: 2 }, new Set([2]));
  await turns(5);
  t.is(batches.take(0).step, 0);
  await turns(5);
  t.is(batches.take(1).step, 1);
  await turns(5);
  t.deepEqual(src.log.built, [0, 1, 2], 'nothing is built after the failed step');
  t.throws(() => batches.take(2), { message: 'no batch for step 2' });
  batches.close();
});

test('a failed build that a rollback skips is dropped, and its step is built again when asked', async (t) => {
  const failing = new Set([1]);
  const { src, batches } = open({ depth: 1 }, failing);
  await turns(3);
  batches.take(0);
  await turns(3);
  failing.clear();
  t.is(batches.take(0).step, 0, 'the failed step-1 entry is discarded');
  await turns(3);
  t.is(batches.take(1).step, 1);
  t.deepEqual(src.log.built, [0, 1, 0, 1]);
  batches.close();
});
