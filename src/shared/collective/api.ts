/**
 * Contracts of the gradient collective: the ring all-reduce runs over a {@link RingTransport}
 * and knows no sockets, so the same algorithm is tested in memory and run over ZeroMQ.
 */

/** Which gradient a message belongs to. */
export type Phase = 'D' | 'G';

/** The header of one all-reduce message; the payload travels beside it. */
export interface RingHeader {
  /** Run id: messages of another run are dropped. */
  run: string;
  /** Training step: messages of an earlier step are dropped. */
  step: number;
  phase: Phase;
  /** 0..2(N-1)-1: reduce-scatter rounds, then all-gather rounds. */
  round: number;
  /** Chunk index within the round's segment. */
  chunk: number;
  /** Payload length in float32 values. */
  length: number;
}

/** One message around the ring. */
export interface RingMessage {
  header: RingHeader;
  payload: Float32Array;
}

/**
 * A rank's two links in the ring: it sends to its right neighbour and receives from its
 * left one. Concurrency rule: at most one pending `receive` at a time; `send`s may overlap.
 */
export interface RingTransport {
  /** Rank of the left neighbour (for error messages). */
  readonly left: number;
  /** Queues one message for the right neighbour. */
  send(message: RingMessage): Promise<void>;
  /**
   * The next message from the left neighbour. Rejects with CollectiveTimeoutError naming
   * the left neighbour after `timeoutMs`, or CollectiveMessageError when the bytes are not a
   * well-formed message.
   */
  receive(timeoutMs: number): Promise<RingMessage>;
  close(): Promise<void>;
}
