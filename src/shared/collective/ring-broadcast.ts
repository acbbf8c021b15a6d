import { CollectiveTimeoutError } from '../errors';
import type { ChunkTag, CollectiveOp } from './api';
import { withDeadline } from '../util/deadline';
import { checkArguments, DEFAULT_CHUNK_BYTES, type RingAllReduceOptions } from './ring-allreduce';

/**
 * Copies rank 0's `data` into every other rank's `data` (in place), as Horovod's
 * broadcast_parameters does before training, so all replicas start from the same weights
 * whatever their backend's initialisers did. Chunks travel around the ring from rank 0 and
 * are forwarded as they arrive, so the time is about one pass of the buffer, not N-1.
 * Every rank must pass an array of the same length: a rank whose model differs fails with
 * a CollectiveMessageError naming the length it got. Waits are bounded as in the all-reduce.
 */
export async function ringBroadcast(data: Float32Array, op: CollectiveOp, o: RingAllReduceOptions): Promise<void> {
  checkArguments(op, o);
  const t = o.transport;
  const n = t.worldSize;
  if (n === 1 || data.length === 0) return;
  const chunkValues = Math.floor((o.chunkBytes ?? DEFAULT_CHUNK_BYTES) / 4);
  const tag = (chunk: number): ChunkTag => ({ run: o.run, step: op.step, phase: op.phase, round: 0, chunk });
  const last = n - 1;

  let failure: Error | undefined;
  let lastSend: Promise<void> = Promise.resolve();
  const post = (chunk: number, payload: Float32Array) => {
    lastSend = t.send(tag(chunk), payload).catch((err: Error) => void (failure ??= err));
  };
  for (let a = 0, c = 0; a < data.length; a += chunkValues, c++) {
    const b = Math.min(data.length, a + chunkValues);
    if (failure) throw failure;
    if (t.rank === 0) {
      post(c, data.subarray(a, b));
      continue;
    }
    const payload = await t.receive({ ...tag(c), length: b - a, dtype: 'f32' }, o.timeoutMs);
    data.set(payload, a);
    if (t.rank !== last) post(c, payload);
  }
  const right = (t.rank + 1) % n;
  await withDeadline(lastSend, o.timeoutMs, () =>
    new CollectiveTimeoutError(`rank ${t.rank} could not hand the broadcast of step ${op.step} phase ${op.phase} to rank ${right} within ${o.timeoutMs} ms (is rank ${right} alive?)`, right),
  );
  if (failure) throw failure;
}
