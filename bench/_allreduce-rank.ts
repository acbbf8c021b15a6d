// One benchmark rank in its own process, driven by bench/allreduce.bench.ts over IPC:
// bind, connect, then time all-reduces (or raw point-to-point sends) of the sizes asked.
import { Pull, Push } from 'zeromq';
import { ringAllReduceMean } from '../src/shared/collective/ring-allreduce';
import { ZmqRing } from '../src/shared/collective/zmq-transport';

/** Messages the parent sends. */
export type ToBenchRank =
  | { kind: 'bind'; rank: number; worldSize: number }
  | { kind: 'connect'; right: string }
  | { kind: 'allreduce'; values: number; reps: number }
  | { kind: 'p2p-recv'; values: number; reps: number }
  | { kind: 'p2p-send'; to: string; values: number; reps: number }
  | { kind: 'exit' };

/** Messages a rank sends back: seconds per operation (all-reduce: the median over reps). */
export type FromBenchRank = { kind: 'bound'; endpoint: string; p2p: string } | { kind: 'timed'; seconds: number } | { kind: 'error'; message: string };

let ring: ZmqRing | null = null;
let p2p: Pull | null = null;
let me = { rank: 0, worldSize: 1 };
let step = 0;
const reply = (m: FromBenchRank) => process.send?.(m);
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

process.on('message', (m: ToBenchRank) => {
  void (async () => {
    try {
      if (m.kind === 'bind') {
        me = { rank: m.rank, worldSize: m.worldSize };
        ring = await ZmqRing.bind({ bind: 'tcp://127.0.0.1:*', left: (m.rank - 1 + m.worldSize) % m.worldSize, right: (m.rank + 1) % m.worldSize });
        p2p = new Pull({ linger: 0 });
        await p2p.bind('tcp://127.0.0.1:*');
        reply({ kind: 'bound', endpoint: ring.endpoint, p2p: p2p.lastEndpoint ?? '' });
      } else if (m.kind === 'connect') {
        ring?.connect(m.right);
      } else if (m.kind === 'allreduce' && ring) {
        const data = new Float32Array(m.values).fill(me.rank);
        const times: number[] = [];
        for (let i = 0; i <= m.reps; i++) {
          const t = performance.now();
          await ringAllReduceMean(data, step++, 'G', { ...me, run: 'bench', transport: ring, timeoutMs: 60_000 });
          if (i > 0) times.push((performance.now() - t) / 1000);
        }
        reply({ kind: 'timed', seconds: median(times) });
      } else if (m.kind === 'p2p-recv' && p2p) {
        // Sustained throughput: from the first arrival to the last, per message (timing each
        // arrival alone would credit messages that were already queued).
        await p2p.receive();
        const t = performance.now();
        for (let i = 0; i < m.reps; i++) await p2p.receive();
        reply({ kind: 'timed', seconds: (performance.now() - t) / 1000 / m.reps });
      } else if (m.kind === 'p2p-send') {
        // Linger so that close() delivers what is still queued instead of dropping it.
        const push = new Push({ linger: 30_000 });
        push.connect(m.to);
        const payload = Buffer.alloc(m.values * 4);
        // Sent back to back: the receiver times each arrival, i.e. sustained throughput.
        for (let i = 0; i <= m.reps; i++) await push.send(payload);
        push.close();
        reply({ kind: 'timed', seconds: 0 });
      } else if (m.kind === 'exit') {
        await ring?.close();
        p2p?.close();
        process.exit(0);
      }
    } catch (err) {
      reply({ kind: 'error', message: (err as Error).message });
    }
  })();
});
