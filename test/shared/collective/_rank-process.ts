// A rank in its own process, driven by the parent over the IPC channel: bind, connect to the
// right neighbour, all-reduce the data it is sent, send back the result, exit.
import { ringAllReduceMean } from '../../../src/shared/collective/ring-allreduce';
import { ZmqRing } from '../../../src/shared/collective/zmq-transport';

/** Messages the parent sends. */
export type ToRank =
  | { kind: 'bind'; rank: number; worldSize: number; bind: string }
  | { kind: 'connect'; right: string }
  | { kind: 'reduce'; step: number; data: number[] }
  | { kind: 'exit' };

/** Messages a rank sends back. */
export type FromRank = { kind: 'bound'; endpoint: string } | { kind: 'reduced'; data: number[] } | { kind: 'error'; message: string };

let ring: ZmqRing | null = null;
let me = { rank: 0, worldSize: 1 };
const reply = (m: FromRank) => process.send?.(m);

process.on('message', (m: ToRank) => {
  void (async () => {
    try {
      if (m.kind === 'bind') {
        me = { rank: m.rank, worldSize: m.worldSize };
        ring = await ZmqRing.bind({ bind: m.bind, left: (m.rank - 1 + m.worldSize) % m.worldSize, right: (m.rank + 1) % m.worldSize });
        reply({ kind: 'bound', endpoint: ring.endpoint });
      } else if (m.kind === 'connect') {
        ring?.connect(m.right);
      } else if (m.kind === 'reduce' && ring) {
        const out = await ringAllReduceMean(Float32Array.from(m.data), m.step, 'D', { ...me, run: 'proc', transport: ring, timeoutMs: 10_000, chunkValues: 1000 });
        reply({ kind: 'reduced', data: Array.from(out) });
      } else if (m.kind === 'exit') {
        await ring?.close();
        process.exit(0);
      }
    } catch (err) {
      reply({ kind: 'error', message: (err as Error).message });
    }
  })();
});
