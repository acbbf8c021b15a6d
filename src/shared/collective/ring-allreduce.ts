import { CollectiveMessageError } from '../errors';
import type { Logger } from '../log';
import type { Phase, RingHeader, RingMessage, RingTransport } from './api';

/** Where a rank sits and how it talks to its neighbours. */
export interface RingOptions {
  rank: number;
  worldSize: number;
  run: string;
  transport: RingTransport;
  /** Bound on each receive; a silent neighbour fails the step after this long. */
  timeoutMs: number;
  /** Largest message payload in float32 values; segments are cut into chunks of this size. */
  chunkValues?: number;
  log?: Logger;
}

const DEFAULT_CHUNK_VALUES = 256 * 1024;

/**
 * Ring all-reduce (mean) of one Float32Array per rank: N-1 reduce-scatter rounds leave rank r
 * owning the sum of segment (r+1) mod N; it divides by N and N-1 all-gather rounds pass every
 * finished segment around. Each value is summed in the same order and finished by one owner,
 * so all ranks end bit-identical. Segments are split into chunks so large buffers stream.
 * Returns a new array; `data` is not modified.
 */
export async function ringAllReduceMean(data: Float32Array, step: number, phase: Phase, o: RingOptions): Promise<Float32Array> {
  const n = o.worldSize;
  // slice() is a memcpy; Float32Array.from would walk the iterator element by element.
  const out = data.slice();
  if (n === 1) return out;
  const bounds = (s: number): [number, number] => {
    const seg = ((s % n) + n) % n;
    return [Math.floor((seg * out.length) / n), Math.floor(((seg + 1) * out.length) / n)];
  };
  const chunk = o.chunkValues ?? DEFAULT_CHUNK_VALUES;
  const chunksOf = ([lo, hi]: [number, number]): [number, number][] => {
    const parts: [number, number][] = [];
    for (let a = lo; a < hi; a += chunk) parts.push([a, Math.min(hi, a + chunk)]);
    return parts.length ? parts : [[lo, lo]];
  };
  for (let round = 0; round < 2 * (n - 1); round++) {
    const gather = round >= n - 1;
    const k = gather ? round - (n - 1) : round;
    const sendSeg = gather ? o.rank + 1 - k : o.rank - k;
    const recvSeg = gather ? o.rank - k : o.rank - k - 1;
    const sends = chunksOf(bounds(sendSeg)).map(([a, b], c) =>
      o.transport.send({ header: { run: o.run, step, phase, round, chunk: c, length: b - a }, payload: out.subarray(a, b) }),
    );
    const expected = chunksOf(bounds(recvSeg));
    for (const [c, [a, b]] of expected.entries()) {
      const msg = await receiveFor(o, { run: o.run, step, phase, round, chunk: c, length: b - a });
      const dst = out.subarray(a, b);
      if (gather) dst.set(msg.payload);
      else for (let i = 0; i < dst.length; i++) dst[i] += msg.payload[i];
    }
    await Promise.all(sends);
    // The owner finishes its segment once, so every rank receives the same float32 values.
    if (round === n - 2) {
      const [a, b] = bounds(o.rank + 1);
      for (let i = a; i < b; i++) out[i] /= n;
    }
  }
  return out;
}

// Receives the message `want` describes: messages of another run or an earlier step are
// dropped (late leftovers or a stray sender cannot change this step); anything else that
// does not match is an error, since using it would corrupt the result.
async function receiveFor(o: RingOptions, want: RingHeader): Promise<RingMessage> {
  for (;;) {
    const msg = await o.transport.receive(o.timeoutMs);
    const h = msg.header;
    if (h.run !== want.run || h.step < want.step) {
      o.log?.warn({ from: o.transport.left, got: { run: h.run, step: h.step }, want: { run: want.run, step: want.step } }, 'dropped a stale all-reduce message');
      continue;
    }
    const fields = ['step', 'phase', 'round', 'chunk', 'length'] as const;
    const off = fields.filter((f) => h[f] !== want[f]);
    if (off.length > 0 || msg.payload.length !== want.length) {
      const got = off.map((f) => `${f} ${h[f]} (expected ${want[f]})`).join(', ') || `payload of ${msg.payload.length} values (expected ${want.length})`;
      throw new CollectiveMessageError(`all-reduce message from rank ${o.transport.left} does not fit: ${got}`);
    }
    return msg;
  }
}
