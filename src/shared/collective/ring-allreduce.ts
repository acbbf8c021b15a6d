import { CollectiveTimeoutError, ConfigInvalidError } from '../errors';
import type { GradientReducer } from '../train/api';
import { withDeadline } from '../util/deadline';
import type { CollectiveOp, Transport, WireArrays, WireType } from './api';
import { FloatReduction } from './float-reduction';
import { HalfReduction } from './half-reduction';
import type { Compression, WireReduction } from './wire-reduction';

/** How a rank runs its all-reduces. */
export interface RingAllReduceOptions {
  /** This rank's links; its rank and world size place it in the ring. */
  transport: Transport;
  /** Run id, unique per ring incarnation (see {@link ChunkTag.run}). */
  run: string;
  /**
   * Bound on every wait, in ms: each receive, and handing the last messages to the right
   * neighbour. The first receive also waits for the left neighbour to finish computing its
   * gradient, so this must cover the ranks' compute skew.
   */
  timeoutMs: number;
  /** Largest message payload; each segment is cut into chunks of this size. Default 1 MiB. */
  chunkBytes?: number;
  /** Write the result into the input array instead of a new one. Default false (true in {@link createAllReduce}). */
  inPlace?: boolean;
  /** The element-wise sum over the ranks, or the sum divided by the world size. Default 'mean'. */
  reduction?: 'sum' | 'mean';
  /**
   * What travels on the wire: float32 ('none', the default), or half precision ('fp16'),
   * which halves every link's bytes at about 3 significant digits. Every rank still ends with
   * the same bits. Half precision holds magnitudes up to 65504 (larger sums become infinite)
   * and resolves about 6e-8 near zero. A broadcast ignores it.
   */
  compression?: Compression;
}

/** Default largest message payload: big enough to amortise per-message costs, small enough to pipeline. */
export const DEFAULT_CHUNK_BYTES = 1 << 20;

/**
 * Ring all-reduce of one Float32Array per rank, resolving with the element-wise sum or mean
 * over the ranks (`o.reduction`). The buffer is split into N nearly equal segments. N-1
 * reduce-scatter rounds pass partial sums to the right, each rank adding its own values, so
 * that rank r ends up owning the full sum of segment r+1 (which, for a mean, it divides by
 * N); N-1 all-gather rounds then pass the finished segments around. Every element is summed in
 * the same order and finished once by its owner, so every rank ends with bit-identical values.
 * With `compression: 'fp16'` what travels is rounded to half precision (see
 * {@link HalfReduction}); the ranks still end bit-identical.
 *
 * Segments travel in chunks of `chunkBytes`, pipelined: a chunk is forwarded as soon as it has
 * arrived and been reduced, while the rest of its round is still on the wire. Nothing is
 * copied to be sent: a rank's own values go out as views of `data` (or, in fp16, encoded once),
 * and every later chunk is reduced inside the buffer it arrived in and forwarded from there. So
 * when the promise resolves no send still reads `data` or the result (the own values provably
 * reached the right neighbour before their sums came back around), and the caller may reuse
 * both at once. World size 1 is the identity without any I/O.
 *
 * Rejects with CollectiveTimeoutError when the left neighbour is silent or the right one
 * accepts nothing for `timeoutMs`, and with CollectiveMessageError for a malformed or
 * misfitting message. After a rejection the ring may hold leftovers of this operation; the
 * next operation (a later step or phase) drops them.
 */
export async function ringAllReduce(data: Float32Array, op: CollectiveOp, o: RingAllReduceOptions): Promise<Float32Array> {
  checkArguments(op, o);
  return reduceOverRing(data, op, o, wireReduction(o.transport, o.compression ?? 'none'));
}

