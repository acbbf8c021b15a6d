import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Push } from 'zeromq';
import { ZmqTransport } from '../../../src/shared/collective/zmq-transport';
import { CollectiveClosedError, ConfigInvalidError } from '../../../src/shared/errors';
import { capturedLog, type RingFactory, transportSuite } from './_transport-suite';

/** A ring of ZeroMQ transports in this process, over tcp on loopback (free ports) or ipc in a temp dir. */
function zmqRing(kind: 'tcp' | 'ipc'): RingFactory {
  return async (n, log) => {
    const dir = mkdtempSync(join(tmpdir(), 'ff-zmq-'));
    const transports = await Promise.all(
      Array.from({ length: n }, (_, rank) =>
        ZmqTransport.bind({ rank, worldSize: n, bind: kind === 'tcp' ? 'tcp://127.0.0.1:*' : `ipc://${join(dir, `rank-${rank}`)}`, log }),
      ),
    );
    transports.forEach((tr, rank) => tr.connect(transports[(rank + 1) % n].endpoints[0]));
    const rogues = new Map<number, Push>();
    return {
      transports,
      inject: async (rank, frames) => {
        let rogue = rogues.get(rank);
        if (!rogue) {
          rogue = new Push({ linger: 0 });
          rogue.connect(transports[rank].endpoints[0]);
          rogues.set(rank, rogue);
        }
        await rogue.send(frames);
      },
      close: async () => {
        for (const rogue of rogues.values()) rogue.close();
        await Promise.all(transports.map((tr) => tr.close()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

transportSuite(test, 'zmq tcp', zmqRing('tcp'), 5);
transportSuite(test, 'zmq ipc', zmqRing('ipc'), 5);

test('zmq: the bound endpoint resolves a wildcard port, and a bad rank is a config error', async (t) => {
  const transport = await ZmqTransport.bind({ rank: 0, worldSize: 1, bind: ['tcp://127.0.0.1:*', 'tcp://127.0.0.1:*'], log: capturedLog().log });
  t.is(transport.endpoints.length, 2);
  for (const e of transport.endpoints) t.regex(e, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  await transport.close();
  await t.throwsAsync(ZmqTransport.bind({ rank: 2, worldSize: 2, bind: 'tcp://127.0.0.1:*' }), { instanceOf: ConfigInvalidError, message: /rank 2 of world size 2/ });
});

test('zmq: close ends a pending receive and a pending send with CollectiveClosedError at once, and is idempotent', async (t) => {
  // Never connected: a send waits for a peer forever, a receive for a message.
  const transport = await ZmqTransport.bind({ rank: 0, worldSize: 2, bind: 'tcp://127.0.0.1:*', log: capturedLog().log });
  const started = performance.now();
  const receiving = transport.receive({ run: 'z', step: 0, phase: 'D', round: 0, chunk: 0, length: 1 }, 60_000);
  const sending = transport.send({ run: 'z', step: 0, phase: 'D', round: 0, chunk: 0 }, new Float32Array(1));
  setTimeout(() => void transport.close(), 50);
  await t.throwsAsync(receiving, { instanceOf: CollectiveClosedError });
  await t.throwsAsync(sending, { instanceOf: CollectiveClosedError });
  t.true(performance.now() - started < 5000);
  await transport.close();
  await t.throwsAsync(transport.send({ run: 'z', step: 0, phase: 'D', round: 0, chunk: 0 }, new Float32Array(1)), { instanceOf: CollectiveClosedError });
});
