import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZmqRing } from '../../../src/shared/collective/zmq-transport';
import type { RingFactory } from './_ring-suite';

/** A ring of ZeroMQ transports in this process, over tcp on loopback or over ipc. */
export function zmqRing(kind: 'tcp' | 'ipc'): RingFactory {
  return async (n) => {
    const dir = mkdtempSync(join(tmpdir(), 'ff-zmq-'));
    const rings = await Promise.all(
      Array.from({ length: n }, (_, r) => ZmqRing.bind({ bind: kind === 'tcp' ? 'tcp://127.0.0.1:*' : `ipc://${join(dir, `r${r}`)}`, left: (r - 1 + n) % n, right: (r + 1) % n })),
    );
    rings.forEach((ring, r) => ring.connect(rings[(r + 1) % n].endpoint));
    return { transports: rings, close: async () => void (await Promise.all(rings.map((x) => x.close()))) };
  };
}
