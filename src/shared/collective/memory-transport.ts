import { CollectiveClosedError } from '../errors';
import { createLogger, type Logger } from '../log';
import type { ChunkTag, ExpectedChunk, Transport, WireArrays, WireType, WireValues } from './api';
import { encodeFrame } from './frame';
import { receiveExpected } from './receive-expected';

type Frames = readonly Buffer[];

/** Messages waiting in order at one rank, with at most one receiver waiting for the next. */
class Inbox {
  private readonly queue: Frames[] = [];
  private waiter: { deliver: (frames: Frames | null) => void; fail: (err: Error) => void } | null = null;
  private closed: Error | null = null;

  push(frames: Frames): void {
    if (this.closed) return;
    if (this.waiter) this.waiter.deliver(frames);
    else this.queue.push(frames);
  }

  // Resolves with the next message, or null after `timeoutMs` without one.
  take(timeoutMs: number): Promise<Frames | null> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.waiter) return Promise.reject(new Error('a receive is already pending on this transport; only one may be'));
    const next = this.queue.shift();
    if (next) return Promise.resolve(next);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(() => resolve(null)), timeoutMs);
      const settle = (then: () => void) => {
        clearTimeout(timer);
        this.waiter = null;
        then();
      };
      this.waiter = { deliver: (frames) => settle(() => resolve(frames)), fail: (err) => settle(() => reject(err)) };
    });
  }

  close(reason: Error): void {
    this.closed = reason;
    this.queue.length = 0;
    this.waiter?.fail(reason);
  }
}

/** One rank's links in a {@link MemoryRing}. */
class MemoryTransport implements Transport {
  private closed = false;

  constructor(
    readonly rank: number,
    readonly worldSize: number,
    private readonly inbox: Inbox,
    private readonly deliver: (frames: Frames) => void,
    private readonly log: Logger,
  ) {}

  async send(tag: ChunkTag, payload: WireValues): Promise<void> {
    if (this.closed) throw this.closedError();
    this.deliver(encodeFrame(tag, payload));
  }

  async receive<T extends WireType>(expect: ExpectedChunk<T>, timeoutMs: number): Promise<WireArrays[T]> {
    const from = (this.rank - 1 + this.worldSize) % this.worldSize;
    const payload = await receiveExpected((ms) => this.inbox.take(ms), expect, timeoutMs, { self: this.rank, from }, this.log);
    // Read from the sender's memory only now, then handed over as the receiver's own.
    return payload.slice() as WireArrays[T];
  }

  async close(): Promise<void> {
    this.closed = true;
    this.inbox.close(this.closedError());
  }

  private closedError(): CollectiveClosedError {
    return new CollectiveClosedError(`the transport of rank ${this.rank} is closed`);
  }
}

/**
 * A ring of N in-process transports for tests: rank r's messages land, encoded as on the wire,
 * in rank r+1's inbox. Like ZeroMQ's, sends do not copy: the payload is read from the sender's
 * memory when it is received, so a sender that modifies a payload too early (a breach of the
 * Transport's memory rule) shows up as a wrong result.
 * A rank that sends nothing, or one {@link silence}d, is a silent peer; {@link inject}
 * delivers arbitrary frames (hostile, malformed or stale messages).
 */
export class MemoryRing {
  private readonly inboxes: Inbox[];
  private readonly silent = new Set<number>();

  constructor(
    readonly worldSize: number,
    private readonly log: Logger = createLogger('collective'),
  ) {
    this.inboxes = Array.from({ length: worldSize }, () => new Inbox());
  }

  /** The transport of `rank`. */
  transport(rank: number): Transport {
    const right = (rank + 1) % this.worldSize;
    const deliver = (frames: Frames) => {
      if (!this.silent.has(rank)) this.inboxes[right].push(frames);
    };
    return new MemoryTransport(rank, this.worldSize, this.inboxes[rank], deliver, this.log);
  }

  /** Delivers `frames` to `rank` as if its left neighbour had sent them. */
  inject(rank: number, frames: readonly Buffer[]): void {
    this.inboxes[rank].push(frames);
  }

  /** From now on `rank`'s sends succeed but never arrive: a peer that hangs mid-operation. */
  silence(rank: number): void {
    this.silent.add(rank);
  }
}
