import test from 'ava';
import type { RingTransport } from '../../../src/shared/collective/api';
import { MemoryRing } from '../../../src/shared/collective/memory-transport';
import { ringAllReduceMean } from '../../../src/shared/collective/ring-allreduce';
import { CollectiveMessageError, CollectiveTimeoutError } from '../../../src/shared/errors';
import { Rng } from '../../../src/shared/util/rng';

const rng = new Rng(11);
// Small integers: every partial sum is exact in float32, so the mean is checked exactly.
const ints = (n: number) => Float32Array.from({ length: n }, () => rng.int(-1000, 1000));

function allReduce(ring: MemoryRing, inputs: Float32Array[], step = 0, chunkValues?: number, transports?: RingTransport[]): Promise<Float32Array[]> {
  const n = inputs.length;
  return Promise.all(
    inputs.map((data, rank) =>
      ringAllReduceMean(data, step, 'D', { rank, worldSize: n, run: 'r1', transport: transports?.[rank] ?? ring.transport(rank), timeoutMs: 2000, chunkValues }),
    ),
  );
}

test('the mean matches an independent sum for N = 1..16 and awkward lengths, bit-identical on every rank', async (t) => {
  for (let n = 1; n <= 16; n++) {
    for (const length of [0, 1, n - 1, n + 1, 7, 97, 10_007]) {
      const inputs = Array.from({ length: n }, () => ints(length));
      const expected = Float32Array.from({ length }, (_, i) => inputs.reduce((s, x) => s + x[i], 0) / n);
      const results = await allReduce(new MemoryRing(n), inputs, 0, 64);
      for (const r of results) t.deepEqual(Array.from(r), Array.from(results[0]), `ranks differ at N=${n} length=${length}`);
      const worst = results[0].reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i])), 0);
      t.true(worst <= 1e-4 * 1000, `N=${n} length=${length}: off by ${worst}`);
    }
  }
});

test('float data: all ranks agree bit for bit, within float tolerance of the float64 mean', async (t) => {
  const n = 5;
  const inputs = Array.from({ length: n }, () => Float32Array.from({ length: 1001 }, () => rng.normal()));
  const results = await allReduce(new MemoryRing(n), inputs, 3, 17);
  for (const r of results) t.deepEqual(r, results[0]);
  for (let i = 0; i < 1001; i++) t.true(Math.abs(results[0][i] - inputs.reduce((s, x) => s + x[i], 0) / n) < 1e-5);
});

test('the chunk size does not change the result', async (t) => {
  const inputs = Array.from({ length: 3 }, () => Float32Array.from({ length: 500 }, () => rng.normal()));
  const whole = await allReduce(new MemoryRing(3), inputs, 0, 1 << 20);
  const chunked = await allReduce(new MemoryRing(3), inputs, 0, 7);
  t.deepEqual(chunked[1], whole[1]);
});

test('a silent neighbour fails the all-reduce with a timeout naming it, never a hang', async (t) => {
  const ring = new MemoryRing(3);
  const pending = [0, 1].map((rank) =>
    ringAllReduceMean(ints(30), 0, 'G', { rank, worldSize: 3, run: 'r1', transport: ring.transport(rank), timeoutMs: 200 }),
  );
  const errors = await Promise.all(pending.map((p) => p.then(() => null, (e: Error) => e)));
  t.true(errors[0] instanceof CollectiveTimeoutError);
  t.regex(errors[0]!.message, /rank 0 received nothing from rank 2 within 200 ms/);
});

test('stale or foreign messages are dropped; a malformed one fails the step instead of corrupting it', async (t) => {
  const inputs = Array.from({ length: 2 }, () => ints(10));
  const clean = await allReduce(new MemoryRing(2), inputs, 5);
  const ring = new MemoryRing(2);
  ring.inject(0, { header: { run: 'r1', step: 4, phase: 'D', round: 0, chunk: 0, length: 5 }, payload: new Float32Array(5).fill(1e9) });
  ring.inject(1, { header: { run: 'other-run', step: 5, phase: 'D', round: 0, chunk: 0, length: 5 }, payload: new Float32Array(5).fill(1e9) });
  t.deepEqual(await allReduce(ring, inputs, 5), clean);

  const hostile = new MemoryRing(2);
  hostile.inject(0, { header: { run: 'r1', step: 5, phase: 'D', round: 0, chunk: 0, length: 3 }, payload: new Float32Array(3) });
  const [r0] = await Promise.allSettled(allReduceEach(hostile, inputs, 5));
  t.is(r0.status, 'rejected');
  if (r0.status === 'rejected') {
    t.true(r0.reason instanceof CollectiveMessageError);
    t.regex((r0.reason as Error).message, /from rank 1 does not fit: length 3 \(expected 5\)/);
  }
});

// Like allReduce, but one promise per rank so a test can look at each.
function allReduceEach(ring: MemoryRing, inputs: Float32Array[], step: number): Promise<Float32Array>[] {
  return inputs.map((data, rank) =>
    ringAllReduceMean(data, step, 'D', { rank, worldSize: inputs.length, run: 'r1', transport: ring.transport(rank), timeoutMs: 300 }),
  );
}
