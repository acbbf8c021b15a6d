// One benchmark rank in its own process, driven by bench/allreduce.bench.ts over IPC: it opens
// a ZeroMQ ring transport and a separate PULL socket for the point-to-point baseline, then
// times what it is asked to.
import { Pull, Push } from 'zeromq';
import { createAllReduce } from '../src/shared/collective/ring-allreduce';
import { ZmqTransport } from '../src/shared/collective/zmq-transport';
import type { GradientReducer } from '../src/shared/train/api';
import { createLogger } from '../src/shared/log';
import { medianSeconds } from './_table';

/** What the parent asks. */
export type ToBenchRank =
  | { kind: 'open'; rank: number; worldSize: number }
  | { kind: 'connect'; right: string; rightP2p: string }
  | { kind: 'allreduce'; bytes: number; reps: number }
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
  | { kind: 'opened'; ring: string; p2p: string }
  | { kind: 'done'; seconds: number }
  | { kind: 'at'; epochMs: number }
  | { kind: 'span'; startMs: number; endMs: number }
  | { kind: 'error'; message: string };

let transport: ZmqTransport | null = null;
let reduce: GradientReducer | null = null;
const p2p = new Pull({ linger: 0 });
const p2pOut = new Push({ linger: 0 });
const epochMs = () => performance.timeOrigin + performance.now();
let step = 0;

async function handle(m: ToBenchRank): Promise<FromBenchRank> {
  switch (m.kind) {
    case 'open':
      transport = await ZmqTransport.bind({ rank: m.rank, worldSize: m.worldSize, bind: 'tcp://127.0.0.1:*', log: createLogger('bench', 'error') });
      reduce = createAllReduce({ transport, run: 'bench', timeoutMs: 60_000 });
      await p2p.bind('tcp://127.0.0.1:*');
      return { kind: 'opened', ring: transport.endpoints[0], p2p: p2p.lastEndpoint ?? '' };
    case 'connect':
      // The point-to-point link is connected now, so its timing will not include the handshake.
      transport?.connect(m.right);
      p2pOut.connect(m.rightP2p);
      return { kind: 'done', seconds: 0 };
    case 'allreduce': {
      if (!transport || !reduce) throw new Error('allreduce before open');
      const data = new Float32Array(m.bytes / 4).fill(transport.rank);
      const want = (transport.worldSize - 1) / 2;
      const run = reduce;
      const seconds = await medianSeconds(m.reps, async () => {
        const out = await run(data, 'G', step++);
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
      await transport?.close();
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
