import type { WireArrays, WireType } from './api';

/**
 * What travels on the ring's wire: float32 values (`none`), or IEEE half precision (`fp16`,
 * as Horovod's Compression.fp16), which halves the bytes every link carries. With fp16 the
 * partial sums still add in float32; only what is sent is rounded to half.
 */
export const COMPRESSIONS = ['none', 'fp16'] as const;

/** One of {@link COMPRESSIONS}. */
export type Compression = (typeof COMPRESSIONS)[number];

/**
 * The arithmetic of a ring all-reduce on one wire type: how a rank's own float32 values go out,
 * how a received partial sum takes in the rank's values, and how finished values land in the
 * result. The ring algorithm ({@link ringAllReduce}) decides which chunk goes where; this
 * decides what happens to its values, in place in the received payload (which the transport
 * hands over), so that it can be forwarded as it is.
 *
 * `a` is where the chunk starts in the rank's data and result; a payload is a whole chunk.
 */
export interface WireReduction<T extends WireType> {
  readonly dtype: T;
  /** Starts an all-reduce whose own values (sent in the first round) are data[start, start + length). */
  begin(start: number, length: number): void;
  /**
   * The rank's own values [a, b) as they leave in the first round. The array must not change
   * until the right neighbour has it; that is certain once the all-reduce has resolved (the
   * values come back around as sums), so an implementation may reuse its memory then.
   */
  own(data: Float32Array, a: number, b: number): WireArrays[T];
  /** Adds the rank's values to a partial sum: payload[i] += data[a + i], rounded as it is sent. */
  accumulate(payload: WireArrays[T], data: Float32Array, a: number): void;
  /**
   * The owner's last addition: payload[i] = (payload[i] + data[a + i]) / divisor, rounded as it
   * is sent, and `out` given exactly the values sent, which every other rank will place.
   * `data` and `out` may be the same array: each data value is read before its slot is written.
   */
  finish(payload: WireArrays[T], data: Float32Array, out: Float32Array, a: number, divisor: number): void;
  /** Writes finished values (all-gathered) into out[a..]. */
  place(payload: WireArrays[T], out: Float32Array, a: number): void;
}
