import { pack } from 'msgpackr';
import type { TestFn } from 'ava';
import pino from 'pino';
import type { ExpectedChunk, Transport } from '../../../src/shared/collective/api';
import { encodeFrame } from '../../../src/shared/collective/frame';
import { type RingAllReduceOptions, ringAllReduce } from '../../../src/shared/collective/ring-allreduce';
import { CollectiveMessageError, CollectiveTimeoutError } from '../../../src/shared/errors';
import type { Logger } from '../../../src/shared/log';
import { Rng } from '../../../src/shared/util/rng';
import { nearestHalf } from './_half-reference';

/** A ring of N transports of one implementation, with a way to play a rogue sender. */
export interface RingHarness {
  transports: Transport[];
  /** Sends raw frames to `rank` as if from its left neighbour; they arrive after earlier injections. */
  inject(rank: number, frames: Buffer[]): Promise<void>;
  close(): Promise<void>;
}

/** Builds a ring of `n` transports reporting dropped messages to `log`. */
export type RingFactory = (n: number, log: Logger) => Promise<RingHarness>;

/** A logger whose records the test can read. */
export function capturedLog(): { log: Logger; records: { msg: string }[] } {
  const records: { msg: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void records.push(JSON.parse(line) as { msg: string }) });
  return { log, records };
}

/** Small integers: every partial sum is exact in float32, so the mean has one right answer. */
export const ints = (rng: Rng, length: number): Float32Array => Float32Array.from({ length }, () => rng.int(-1000, 1000));

/** The mean of `inputs` computed independently: exact float64 sums, rounded once to float32. */
export function exactMean(inputs: Float32Array[]): Float32Array {
  return exactSum(inputs).map((s) => s / inputs.length);
}

/** The exact element-wise sum (small integers sum exactly in float32 in any order). */
export function exactSum(inputs: Float32Array[]): Float32Array {
  return Float32Array.from({ length: inputs[0].length }, (_, i) => inputs.reduce((s, x) => s + x[i], 0));
}

/** Index of the first element whose bits differ (so -0 and NaN count), or -1. */
export function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/**
 * The ring's result computed directly, as the reference the implementation must match bit for
 * bit: segment k of N (the ring's split) is summed from rank k's values on, in ring order, in
 * float32 (with fp16, each partial sum that travels rounded to half first), then finished
 * once by its owner (divided for a mean, and with fp16 rounded to half). World size 1 is the identity.
 */
export function ringReference(inputs: Float32Array[], reduction: 'sum' | 'mean', compression: 'none' | 'fp16' = 'none'): Float32Array {
  const n = inputs.length;
  const length = inputs[0].length;
  if (n === 1) return inputs[0].slice();
  const wire = compression === 'fp16' ? nearestHalf : (x: number) => x;
  const out = new Float32Array(length);
  for (let k = 0; k < n; k++) {
    for (let i = Math.floor((k * length) / n); i < Math.floor(((k + 1) * length) / n); i++) {
      let sum = wire(inputs[k][i]);
      for (let j = 1; j < n; j++) {
        sum = Math.fround(sum + inputs[(k + j) % n][i]);
        if (j < n - 1) sum = wire(sum);
      }
      out[i] = wire(Math.fround(sum / (reduction === 'sum' ? 1 : n)));
    }
  }
  return out;
}

/** Floats of every magnitude from 1e-30 to 1e30 and both signs, so that the order of a sum changes its bits. */
export const wideFloats = (rng: Rng, length: number): Float32Array => Float32Array.from({ length }, () => rng.normal() * 10 ** rng.int(-30, 30));

/** Runs one all-reduce on every rank of `ring`. */
export function allReduce(
  ring: Transport[],
  inputs: Float32Array[],
  step: number,
  extra: Partial<RingAllReduceOptions> = {},
): Promise<Float32Array[]> {
  return Promise.all(inputs.map((data, rank) => ringAllReduce(data, { step, phase: 'D' }, { transport: ring[rank], run: 'suite', timeoutMs: 5000, ...extra })));
}

