/**
 * Contracts of the gradient collective. The ring all-reduce runs over a {@link Transport} and
 * knows no sockets, so the same algorithm is tested in memory and run over ZeroMQ.
 */

/**
 * The collective operations of a training step, in the order they run: the broadcast of rank
 * 0's weights (before a run's first step), D's gradient, G's gradient, and the averaging of
 * the batch-norm statistics (at checkpoint steps).
 */
export const PHASES = ['init', 'D', 'G', 'stats'] as const;

/** One collective operation's place within its step. */
export type Phase = (typeof PHASES)[number];

/** One collective operation of a run: each (step, phase) runs at most once per run id. */
export interface CollectiveOp {
  /** 0-based training step. */
  step: number;
  phase: Phase;
}

/** Names one chunk of one collective operation, so a receiver can tell it from every other. */
export interface ChunkTag extends CollectiveOp {
  /**
   * Run id, unique per ring incarnation: a ring rebuilt after a failure must use a new one
   * (e.g. `${run}/${generation}`), so leftovers of the old ring cannot pass for current data.
   */
  run: string;
  /** 0..2(N-1)-1: the reduce-scatter rounds, then the all-gather rounds. */
  round: number;
  /** Index of the chunk within its round's segment. */
  chunk: number;
}

/**
 * How a chunk's values travel: float32, or IEEE half precision (binary16, the ring's
 * `compression: fp16`), whose bit patterns travel in a Uint16Array.
 */
export const WIRE_TYPES = ['f32', 'f16'] as const;

/** One of {@link WIRE_TYPES}. */
export type WireType = (typeof WIRE_TYPES)[number];

/** The array each wire type's values travel in. */
export interface WireArrays {
  f32: Float32Array;
  f16: Uint16Array;
}

/** A chunk's values as a transport carries them: float32 values, or half bit patterns. */
export type WireValues = WireArrays[WireType];

/** The wire type of a chunk's values, told by the array that holds them. */
export const wireTypeOf = (values: WireValues): WireType => (values instanceof Float32Array ? 'f32' : 'f16');

/** The chunk a rank waits for: its tag, the type of its values and its length in values. */
export interface ExpectedChunk<T extends WireType = WireType> extends ChunkTag {
  length: number;
  dtype: T;
}

/**
 * A rank's two links in a ring of `worldSize` ranks: it sends to its right neighbour
 * (rank + 1) mod N and receives from its left neighbour (rank - 1) mod N. Every ring
 * collective needs only these two links, so a transport offers nothing else.
 *
 * Concurrency rule: at most one `receive` may be pending at a time (as on a ZeroMQ socket).
 * `send` may be called again before earlier sends resolved; messages leave, arrive and their
 * sends resolve in call order.
 *
 * Memory rules: `send` may resolve before the payload's bytes have left (ZeroMQ reads the
 * caller's memory from its I/O thread, without a copy), so a payload must not be modified
 * until the right neighbour has received it. A received payload belongs to the caller: the
 * transport never reads or writes it again, so it may be modified and sent on.
 */
export interface Transport {
  readonly rank: number;
  readonly worldSize: number;
  /**
   * Queues one chunk for the right neighbour, its values' wire type told by the payload's array
   * type; rejects with CollectiveClosedError after `close`.
   */
  send(tag: ChunkTag, payload: WireValues): Promise<void>;
  /**
   * Resolves with the payload (the caller's to keep) of the next message from the left
   * neighbour, which must be the chunk `expect` describes (its wire type included). A message of another run, or of an
   * operation before `expect`'s, is a leftover of an aborted operation: it is dropped with a warning and the wait goes on.
   * Rejects with CollectiveMessageError when a message is malformed or is not the expected
   * chunk, CollectiveTimeoutError naming the left neighbour when nothing fitting arrives
   * within `timeoutMs`, and CollectiveClosedError when the transport is closed.
   */
  receive<T extends WireType>(expect: ExpectedChunk<T>, timeoutMs: number): Promise<WireArrays[T]>;
  /** Releases the links; pending and later calls reject with CollectiveClosedError. Idempotent. */
  close(): Promise<void>;
}
