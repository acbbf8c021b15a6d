import test from 'ava';
import { MemoryRing } from '../../../src/shared/collective/memory-transport';
import { ringAllReduce } from '../../../src/shared/collective/ring-allreduce';
import { ringBroadcast } from '../../../src/shared/collective/ring-broadcast';
import { CollectiveMessageError, CollectiveTimeoutError } from '../../../src/shared/errors';
import { Rng } from '../../../src/shared/util/rng';
import { capturedLog } from './_transport-suite';

const quiet = () => capturedLog().log;
const random = (n: number, seed: number) => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
};

for (const [n, length, chunkBytes] of [[1, 5, 8], [2, 7, 8], [3, 1, 8], [4, 1000, 64], [5, 13, 4]] as const) {
  test(`world ${n}, ${length} values in ${chunkBytes}-byte chunks: every rank ends with rank 0's values, bit for bit`, async (t) => {
    const ring = new MemoryRing(n, quiet());
    const data = Array.from({ length: n }, (_, rank) => random(length, rank + 1));
    const root = data[0].slice();
    await Promise.all(data.map((d, rank) => ringBroadcast(d, { step: 0, phase: 'init' }, { transport: ring.transport(rank), run: 'b', timeoutMs: 5_000, chunkBytes })));
    for (const d of data) t.deepEqual(d, root);
  });
}

test('a broadcast and the all-reduces after it share the ring without mixing', async (t) => {
  const ring = new MemoryRing(3, quiet());
  const o = (rank: number) => ({ transport: ring.transport(rank), run: 'mix', timeoutMs: 5_000, chunkBytes: 8 });
  const weights = [0, 1, 2].map((rank) => random(9, 10 + rank));
  const grads = [0, 1, 2].map((rank) => Float32Array.from({ length: 9 }, (_, i) => rank * 3 + i));
  const results = await Promise.all(
    [0, 1, 2].map(async (rank) => {
      await ringBroadcast(weights[rank], { step: 4, phase: 'init' }, o(rank));
      return ringAllReduce(grads[rank], { step: 4, phase: 'D' }, o(rank));
    }),
  );
  t.deepEqual(weights[1], weights[0]);
  t.deepEqual(weights[2], weights[0]);
  for (const r of results) t.deepEqual(Array.from(r), Array.from({ length: 9 }, (_, i) => 3 + i));
});

test('a rank whose buffer has another length fails with an error naming the length', async (t) => {
  const ring = new MemoryRing(2, quiet());
  const o = (rank: number) => ({ transport: ring.transport(rank), run: 'len', timeoutMs: 2_000 });
  const [sent, received] = await Promise.allSettled([
    ringBroadcast(new Float32Array(10), { step: 0, phase: 'init' }, o(0)),
    ringBroadcast(new Float32Array(12), { step: 0, phase: 'init' }, o(1)),
  ]);
  t.is(sent.status, 'fulfilled');
  t.is(received.status, 'rejected');
  const err = (received as PromiseRejectedResult).reason as Error;
  t.true(err instanceof CollectiveMessageError, String(err));
  t.regex(err.message, /length 10 \(expected 12\)/);
});

test('a silent root fails the broadcast within the timeout, naming the left neighbour', async (t) => {
  const ring = new MemoryRing(3, quiet());
  const err = await t.throwsAsync(ringBroadcast(new Float32Array(4), { step: 0, phase: 'init' }, { transport: ring.transport(1), run: 's', timeoutMs: 200 }), {
    instanceOf: CollectiveTimeoutError,
  });
  t.regex(err.message, /rank 0/);
});
