import { CollectiveTimeoutError } from '../errors';
import type { RingMessage, RingTransport } from './api';

/** An in-process inbox: messages wait in order until received. */
class Inbox {
  private readonly queue: RingMessage[] = [];
  private waiter: ((m: RingMessage) => void) | null = null;

  push(m: RingMessage): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(m);
    } else {
      this.queue.push(m);
    }
  }

  take(timeoutMs: number, onTimeout: () => Error): Promise<RingMessage> {
    const next = this.queue.shift();
    if (next) return Promise.resolve(next);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(onTimeout());
      }, timeoutMs);
      this.waiter = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
    });
  }
}

/**
 * A ring of in-memory transports for tests: rank r's sends land in rank r+1's inbox. Payloads
 * are copied, as a socket would. `inject` delivers an arbitrary message (a hostile or stale
 * peer); a rank that never sends simulates a silent peer.
 */
export class MemoryRing {
  private readonly inboxes: Inbox[];

  constructor(readonly worldSize: number) {
    this.inboxes = Array.from({ length: worldSize }, () => new Inbox());
  }

  /** The transport of `rank`. */
  transport(rank: number): RingTransport {
    const n = this.worldSize;
    const left = (rank - 1 + n) % n;
    const inbox = this.inboxes[rank];
    return {
      left,
      send: async (m) => this.inboxes[(rank + 1) % n].push({ header: { ...m.header }, payload: Float32Array.from(m.payload) }),
      receive: (timeoutMs) => inbox.take(timeoutMs, () => new CollectiveTimeoutError(`rank ${rank} received nothing from rank ${left} within ${timeoutMs} ms`)),
      close: async () => undefined,
    };
  }

  /** Delivers a message to `rank` as if its left neighbour had sent it. */
  inject(rank: number, message: RingMessage): void {
    this.inboxes[rank].push(message);
  }
}
