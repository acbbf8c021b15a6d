import { Pull, Push } from 'zeromq';
import { CollectiveTimeoutError } from '../errors';
import type { RingMessage, RingTransport } from './api';
import { decodeFrames, encodeFrames } from './frame';

/** Where a rank listens and whom it sends to. */
export interface ZmqRingOptions {
  /** Address this rank's PULL socket binds, e.g. tcp://0.0.0.0:5701, tcp://127.0.0.1:*, ipc:///tmp/ff-0. */
  bind: string;
  /** Rank numbers of the neighbours, for error messages. */
  left: number;
  right: number;
}

/**
 * The ring over ZeroMQ: each rank binds one PULL socket for its left neighbour and connects
 * one PUSH socket to its right neighbour's PULL. PUSH/PULL fits the ring's one-way traffic
 * and keeps messages in order; ZeroMQ reconnects by itself, so ranks may start in any order.
 * Works over tcp between hosts and ipc on one host. Create with {@link ZmqRing.bind}, then
 * {@link ZmqRing.connect} once the right neighbour's endpoint is known.
 */
export class ZmqRing implements RingTransport {
  private readonly push = new Push({ linger: 0, sendHighWaterMark: 0 });

  private constructor(
    private readonly pull: Pull,
    /** The endpoint peers connect to (the bound address, with a wildcard port resolved). */
    readonly endpoint: string,
    readonly left: number,
    private readonly right: number,
  ) {}

  /** Binds this rank's receiving socket. */
  static async bind(o: ZmqRingOptions): Promise<ZmqRing> {
    const pull = new Pull({ linger: 0, receiveHighWaterMark: 0 });
    await pull.bind(o.bind);
    return new ZmqRing(pull, pull.lastEndpoint ?? o.bind, o.left, o.right);
  }

  /** Connects the sending socket to the right neighbour's endpoint. */
  connect(rightEndpoint: string): void {
    this.push.connect(rightEndpoint);
  }

  async send(m: RingMessage): Promise<void> {
    await this.push.send(encodeFrames(m));
  }

  async receive(timeoutMs: number): Promise<RingMessage> {
    this.pull.receiveTimeout = timeoutMs;
    let frames: Buffer[];
    try {
      frames = await this.pull.receive();
    } catch (err) {
      if ((err as { code?: string }).code === 'EAGAIN') {
        throw new CollectiveTimeoutError(`received nothing from rank ${this.left} within ${timeoutMs} ms (is it alive?)`);
      }
      throw err;
    }
    return decodeFrames(frames, `rank ${this.left}`);
  }

  async close(): Promise<void> {
    this.push.close();
    this.pull.close();
  }

  /** For logs: this rank's links. */
  toString(): string {
    return `zmq ring ${this.endpoint} (from rank ${this.left}, to rank ${this.right})`;
  }
}
