// One benchmark rank in its own process, driven over IPC (bench/_allreduce-ranks.ts): it opens
// two ZeroMQ ring transports, plaintext and CURVE, and a separate PULL socket for the
// point-to-point baseline, on 127.0.0.1 or the address it is told, then times what it is asked to.
import { Pull, Push } from 'zeromq';
import { DEFAULT_CHUNK_BYTES, ringAllReduce } from '../src/shared/collective/ring-allreduce';
import type { Compression } from '../src/shared/collective';
import { newRingKeys } from '../src/shared/collective/ring-keys';
import { type ZmqListener, ZmqTransport } from '../src/shared/collective/zmq-transport';
import { createLogger } from '../src/shared/log';
import { medianSeconds } from './_table';

/** What the parent asks. */
export type ToBenchRank =
  | { kind: 'open'; host?: string }
  | { kind: 'connect'; rank: number; worldSize: number; left: Opened; right: Opened }
  | { kind: 'allreduce'; curve: boolean; compression: Compression; bytes: number; reps: number }
  | { kind: 'p2p-receive'; reps: number }
  | { kind: 'p2p-send'; bytes: number; reps: number }
  | { kind: 'ring-stream'; bytes: number; reps: number }
  | { kind: 'exit' };

/**
 * What a rank answers: seconds per all-reduce, or for the point-to-point stream the wall-clock
 * time (ms since the epoch, comparable between processes on one host) of its first send or
 * last receipt.
 */
export type FromBenchRank =
  | ({ kind: 'opened' } & Opened)
  | { kind: 'done'; seconds: number }
  | { kind: 'at'; epochMs: number }
  | { kind: 'span'; startMs: number; endMs: number }
  | { kind: 'error'; message: string };

/** Where a rank listens: its plaintext and CURVE ring endpoints, its public key, and its point-to-point endpoint. */
export interface Opened {
  ring: string;
  curveRing: string;
  publicKey: string;
  p2p: string;
}

let listeners: { plain: ZmqListener; curve: ZmqListener } | null = null;
let rings: { plain: ZmqTransport; curve: ZmqTransport } | null = null;
const p2p = new Pull({ linger: 0 });
const p2pOut = new Push({ linger: 0 });
const epochMs = () => performance.timeOrigin + performance.now();
let step = 0;

async function handle(m: ToBenchRank): Promise<FromBenchRank> {
  switch (m.kind) {
    case 'open': {
      const log = createLogger('bench', 'error');
      const bind = `tcp://${m.host ?? '127.0.0.1'}:*`;
      const plain = await ZmqTransport.listen({ bind, maxMessageBytes: DEFAULT_CHUNK_BYTES, log });
      const curve = await ZmqTransport.listen({ bind, keys: newRingKeys(), maxMessageBytes: DEFAULT_CHUNK_BYTES, log });
      listeners = { plain, curve };
      await p2p.bind(bind);
      return { kind: 'opened', ring: plain.endpoints[0], curveRing: curve.endpoints[0], publicKey: curve.publicKey ?? '', p2p: p2p.lastEndpoint ?? '' };
    }
    case 'connect': {
      if (!listeners) throw new Error('connect before open');
      // Every link is connected now, so no timing includes a handshake.
      const plain = listeners.plain.place(m.rank, m.worldSize);
      const curve = listeners.curve.place(m.rank, m.worldSize, { leftPublicKey: m.left.publicKey });
      plain.connect(m.right.ring);
      curve.connect(m.right.curveRing, m.right.publicKey);
      rings = { plain, curve };
      p2pOut.connect(m.right.p2p);
      return { kind: 'done', seconds: 0 };
    }
    case 'allreduce': {
      if (!rings) throw new Error('allreduce before connect');
      const transport = m.curve ? rings.curve : rings.plain;
      const data = new Float32Array(m.bytes / 4).fill(transport.rank);
      const want = (transport.worldSize - 1) / 2;
      const seconds = await medianSeconds(m.reps, async () => {
        // In place, as a trainer reduces; the mean of ranks all holding (N-1)/2 stays (N-1)/2
        // (exact in half precision too for N <= 4).
        const out = await ringAllReduce(data, { step: step++, phase: 'G' }, { transport, run: 'bench', timeoutMs: 60_000, inPlace: true, compression: m.compression });
        if (out[0] !== want || out[out.length - 1] !== want) throw new Error(`all-reduce gave ${out[0]}, expected ${want}`);
      });
      return { kind: 'done', seconds };
    }
    case 'p2p-receive': {
      for (let i = 0; i < m.reps; i++) await p2p.receive();
      return { kind: 'at', epochMs: epochMs() };
    }
    case 'p2p-send': {
      const payload = Buffer.alloc(m.bytes, 1);
      const start = epochMs();
      for (let i = 0; i < m.reps; i++) await p2pOut.send(payload);
      return { kind: 'at', epochMs: start };
    }
    case 'ring-stream': {
      // The ring's traffic without the arithmetic: every rank streams to its right neighbour
      // while it receives from its left one.
      const payload = Buffer.alloc(m.bytes, 1);
      const startMs = epochMs();
      const sending = (async () => {
        for (let i = 0; i < m.reps; i++) await p2pOut.send(payload);
      })();
      for (let i = 0; i < m.reps; i++) await p2p.receive();
      await sending;
      return { kind: 'span', startMs, endMs: epochMs() };
    }
    case 'exit':
      await Promise.all([rings?.plain.close(), rings?.curve.close()]);
      p2p.close();
      p2pOut.close();
      process.exit(0);
  }
}

process.on('message', (m: ToBenchRank) => {
  handle(m).then(
    (r) => process.send?.(r),
    (err: Error) => process.send?.({ kind: 'error', message: err.message } satisfies FromBenchRank),
  );
});
