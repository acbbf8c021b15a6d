import { setTimeout as sleep } from 'node:timers/promises';
import { Push } from 'zeromq';
import { IpcDirectory } from '../../../src/shared/collective/ipc-directory';
import { newRingKeys, type RingKeys } from '../../../src/shared/collective/ring-keys';
import { ZmqTransport } from '../../../src/shared/collective/zmq-transport';
import type { Logger } from '../../../src/shared/log';
import type { RingFactory, RingHarness } from './_transport-suite';

/** How a test ring of ZeroMQ transports is built. */
export interface ZmqRingOptions {
  kind: 'tcp' | 'ipc';
  /** CURVE links with a fresh keypair per rank, or plaintext. */
  curve: boolean;
  maxMessageBytes?: number;
}

/** A ring of ZeroMQ transports in this process, with each rank's keys (null in plaintext). */
export interface ZmqRing extends RingHarness {
  transports: ZmqTransport[];
  keys: (RingKeys | null)[];
}

/**
 * Builds a ring of `n` ZeroMQ transports in this process, over tcp on loopback (free ports) or
 * ipc in a private directory. `inject` plays the left neighbour: in plaintext any socket can;
 * with CURVE it connects with the left neighbour's own keys, the only ones the socket admits.
 */
export async function zmqRing(o: ZmqRingOptions, n: number, log: Logger): Promise<ZmqRing> {
  const dir = IpcDirectory.create('ff-zmq-');
  const keys = Array.from({ length: n }, () => (o.curve ? newRingKeys() : null));
  const left = (rank: number) => (rank - 1 + n) % n;
  try {
    const transports = await Promise.all(
      keys.map((k, rank) =>
        ZmqTransport.bind({
          rank,
          worldSize: n,
          bind: o.kind === 'tcp' ? 'tcp://127.0.0.1:*' : dir.endpoint(`rank-${rank}`),
          keys: k,
          leftPublicKey: keys[left(rank)]?.publicKey,
          maxMessageBytes: o.maxMessageBytes,
          log,
        }),
      ),
    );
    transports.forEach((tr, rank) => tr.connect(transports[(rank + 1) % n].endpoints[0], keys[(rank + 1) % n]?.publicKey));
    const rogues = new Map<number, Push>();
    return {
      transports,
      keys,
      inject: async (rank, frames) => {
        let rogue = rogues.get(rank);
        if (!rogue) {
          const k = keys[left(rank)];
          rogue = new Push({ linger: 0, ...(k ? { curvePublicKey: k.publicKey, curveSecretKey: k.secretKey, curveServerKey: keys[rank]?.publicKey } : {}) });
          rogue.connect(transports[rank].endpoints[0]);
          rogues.set(rank, rogue);
        }
        await rogue.send(frames);
      },
      close: async () => {
        for (const rogue of rogues.values()) rogue.close();
        await Promise.all(transports.map((tr) => tr.close()));
        dir.close();
      },
    };
  } catch (err) {
    dir.close();
    throw err;
  }
}

/** {@link zmqRing} as a factory for the transport suite. */
export const zmqRingFactory =
  (o: ZmqRingOptions): RingFactory =>
  (n, log) =>
    zmqRing(o, n, log);

/** Polls `check` until it holds or `timeoutMs` passes (generous: tests share a loaded CPU); its last answer. */
export async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  for (const until = performance.now() + timeoutMs; performance.now() < until && !check(); ) await sleep(20);
  return check();
}