const frames = (header: unknown, payloadBytes: number): Buffer[] => [pack(header), Buffer.alloc(payloadBytes)];
const header = (over: object = {}) => ({ run: 'suite', step: 5, phase: 'D', round: 0, chunk: 0, length: 4, dtype: 'f32', ...over });

/** The behaviour every Transport must show, run against each implementation. */
export function transportSuite(test: TestFn, name: string, make: RingFactory, maxWorld: number): void {
  const withRing = async (n: number, body: (h: RingHarness, log: ReturnType<typeof capturedLog>) => Promise<void>) => {
    const log = capturedLog();
    const h = await make(n, log.log);
    try {
      await body(h, log);
    } finally {
      await h.close();
    }
  };

  test(`${name}: the mean of integers is exact for N = 1..${maxWorld} and lengths 0, 1, N-1, N+1, primes, 1e5+3, bit-identical on every rank`, async (t) => {
    const rng = new Rng(21);
    for (let n = 1; n <= maxWorld; n++) {
      await withRing(n, async (h) => {
        const lengths = [...new Set([0, 1, n - 1, n + 1, 7, 13, 1009, 100_003])];
        for (const [step, length] of lengths.entries()) {
          const inputs = Array.from({ length: n }, () => ints(rng, length));
          const expected = exactMean(inputs);
          const results = await allReduce(h.transports, inputs, step, { chunkBytes: 4096 });
          for (const [rank, r] of results.entries()) t.is(firstBitDifference(r, expected), -1, `N=${n} length=${length} rank ${rank}`);
        }
      });
    }
  });

  test(`${name}: float data is within float32 rounding of the float64 mean, bit-identical on every rank`, async (t) => {
    const n = Math.min(maxWorld, 5);
    const rng = new Rng(5);
    const inputs = Array.from({ length: n }, () => Float32Array.from({ length: 10_007 }, () => rng.normal()));
    await withRing(n, async (h) => {
      const results = await allReduce(h.transports, inputs, 0, { chunkBytes: 256 });
      for (const r of results) t.is(firstBitDifference(r, results[0]), -1);
      const worst = results[0].reduce((m, v, i) => Math.max(m, Math.abs(v - inputs.reduce((s, x) => s + x[i], 0) / n)), 0);
      t.true(worst < 1e-6, `off by ${worst}`);
    });
  });

  test(`${name}: floats of every magnitude give the bits of the ring-order reference, sum and mean, in chunks, on every rank`, async (t) => {
    const rng = new Rng(31);
    for (let n = 2; n <= Math.min(maxWorld, 5); n++) {
      await withRing(n, async (h) => {
        for (const [step, reduction] of (['sum', 'mean'] as const).entries()) {
          const inputs = Array.from({ length: n }, () => wideFloats(rng, 3001));
          const expected = ringReference(inputs, reduction);
          const results = await allReduce(h.transports, inputs, step, { chunkBytes: 512, reduction });
          for (const [rank, r] of results.entries()) t.is(firstBitDifference(r, expected), -1, `N=${n} ${reduction} rank ${rank}`);
        }
      });
    }
  });

  test(`${name}: with fp16 compression every rank ends with the same bits, those of the fp16 reference, within half precision of the float64 mean`, async (t) => {
    const rng = new Rng(32);
    for (let n = 2; n <= Math.min(maxWorld, 4); n++) {
      await withRing(n, async (h) => {
        // Gradient-like values: mostly small, some tiny (half subnormals), a few large.
        const inputs = Array.from({ length: n }, () => Float32Array.from({ length: 5003 }, () => rng.normal() * 10 ** rng.int(-7, 2)));
        const results = await allReduce(h.transports, inputs, 0, { chunkBytes: 1000, compression: 'fp16' });
        const expected = ringReference(inputs, 'mean', 'fp16');
        for (const [rank, r] of results.entries()) t.is(firstBitDifference(r, expected), -1, `N=${n} rank ${rank}`);
        // Each half rounding (the first rank's values, every forwarded partial sum, the mean)
        // errs by at most 2^-11 of its value, and by at most 2^-25 below half's normal range.
        let worst = 0;
        results[0].forEach((v, i) => {
          const exact = inputs.reduce((s, x) => s + x[i], 0) / n;
          const magnitude = inputs.reduce((s, x) => s + Math.abs(x[i]), 0) / n;
          const bound = 2 ** -11 * (n * magnitude + Math.abs(exact)) + n * 2 ** -25;
          worst = Math.max(worst, Math.abs(v - exact) / bound);
        });
        t.true(worst <= 1, `N=${n}: an error of ${worst} times the bound`);
      });
    }
  });

  test(`${name}: chunks smaller than a segment give the same bits as whole segments`, async (t) => {
    const rng = new Rng(8);
    const inputs = Array.from({ length: 3 }, () => Float32Array.from({ length: 1000 }, () => rng.normal()));
    await withRing(3, async (h) => {
      const [whole] = await allReduce(h.transports, inputs, 0);
      for (const [step, chunkBytes] of [4, 12, 400].entries()) {
        const chunked = await allReduce(h.transports, inputs, step + 1, { chunkBytes });
        for (const r of chunked) t.is(firstBitDifference(r, whole), -1, `chunkBytes ${chunkBytes}`);
      }
    });
  });

  test(`${name}: in place, each rank's own array ends holding the mean`, async (t) => {
    const rng = new Rng(9);
    const inputs = Array.from({ length: 4 }, () => ints(rng, 333));
    const expected = exactMean(inputs);
    await withRing(4, async (h) => {
      const results = await allReduce(h.transports, inputs, 0, { inPlace: true, chunkBytes: 64 });
      results.forEach((r, rank) => t.is(r, inputs[rank]));
      for (const r of results) t.is(firstBitDifference(r, expected), -1);
    });
  });

  // Serial: it times the failure, which other tests' CPU work in this process would delay.
  test.serial(`${name}: a silent neighbour fails the all-reduce with a timeout naming it, never a hang`, async (t) => {
    await withRing(3, async (h) => {
      const started = performance.now();
      // Rank 2 never joins: rank 0 waits for it, rank 1 for rank 0's forwarded chunks.
      const outcomes = await Promise.allSettled(
        [0, 1].map((rank) => ringAllReduce(new Float32Array(30), { step: 0, phase: 'G' }, { transport: h.transports[rank], run: 'suite', timeoutMs: 500 })),
      );
      const elapsed = performance.now() - started;
      const [r0, r1] = outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error) : null));
      t.true(r0 instanceof CollectiveTimeoutError && r1 instanceof CollectiveTimeoutError);
      t.regex(r0!.message, /^rank 0 received nothing from rank 2 within 500 ms while waiting for step 0 phase G round 0 chunk 0/);
      t.regex(r1!.message, /^rank 1 received nothing from rank 0 within 500 ms/);
      t.true(elapsed >= 490 && elapsed < 3000, `failed after ${elapsed} ms`);
    });
  });

  test(`${name}: malformed or misfitting messages are refused by name, and a later all-reduce is exact`, async (t) => {
    const expect: ExpectedChunk = { run: 'suite', step: 5, phase: 'D', round: 0, chunk: 0, length: 4, dtype: 'f32' };
    const cases: [string, Buffer[], RegExp][] = [
      ['one frame of garbage', [Buffer.from('garbage')], /rank 1 sent a message of 1 frame\(s\); expected 2/],
      ['three frames', [...frames(header(), 16), Buffer.alloc(4)], /a message of 3 frame\(s\)/],
      ['a header that is not MessagePack', [Buffer.from([0xd9, 0xff, 0x41]), Buffer.alloc(16)], /header frame that is not MessagePack/],
      ['a huge header', [Buffer.alloc(4096, 0x41), Buffer.alloc(16)], /header frame of 4096 bytes/],
      ['a header that is not a map', frames('hello', 16), /malformed header "hello"/],
      ['ill-typed fields', frames(header({ step: '5', phase: 'X', round: -1, chunk: 0.5, dtype: 'f64' }), 16), /malformed header .*step: .*phase: .*round: .*chunk: .*dtype: /],
      ['a payload not of whole floats', frames(header({ length: 1 }), 5), /payload of 5 bytes, not a whole number of f32 values/],
      ['a payload shorter than its header says', frames(header({ length: 3 }), 8), /payload of 8 bytes, but its header says 3 f32 values \(12 bytes\)/],
      ['another length than expected', frames(header({ length: 3 }), 12), /sent length 3 \(expected 4\) for step 5 phase D of run 'suite'/],
      ['another wire type', frames(header({ dtype: 'f16' }), 8), /sent dtype f16 \(expected f32\)/],
      ['another round', frames(header({ round: 1 }), 16), /sent round 1 \(expected 0\)/],
      ['another chunk', frames(header({ chunk: 2 }), 16), /sent chunk 2 \(expected 0\)/],
      ['a later step', frames(header({ step: 9 }), 16), /sent step 9 phase D while this rank is at step 5 phase D of run 'suite': ranks out of step/],
      ['a later phase', frames(header({ phase: 'G' }), 16), /sent step 5 phase G while this rank is at step 5 phase D/],
    ];
    await withRing(2, async (h) => {
      for (const [what, message, pattern] of cases) {
        await h.inject(0, message);
        await t.throwsAsync(h.transports[0].receive(expect, 2000), { instanceOf: CollectiveMessageError, message: pattern }, what);
      }
      const rng = new Rng(3);
      const inputs = [ints(rng, 50), ints(rng, 50)];
      const results = await allReduce(h.transports, inputs, 6, { chunkBytes: 40 });
      for (const r of results) t.is(firstBitDifference(r, exactMean(inputs)), -1);
    });
  });

  test(`${name}: messages of another run or an earlier operation are dropped with a warning`, async (t) => {
    await withRing(2, async (h, { records }) => {
      const expect: ExpectedChunk = { run: 'suite', step: 5, phase: 'G', round: 1, chunk: 0, length: 2, dtype: 'f32' };
      const poison = Float32Array.of(1e9, 1e9);
      await h.inject(0, encodeFrame({ ...expect, run: 'old-run' }, poison));
      await h.inject(0, encodeFrame({ ...expect, step: 4 }, poison));
      await h.inject(0, encodeFrame({ ...expect, phase: 'D' }, poison));
      await h.inject(0, encodeFrame(expect, Float32Array.of(3, 4)));
      t.deepEqual(Array.from(await h.transports[0].receive(expect, 2000)), [3, 4]);
      t.deepEqual(
        records.map((r) => r.msg),
        [
          "dropped a stale message: rank 1 sent run 'old-run' (this ring runs 'suite')",
          'dropped a stale message: rank 1 sent step 4 phase G, an operation before step 5 phase G',
          'dropped a stale message: rank 1 sent step 5 phase D, an operation before step 5 phase G',
        ],
      );
    });
  });

  test(`${name}: a hostile message fails that all-reduce; the ring's leftovers are dropped and the next one is exact`, async (t) => {
    const rng = new Rng(12);
    const inputs = [ints(rng, 100), ints(rng, 100), ints(rng, 100)];
    await withRing(3, async (h, { records }) => {
      await h.inject(0, [Buffer.from('garbage')]);
      // Rank 0 alone: the garbage is the only message it can get. Its chunks of step 5 stay
      // queued at rank 1 and must not leak into step 6.
      await t.throwsAsync(ringAllReduce(inputs[0], { step: 5, phase: 'D' }, { transport: h.transports[0], run: 'suite', timeoutMs: 2000 }), {
        instanceOf: CollectiveMessageError,
      });
      const results = await allReduce(h.transports, inputs, 6, { chunkBytes: 40 });
      for (const r of results) t.is(firstBitDifference(r, exactMean(inputs)), -1);
      t.true(records.some((r) => r.msg === 'dropped a stale message: rank 0 sent step 5 phase D, an operation before step 6 phase D'));
    });
  });
}
