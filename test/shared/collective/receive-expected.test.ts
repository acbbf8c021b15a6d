import test from 'ava';
import type { ExpectedChunk } from '../../../src/shared/collective/api';
import { encodeFrame } from '../../../src/shared/collective/frame';
import { judgeHeader, receiveExpected } from '../../../src/shared/collective/receive-expected';
import { CollectiveMessageError, CollectiveTimeoutError } from '../../../src/shared/errors';
import { capturedLog } from './_transport-suite';

const expect: ExpectedChunk = { run: 'r', step: 4, phase: 'G', round: 1, chunk: 0, length: 2, dtype: 'f32' };
const header = (over: Partial<ExpectedChunk>) => ({ ...expect, ...over });

test('another run or an earlier operation is stale; a later operation or another round, chunk or length is an error', (t) => {
  t.is(judgeHeader(expect, expect, 'rank 0'), 'accept');
  for (const stale of [{ run: 'old' }, { step: 3 }, { step: 3, phase: 'G' as const }, { phase: 'D' as const }, { run: 'old', step: 9 }]) {
    t.is(judgeHeader(header(stale), expect, 'rank 0'), 'stale', JSON.stringify(stale));
  }
  for (const bad of [{ step: 5, phase: 'D' as const }, { round: 0 }, { round: 2 }, { chunk: 1 }, { length: 3 }, { dtype: 'f16' as const }]) {
    t.throws(() => judgeHeader(header(bad), expect, 'rank 0'), { instanceOf: CollectiveMessageError }, JSON.stringify(bad));
  }
});

test('a stream of stale messages does not extend the deadline', async (t) => {
  const { log, records } = capturedLog();
  const stale = encodeFrame(header({ step: 1 }), Float32Array.of(0, 0));
  const next = () => new Promise<Buffer[]>((resolve) => setTimeout(() => resolve(stale), 10));
  const started = performance.now();
  const err = await t.throwsAsync(receiveExpected(next, expect, 200, { self: 1, from: 0 }, log), { instanceOf: CollectiveTimeoutError });
  const elapsed = performance.now() - started;
  // Without a fixed deadline the endless stream would never let it give up.
  t.true(elapsed >= 195 && elapsed < 2000, `gave up after ${elapsed} ms`);
  const dropped = /^rank 1 received nothing from rank 0 within 200 ms while waiting for step 4 phase G round 1 chunk 0 \(2 f32 values\) of run 'r'; dropped (\d+) stale message\(s\) meanwhile/.exec(err.message);
  t.truthy(dropped, err.message);
  t.is(records.length, Number(dropped?.[1]));
});