// The all-reduce with the arithmetic of one wire type, which may keep buffers between calls.
async function reduceOverRing<T extends WireType>(data: Float32Array, op: CollectiveOp, o: RingAllReduceOptions, w: WireReduction<T>): Promise<Float32Array> {
  const t = o.transport;
  const n = t.worldSize;
  if (n === 1 || data.length === 0) return o.inPlace ? data : data.slice();
  // Every segment of the result is written once, by the owner's division or an all-gather.
  const out = o.inPlace ? data : new Float32Array(data.length);
  const divisor = o.reduction === 'sum' ? 1 : n;
  const chunkValues = Math.floor((o.chunkBytes ?? DEFAULT_CHUNK_BYTES) / 4);
  // Where segment s (any integer, taken mod N) starts and ends in the buffer.
  const segment = (s: number): [number, number] => {
    const k = ((s % n) + n) % n;
    return [Math.floor((k * data.length) / n), Math.floor(((k + 1) * data.length) / n)];
  };
  // The segment this rank sends in `round`: in reduce-scatter its own partial sums walk left
  // one segment a round, in all-gather it starts from the segment it owns. What it receives in
  // a round is what it sends in the next, which is what lets each chunk be forwarded at once.
  const sentIn = (round: number) => (round < n - 1 ? t.rank - round : t.rank + 1 - (round - (n - 1)));
  const lastRound = 2 * (n - 1) - 1;
  const { run } = o;
  const { step, phase } = op;
  const dtype = w.dtype;

  // Sends are not awaited one by one (that would serialise the pipeline); the transport keeps
  // their order, so the last one settling means all have, and the first failure is kept.
  let failure: Error | undefined;
  let lastSend: Promise<void> = Promise.resolve();
  let unsettled = 0;
  const post = (round: number, chunk: number, payload: WireArrays[T]) => {
    unsettled++;
    lastSend = t.send({ run, step, phase, round, chunk }, payload).then(
      () => void unsettled--,
      (err: Error) => void (unsettled--, (failure ??= err)),
    );
  };

  const [ownStart, ownEnd] = segment(sentIn(0));
  w.begin(ownStart, ownEnd - ownStart);
  for (let a = ownStart, c = 0; a < ownEnd; a += chunkValues, c++) post(0, c, w.own(data, a, Math.min(ownEnd, a + chunkValues)));
  for (let round = 0; round <= lastRound; round++) {
    const [start, end] = segment(sentIn(round + 1));
    for (let a = start, c = 0; a < end; a += chunkValues, c++) {
      if (failure) throw failure;
      // The transport hands over the payload's memory: it is reduced and forwarded in place.
      const payload = await t.receive({ run, step, phase, round, chunk: c, length: Math.min(end, a + chunkValues) - a, dtype }, o.timeoutMs);
      // In-place mode reads `data` before the owner's division or an all-gather overwrites the
      // same segment.
      if (round < n - 2) w.accumulate(payload, data, a);
      else if (round === n - 2) w.finish(payload, data, out, a, divisor);
      else w.place(payload, out, a);
      if (round < lastRound) post(round + 1, c, payload);
    }
  }
  // Usually every send has settled by now; the deadline's timer and abort signal cost about
  // 0.1 ms, as much as a small all-reduce's arithmetic, so they are only set up when needed.
  if (unsettled > 0) {
    const right = (t.rank + 1) % n;
    await withDeadline(lastSend, o.timeoutMs, () =>
      new CollectiveTimeoutError(`rank ${t.rank} could not hand its last messages of step ${op.step} phase ${op.phase} to rank ${right} within ${o.timeoutMs} ms (is rank ${right} alive?)`, right),
    );
  }
  if (failure) throw failure;
  return out;
}

/**
 * The trainer's gradient reducer for one data-parallel rank: each flat D or G gradient
 * (already weighted by the rank's share of the global batch) is replaced by its sum over the
 * ranks ({@link ringAllReduce}), so all replicas apply the same update. Pass it to the
 * Trainer. Reduces in place unless `inPlace` is false, as a GradientReducer may: the gradient
 * is the trainer's own scratch array, and a copy of it would cost about as much as the
 * reduction's additions.
 */
export function createAllReduce(o: RingAllReduceOptions): GradientReducer {
  const options: RingAllReduceOptions = { ...o, inPlace: o.inPlace ?? true, reduction: 'sum' };
  checkArguments({ step: 0, phase: 'D' }, options);
  return (flat, phase, step) => ringAllReduce(flat, { step, phase }, options);
}

// Each transport's arithmetic per compression setting, kept for its next all-reduces: the
// fp16 staging array is then allocated once, not every step. Sharing is safe because a
// transport runs one all-reduce at a time (one pending receive), and once one has resolved
// its staged values have reached the right neighbour (see WireReduction.own).
const reductions = new WeakMap<Transport, Map<Compression, WireReduction<WireType>>>();

// The arithmetic of a compression setting for `transport`.
function wireReduction(transport: Transport, compression: Compression): WireReduction<WireType> {
  let byCompression = reductions.get(transport);
  if (!byCompression) reductions.set(transport, (byCompression = new Map()));
  let w = byCompression.get(compression);
  if (!w) {
    w = compression === 'fp16' ? new HalfReduction() : new FloatReduction();
    byCompression.set(compression, w);
  }
  return w;
}

/** Validates the options and the operation shared by every ring collective. */
export function checkArguments(op: CollectiveOp, o: RingAllReduceOptions): void {
  const chunkBytes = o.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 4) throw new ConfigInvalidError(`all-reduce chunkBytes ${chunkBytes}: expected an integer >= 4`);
  if (!(o.timeoutMs > 0) || !Number.isFinite(o.timeoutMs)) throw new ConfigInvalidError(`all-reduce timeoutMs ${o.timeoutMs}: expected a positive number of ms`);
  if (!Number.isSafeInteger(op.step) || op.step < 0) throw new RangeError(`all-reduce step ${op.step}: expected an integer >= 0`);
}
