import test from 'ava';
import { MemoryRing } from '../../../src/shared/collective/memory-transport';
import { ringAllReduce } from '../../../src/shared/collective/ring-allreduce';
import { CollectiveClosedError, CollectiveTimeoutError } from '../../../src/shared/errors';
import { capturedLog, transportSuite } from './_transport-suite';

transportSuite(
  test,
  'memory',
  async (n, log) => {
    const ring = new MemoryRing(n, log);
    const transports = Array.from({ length: n }, (_, rank) => ring.transport(rank));
    return {
      transports,
      inject: async (rank, frames) => ring.inject(rank, frames),
      close: async () => void (await Promise.all(transports.map((tr) => tr.close()))),
    };
  },
  16,
);

test.serial('memory: a peer silenced mid-run makes its right neighbour time out naming it', async (t) => {
  const ring = new MemoryRing(3, capturedLog().log);
  ring.silence(2);
  const outcomes = await Promise.allSettled(
    [0, 1, 2].map((rank) => ringAllReduce(new Float32Array(9).fill(rank), { step: 0, phase: 'D' }, { transport: ring.transport(rank), run: 'm', timeoutMs: 300 })),
  );
  const r0 = outcomes[0].status === 'rejected' ? (outcomes[0].reason as Error) : null;
  t.true(r0 instanceof CollectiveTimeoutError);
  t.regex(r0!.message, /rank 0 received nothing from rank 2 within 300 ms/);
  t.true(outcomes.every((o) => o.status === 'rejected'));
});

test('memory: closing a transport ends its pending receive with CollectiveClosedError', async (t) => {
  const ring = new MemoryRing(2, capturedLog().log);
  const transport = ring.transport(0);
  const pending = transport.receive({ run: 'm', step: 0, phase: 'D', round: 0, chunk: 0, length: 1, dtype: 'f32' }, 60_000);
  await transport.close();
  await t.throwsAsync(pending, { instanceOf: CollectiveClosedError, message: /rank 0 is closed/ });
  await t.throwsAsync(transport.send({ run: 'm', step: 0, phase: 'D', round: 0, chunk: 0 }, new Float32Array(1)), { instanceOf: CollectiveClosedError });
});
