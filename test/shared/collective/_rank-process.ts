// One rank in its own process, driven by its parent over the IPC channel (advanced
// serialization, so Float32Arrays cross as they are): open a ZeroMQ transport, connect to the
// right neighbour, all-reduce what it is sent, reply with the result.
import type { ExpectedChunk } from '../../../src/shared/collective/api';
import type { RingKeys } from '../../../src/shared/collective/ring-keys';
import type { GradientReducer } from '../../../src/shared/train/api';
import { createAllReduce } from '../../../src/shared/collective/ring-allreduce';
import { ZmqTransport } from '../../../src/shared/collective/zmq-transport';
import { createLogger } from '../../../src/shared/log';

/**
 * What the parent asks. `open` closes the rank's previous ring, so one process serves several;
 * `close` closes it and the IPC channel, after which the process must end by itself.
 */
export type ToRank =
  | { kind: 'open'; rank: number; worldSize: number; bind: string; timeoutMs?: number; keys?: RingKeys; leftPublicKey?: string; maxMessageBytes?: number }
  | { kind: 'connect'; right: string; rightPublicKey?: string }
  | { kind: 'reduce'; step: number; phase: 'D' | 'G'; data: Float32Array }
  | { kind: 'receive'; expect: ExpectedChunk<'f32'>; timeoutMs: number }
  | { kind: 'usage' }
  | { kind: 'close' }
  | { kind: 'exit' };

/** What a rank answers; `usage` gives the process's resident memory and its peak so far, in bytes. */
export type FromRank =
  | { kind: 'opened'; endpoint: string }
  | { kind: 'connected' }
  | { kind: 'reduced'; data: Float32Array }
  | { kind: 'received'; data: Float32Array }
  | { kind: 'usage'; rssBytes: number; maxRssBytes: number }
  | { kind: 'error'; message: string };

let transport: ZmqTransport | null = null;
let reduce: GradientReducer | null = null;
const reply = (m: FromRank) => process.send?.(m);

async function handle(m: ToRank): Promise<FromRank | null> {
  switch (m.kind) {
    case 'open':
      await transport?.close();
      transport = await ZmqTransport.bind({
        rank: m.rank,
        worldSize: m.worldSize,
        bind: m.bind,
        keys: m.keys,
        leftPublicKey: m.leftPublicKey,
        maxMessageBytes: m.maxMessageBytes,
        log: createLogger('rank', 'error'),
      });
      reduce = createAllReduce({ transport, run: `proc-${m.worldSize}`, timeoutMs: m.timeoutMs ?? 20_000, chunkBytes: 16 * 1024 });
      return { kind: 'opened', endpoint: transport.endpoints[0] };
    case 'connect':
      transport?.connect(m.right, m.rightPublicKey);
      return { kind: 'connected' };
    case 'reduce':
      if (!reduce) throw new Error('reduce before open');
      return { kind: 'reduced', data: await reduce(m.data, m.phase, m.step) };
    case 'receive':
      if (!transport) throw new Error('receive before open');
      return { kind: 'received', data: await transport.receive(m.expect, m.timeoutMs) };
    case 'usage':
      return { kind: 'usage', rssBytes: process.memoryUsage().rss, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
    case 'close':
      await transport?.close();
      process.disconnect();
      return null;
    case 'exit':
      await transport?.close();
      process.exit(0);
  }
}

process.on('message', (m: ToRank) => {
  handle(m).then(
    (r) => r && reply(r),
    (err: Error) => reply({ kind: 'error', message: `${err.name}: ${err.message}` }),
  );
});
