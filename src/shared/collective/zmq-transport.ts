import { Pull, Push } from 'zeromq';
import { CollectiveClosedError, ConfigInvalidError } from '../errors';
import { createLogger, type Logger } from '../log';
import type { ChunkTag, ExpectedChunk, Transport } from './api';
import { encodeFrame } from './frame';
import { receiveExpected } from './receive-expected';

/** Where a rank listens, and how deep its queues are. */
export interface ZmqTransportOptions {
  rank: number;
  worldSize: number;
  /**
   * Address(es) this rank's receiving socket binds, each chosen for the left neighbour that will
   * connect: `tcp://0.0.0.0:5701` between hosts, `tcp://127.0.0.1:*` for any free port,
   * `ipc:///tmp/facefill/rank-0` on one host.
   */
  bind: string | readonly string[];
  /**
   * Messages queued for the right neighbour before `send` waits. Default 64: they are views of
   * the sender's memory, not copies, so the bound keeps the queue short rather than saving memory.
   */
  sendHighWaterMark?: number;
  /** Received messages buffered before the left neighbour's sends wait. Default 64 (64 MiB at 1 MiB chunks). */
  receiveHighWaterMark?: number;
  /** How long `close` (and process exit) keeps trying to deliver queued messages, in ms. Default 1000. */
  lingerMs?: number;
  /** Where dropped stale messages are reported; default a 'collective' logger. */
  log?: Logger;
}

/** A bound receiving socket waiting for its rank (see {@link ZmqTransport.listen}). */
export interface ZmqListener {
  /** The addresses bound, wildcard ports resolved. */
  readonly endpoints: readonly string[];
  /** Becomes rank `rank` of a ring of `worldSize`; once only. */
  place(rank: number, worldSize: number): ZmqTransport;
  /** Unbinds, unless placed (the transport then owns the socket). */
  close(): void;
}

/**
 * A rank's ring links over ZeroMQ: it binds one PULL socket, which its left neighbour's PUSH
 * connects to, and connects one PUSH socket to its right neighbour's PULL. PUSH/PULL fits the
 * ring: each link is one-way with a single sender, messages arrive in order, a full queue
 * makes the sender wait (PUSH blocks at its high-water mark, where a ROUTER would drop), and
 * ZeroMQ connects and reconnects in the background, so ranks may start in any order.
 * ROUTER/DEALER's sender identities would add nothing: the run and step in every header,
 * checked on receipt, already tell a stray or stale sender apart.
 *
 * Sends are zero-copy (ZeroMQ reads the payload's memory later, see the Transport's memory
 * rule) and queued here so that they leave in call order, since a ZeroMQ socket allows only
 * one pending send. Create with {@link ZmqTransport.bind}, publish {@link endpoints}, then
 * {@link connect} to the right neighbour's endpoint.
 */
export class ZmqTransport implements Transport {
  private sending: Promise<void> = Promise.resolve();
  private closed = false;
  private connected = false;
  private readonly left: number;

  private constructor(
    readonly rank: number,
    readonly worldSize: number,
    /**
     * The addresses bound, wildcard ports resolved: what the left neighbour connects to. An
     * address bound on 0.0.0.0 names no host; publish this host's address with its port.
     */
    readonly endpoints: readonly string[],
    private readonly pull: Pull,
    private readonly push: Push,
    private readonly log: Logger,
  ) {
    this.left = (rank - 1 + worldSize) % worldSize;
  }

  /** Binds this rank's receiving socket to every address in `o.bind`. */
  static async bind(o: ZmqTransportOptions): Promise<ZmqTransport> {
    const listener = await ZmqTransport.listen(o);
    try {
      return listener.place(o.rank, o.worldSize);
    } catch (err) {
      listener.close();
      throw err;
    }
  }

  /**
   * Binds the receiving socket before the rank is known: a worker publishes the endpoints
   * when it registers, and takes its place in the ring once the rendezvous assigns it one.
   */
  static async listen(o: Omit<ZmqTransportOptions, 'rank' | 'worldSize'>): Promise<ZmqListener> {
    const pull = new Pull({ linger: 0, receiveHighWaterMark: o.receiveHighWaterMark ?? 64 });
    const endpoints: string[] = [];
    try {
      for (const address of typeof o.bind === 'string' ? [o.bind] : o.bind) {
        await pull.bind(address);
        endpoints.push(pull.lastEndpoint ?? address);
      }
    } catch (err) {
      pull.close();
      throw err;
    }
    let taken = false;
    return {
      endpoints,
      place: (rank, worldSize) => {
        if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
          throw new ConfigInvalidError(`rank ${rank} of world size ${worldSize}: expected 0 <= rank < world size`);
        }
        if (taken) throw new Error('this listener already has its place in a ring');
        taken = true;
        const push = new Push({ linger: o.lingerMs ?? 1000, sendHighWaterMark: o.sendHighWaterMark ?? 64 });
        return new ZmqTransport(rank, worldSize, endpoints, pull, push, o.log ?? createLogger('collective'));
      },
      close: () => {
        if (!taken) pull.close();
      },
    };
  }

  /** Connects the sending socket to the right neighbour's endpoint (it may not be up yet). Once only. */
  connect(rightEndpoint: string): void {
    // A second peer would make PUSH deal messages round-robin between them, breaking the ring.
    if (this.connected) throw new Error(`rank ${this.rank} is already connected to its right neighbour`);
    this.connected = true;
    this.push.connect(rightEndpoint);
  }

  send(tag: ChunkTag, payload: Float32Array): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    const frames = encodeFrame(tag, payload);
    const sent = this.sending.then(() => this.push.send(frames)).catch((err: unknown) => {
      throw this.closed ? this.closedError() : err;
    });
    this.sending = sent.catch(() => undefined);
    return sent;
  }

  receive(expect: ExpectedChunk, timeoutMs: number): Promise<Float32Array> {
    return receiveExpected((ms) => this.next(ms), expect, timeoutMs, { self: this.rank, from: this.left }, this.log);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.push.close();
    this.pull.close();
  }

  // The next message's frames, or null after `timeoutMs` without one.
  private async next(timeoutMs: number): Promise<Buffer[] | null> {
    if (this.closed) throw this.closedError();
    this.pull.receiveTimeout = timeoutMs;
    try {
      return await this.pull.receive();
    } catch (err) {
      // Closing the socket ends a pending receive with EAGAIN, as a timeout does.
      if (this.closed) throw this.closedError();
      if ((err as { code?: string }).code === 'EAGAIN') return null;
      throw err;
    }
  }

  private closedError(): CollectiveClosedError {
    return new CollectiveClosedError(`the ZeroMQ transport of rank ${this.rank} (${this.endpoints.join(', ')}) is closed`);
  }
}
