import test from 'ava';
import type { ChunkTag, ExpectedChunk, Transport, WireType, WireValues } from '../../../src/shared/collective/api';
import { MemoryRing } from '../../../src/shared/collective/memory-transport';
import { createAllReduce, ringAllReduce } from '../../../src/shared/collective/ring-allreduce';
import { CollectiveClosedError, CollectiveTimeoutError, ConfigInvalidError } from '../../../src/shared/errors';
import { Rng } from '../../../src/shared/util/rng';
import { allReduce, capturedLog, exactMean, exactSum, firstBitDifference, ints } from './_transport-suite';

const quiet = () => capturedLog().log;

/** A transport that fails the test on any I/O. */
const noIo = (worldSize: number): Transport => ({
  rank: 0,
  worldSize,
  send: () => Promise.reject(new Error('unexpected send')),
  receive: () => Promise.reject(new Error('unexpected receive')),
  close: async () => undefined,
});

/** Wraps a transport, recording every send and receive in order. */
function recording(inner: Transport, events: string[]): Transport {
  return {
    rank: inner.rank,
    worldSize: inner.worldSize,
    send: (tag: ChunkTag, payload: WireValues) => {
      events.push(`send r${tag.round} c${tag.chunk} n${payload.length}`);
      return inner.send(tag, payload);
    },
    receive: async <T extends WireType>(expect: ExpectedChunk<T>, timeoutMs: number) => {
      const payload = await inner.receive(expect, timeoutMs);
      events.push(`recv r${expect.round} c${expect.chunk}`);
      return payload;
    },
    close: () => inner.close(),
  };
}

test('world size 1 and length 0 are the identity without any I/O', async (t) => {
  const data = Float32Array.of(1.5, -2, 3);
  const copy = await ringAllReduce(data, { step: 0, phase: 'D' }, { transport: noIo(1), run: 'r', timeoutMs: 100 });
  t.not(copy, data);
  t.deepEqual(copy, data);
  t.is(await ringAllReduce(data, { step: 0, phase: 'D' }, { transport: noIo(1), run: 'r', timeoutMs: 100, inPlace: true }), data);
  t.is((await ringAllReduce(new Float32Array(0), { step: 0, phase: 'D' }, { transport: noIo(4), run: 'r', timeoutMs: 100 })).length, 0);
});

test('chunks are pipelined: a chunk is forwarded before the rest of its round has arrived', async (t) => {
  const ring = new MemoryRing(2, quiet());
  const events: string[] = [];
  const inputs = [ints(new Rng(1), 80), ints(new Rng(2), 80)];
  const transports = [recording(ring.transport(0), events), ring.transport(1)];
  // Segments of 40 values in chunks of 10: 4 chunks a round.
  const results = await allReduce(transports, inputs, 0, { chunkBytes: 40 });
  t.is(firstBitDifference(results[0], exactMean(inputs)), -1);
  t.true(events.indexOf('send r1 c0 n10') < events.indexOf('recv r0 c3'), events.join(', '));
  t.deepEqual(
    events.filter((e) => e.startsWith('send')).map((e) => e.split(' ')[3]),
    Array(8).fill('n10'),
    'every message is one chunk',
  );
});

test('a right neighbour that accepts nothing fails the all-reduce with a timeout naming it', async (t) => {
  const ring = new MemoryRing(2, quiet());
  const inner = ring.transport(0);
  // Delivers, but its sends never report success: a peer that stopped reading.
  const stuck: Transport = {
    rank: 0,
    worldSize: 2,
    send: (tag, payload) => inner.send(tag, payload).then(() => new Promise<void>(() => undefined)),
    receive: (expect, ms) => inner.receive(expect, ms),
    close: () => inner.close(),
  };
  const [r0] = await Promise.allSettled([
    ringAllReduce(new Float32Array(4), { step: 0, phase: 'D' }, { transport: stuck, run: 'r', timeoutMs: 300 }),
    ringAllReduce(new Float32Array(4), { step: 0, phase: 'D' }, { transport: ring.transport(1), run: 'r', timeoutMs: 300 }),
  ]);
  t.is(r0.status, 'rejected');
  const err = (r0 as PromiseRejectedResult).reason as Error;
  t.true(err instanceof CollectiveTimeoutError);
  t.regex(err.message, /rank 0 could not hand its last messages of step 0 phase D to rank 1 within 300 ms/);
});

test('a closed transport fails the all-reduce with CollectiveClosedError', async (t) => {
  const ring = new MemoryRing(2, quiet());
  const transport = ring.transport(0);
  await transport.close();
  await t.throwsAsync(ringAllReduce(new Float32Array(4), { step: 0, phase: 'D' }, { transport, run: 'r', timeoutMs: 1000 }), { instanceOf: CollectiveClosedError });
});

test('bad options and steps are refused by name', (t) => {
  const transport = noIo(2);
  t.throws(() => createAllReduce({ transport, run: 'r', timeoutMs: 100, chunkBytes: 2 }), { instanceOf: ConfigInvalidError, message: /chunkBytes 2: expected an integer >= 4/ });
  t.throws(() => createAllReduce({ transport, run: 'r', timeoutMs: 0 }), { instanceOf: ConfigInvalidError, message: /timeoutMs 0/ });
  return t.throwsAsync(createAllReduce({ transport, run: 'r', timeoutMs: 100 })(new Float32Array(2), 'D', -1), { instanceOf: RangeError, message: /step -1/ });
});

test('createAllReduce is a GradientReducer: D then G of each step, the sum of the weighted gradients on every rank', async (t) => {
  const ring = new MemoryRing(3, quiet());
  const reducers = [0, 1, 2].map((rank) => createAllReduce({ transport: ring.transport(rank), run: 'r', timeoutMs: 2000, chunkBytes: 64 }));
  const rng = new Rng(4);
  for (let step = 0; step < 3; step++) {
    for (const phase of ['D', 'G'] as const) {
      const inputs = [0, 1, 2].map(() => ints(rng, 101));
      // Computed first: the reducer sums in place.
      const expected = exactSum(inputs);
      const results = await Promise.all(reducers.map((reduce, rank) => reduce(inputs[rank], phase, step)));
      for (const r of results) t.is(firstBitDifference(r, expected), -1, `step ${step} phase ${phase}`);
    }
  }
});
