import type { TestFn } from 'ava';
import type { RingTransport } from '../../../src/shared/collective/api';
import { ringAllReduceMean } from '../../../src/shared/collective/ring-allreduce';
import { CollectiveTimeoutError } from '../../../src/shared/errors';
import { Rng } from '../../../src/shared/util/rng';

/** Builds a ring of n transports; `close` releases them. */
export type RingFactory = (n: number) => Promise<{ transports: RingTransport[]; close: () => Promise<void> }>;

/** The behaviour every ring transport must show, run against each implementation. */
export function ringSuite(test: TestFn, name: string, make: RingFactory, maxWorld = 5): void {
  test(`${name}: all-reduce equals the mean for N = 1..${maxWorld}, odd lengths, bit-identical on every rank`, async (t) => {
    const rng = new Rng(21);
    for (let n = 1; n <= maxWorld; n++) {
      const ring = await make(n);
      try {
        for (const [step, length] of [[0, 1], [1, n + 1], [2, 1009], [3, 100_003]].entries()) {
          const inputs = Array.from({ length: n }, () => Float32Array.from({ length: length[1] }, () => rng.normal()));
          const results = await Promise.all(
            inputs.map((data, rank) => ringAllReduceMean(data, step, 'G', { rank, worldSize: n, run: 'suite', transport: ring.transports[rank], timeoutMs: 5000, chunkValues: 4096 })),
          );
          for (const r of results) t.deepEqual(r, results[0], `ranks differ, N=${n}`);
          let worst = 0;
          for (let i = 0; i < length[1]; i++) worst = Math.max(worst, Math.abs(results[0][i] - inputs.reduce((s, x) => s + x[i], 0) / n));
          t.true(worst < 1e-5, `N=${n} length=${length[1]}: off by ${worst}`);
        }
      } finally {
        await ring.close();
      }
    }
  });

  test(`${name}: a silent neighbour is a timeout naming it`, async (t) => {
    const ring = await make(2);
    try {
      const err = await t.throwsAsync(
        ringAllReduceMean(new Float32Array(8), 0, 'D', { rank: 0, worldSize: 2, run: 'suite', transport: ring.transports[0], timeoutMs: 150 }),
        { instanceOf: CollectiveTimeoutError },
      );
      t.regex(err.message, /rank 1/);
    } finally {
      await ring.close();
    }
  });
}
