import { Pull, Push } from 'zeromq';
import { MAX_CHUNK_BYTES } from '../config/schema';
import { CollectiveClosedError, ConfigInvalidError } from '../errors';
import { createLogger, type Logger } from '../log';
import type { ChunkTag, ExpectedChunk, Transport, WireArrays, WireType, WireValues } from './api';
import { encodeFrame, MAX_HEADER_BYTES } from './frame';
import { receiveExpected } from './receive-expected';
import { decodeRingKey, type RingKeys } from './ring-keys';
import { ZapAuthenticator, type ZapDomain } from './zap-authenticator';

/** Where a rank listens, how its links are secured, and how deep its queues are. */
export interface ZmqListenOptions {
  /**
   * Address(es) this rank's receiving socket binds, each chosen for the left neighbour that will
   * connect: `tcp://0.0.0.0:5701` between hosts, `tcp://127.0.0.1:*` for any free port, an
   * endpoint of an {@link IpcDirectory} on one host.
   */
  bind: string | readonly string[];
  /**
   * This rank's CURVE keypair for this ring ({@link newRingKeys}): the links are encrypted and
   * the receiving socket admits only the left neighbour's key. null or absent: plaintext links
   * that admit anyone who reaches the port (`cluster.ringEncryption: none`).
   */
  keys?: RingKeys | null;
  /**
   * Largest message payload the receiving socket accepts, in bytes (the run's
   * `cluster.chunkBytes`; default MAX_CHUNK_BYTES, the bound before the run's config is known).
   * A bigger frame closes the sender's connection before it is buffered (ZMQ_MAXMSGSIZE).
   */
  maxMessageBytes?: number;
  /**
   * Messages queued for the right neighbour before `send` waits. Default 64: they are views of
   * the sender's memory, not copies, so the bound keeps the queue short rather than saving memory.
   */
  sendHighWaterMark?: number;
  /**
   * Received messages buffered before the left neighbour's sends wait: with `maxMessageBytes`
   * it bounds what the left neighbour can make this rank hold. Default as many messages of
   * `maxMessageBytes` as fit in 256 MiB, at least 4 and at most 64 (64 at 1 MiB, 4 at 64 MiB).
   */
  receiveHighWaterMark?: number;
  /** How long `close` (and process exit) keeps trying to deliver queued messages, in ms. Default 1000. */
  lingerMs?: number;
  /** Where dropped stale messages and refused connections are reported; default a 'collective' logger. */
  log?: Logger;
}

/** A rank's place in a ring, and the key its left neighbour will present. */
export interface ZmqTransportOptions extends ZmqListenOptions, RingPeers {
  rank: number;
  worldSize: number;
}

/** The neighbour key a rank's receiving socket admits, from the rendezvous's answer. */
export interface RingPeers {
  /** The left neighbour's public key: required when the listener has keys, refused when it has none. */
  leftPublicKey?: string;
}

/** A bound receiving socket waiting for its rank (see {@link ZmqTransport.listen}). */
export interface ZmqListener {
  /** The addresses bound, wildcard ports resolved. */
  readonly endpoints: readonly string[];
  /** This rank's public key (Z85), to publish with the endpoints; null for plaintext links. */
  readonly publicKey: string | null;
  /**
   * Becomes rank `rank` of a ring of `worldSize`, admitting from now on only the left
   * neighbour's key on the receiving socket; once only. Throws ConfigInvalidError for a bad
   * rank, or a left key missing (with keys), malformed, or given to a plaintext listener.
   */
  place(rank: number, worldSize: number, peers?: RingPeers): ZmqTransport;
  /** Unbinds, unless placed (the transport then owns the socket). */
  close(): void;
}

/**
 * How long a connection may take to complete its handshake (ZMQ_HANDSHAKE_IVL, libzmq's
 * default): a left neighbour that connects before this rank's place waits this long in the
 * ZAP handler, then reconnects and waits again.
 */
const HANDSHAKE_MS = 30_000;

/**
 * What the default receive queue may hold, in bytes. A 4-message queue of 1 MiB chunks ran the
 * all-reduce as fast as a 64-message one (2 ranks, 4 to 64 MiB buffers, within this host's
 * noise): the sender's queue, of views, stays 64 deep.
 */
const RECEIVE_QUEUE_BYTES = 256 << 20;

/** Bytes a CURVE MESSAGE command adds to a frame (name 8, nonce 8, MAC 16, flags 1), which ZMQ_MAXMSGSIZE counts. */
const CURVE_FRAME_OVERHEAD = 33;

/**
 * A rank's ring links over ZeroMQ: it binds one PULL socket, which its left neighbour's PUSH
 * connects to, and connects one PUSH socket to its right neighbour's PULL. PUSH/PULL fits the
 * ring: each link is one-way with a single sender, messages arrive in order, a full queue
 * makes the sender wait (PUSH blocks at its high-water mark, where a ROUTER would drop), and
 * ZeroMQ connects and reconnects in the background, so ranks may start in any order.
 * ROUTER/DEALER's sender identities would add nothing: the run and step in every header,
 * checked on receipt, already tell a stale sender apart.
 *
 * With keys, both links are CURVE: the PULL is the CURVE server and admits, through the
 * process's {@link ZapAuthenticator}, only the left neighbour's key, so nobody else who
 * reaches the port can put a frame into the ring. Every message is bounded by ZMQ_MAXMSGSIZE.
 *
 * Sends are zero-copy (ZeroMQ reads the payload's memory later, see the Transport's memory
 * rule) and queued here so that they leave in call order, since a ZeroMQ socket allows only
 * one pending send. Create with {@link ZmqTransport.listen} and place, or {@link ZmqTransport.bind},
 * publish {@link endpoints}, then {@link connect} to the right neighbour's endpoint.
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
    /** This rank's public key (Z85), or null for plaintext links. */
    readonly publicKey: string | null,
    private readonly pull: Pull,
    private readonly push: Push,
    private readonly zap: ZapDomain | null,
    private readonly log: Logger,
  ) {
    this.left = (rank - 1 + worldSize) % worldSize;
  }

  /** Binds this rank's receiving socket to every address in `o.bind` and places it at `o.rank`. */
  static async bind(o: ZmqTransportOptions): Promise<ZmqTransport> {
    const listener = await ZmqTransport.listen(o);
    try {
      return listener.place(o.rank, o.worldSize, { leftPublicKey: o.leftPublicKey });
    } catch (err) {
      listener.close();
      throw err;
    }
  }

  /**
   * Binds the receiving socket before the rank is known: a worker publishes the endpoints and
   * public key when it registers, and takes its place in the ring once the rendezvous assigns
   * it one. Until then no CURVE client is admitted; one that connects early waits in its
   * handshake. Throws ConfigInvalidError for a bad `maxMessageBytes` or key.
   */
  static async listen(o: ZmqListenOptions): Promise<ZmqListener> {
    const maxMessageBytes = o.maxMessageBytes ?? MAX_CHUNK_BYTES;
    if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 4) {
      throw new ConfigInvalidError(`ring maxMessageBytes ${maxMessageBytes}: expected an integer >= 4`);
    }
    const keys = o.keys ?? null;
    if (keys) {
      decodeRingKey(keys.publicKey, 'the ring public key');
      decodeRingKey(keys.secretKey, 'the ring secret key');
    }
    const log = o.log ?? createLogger('collective');
    const zap = keys ? await ZapAuthenticator.shared.domain(log, HANDSHAKE_MS) : null;
    // libzmq copies a socket's options into a listener when it binds, so all are set here.
    const frameBound = Math.max(maxMessageBytes, MAX_HEADER_BYTES) + (keys ? CURVE_FRAME_OVERHEAD : 0);
    // zapEnforceDomain: without it libzmq admits every client while no ZAP handler is bound.
    const curve = keys && zap ? { curveServer: true, curveSecretKey: keys.secretKey, zapDomain: zap.name, zapEnforceDomain: true, handshakeInterval: HANDSHAKE_MS } : {};
    let pull: Pull | null = null;
    const endpoints: string[] = [];
    try {
      const receiveHighWaterMark = o.receiveHighWaterMark ?? Math.min(64, Math.max(4, Math.floor(RECEIVE_QUEUE_BYTES / frameBound)));
      pull = new Pull({ linger: 0, receiveHighWaterMark, maxMessageSize: frameBound, ...curve });
      for (const address of typeof o.bind === 'string' ? [o.bind] : o.bind) {
        await pull.bind(address);
        endpoints.push(pull.lastEndpoint ?? address);
      }
    } catch (err) {
      pull?.close();
      zap?.release();
      throw err;
    }
    const bound = pull;
    let taken = false;
    let closed = false;
    return {
      endpoints,
      publicKey: keys?.publicKey ?? null,
      place: (rank, worldSize, peers = {}) => {
        if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
          throw new ConfigInvalidError(`rank ${rank} of world size ${worldSize}: expected 0 <= rank < world size`);
        }
        if (taken || closed) throw new Error(`this listener ${closed ? 'is closed' : 'already has its place in a ring'}`);
        const left = peers.leftPublicKey;
        if (zap) {
          if (left === undefined) throw new ConfigInvalidError(`rank ${rank}: the ring is encrypted (CURVE), but no left neighbour's public key was given`);
          zap.admit([left]);
        } else if (left !== undefined) {
          throw new ConfigInvalidError(`rank ${rank}: a left neighbour's public key was given, but this listener has no keys (ring encryption 'none')`);
        }
        taken = true;
        const push = new Push({
          linger: o.lingerMs ?? 1000,
          sendHighWaterMark: o.sendHighWaterMark ?? 64,
          ...(keys ? { curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey } : {}),
        });
        return new ZmqTransport(rank, worldSize, endpoints, keys?.publicKey ?? null, bound, push, zap, log);
      },
      close: () => {
        if (taken || closed) return;
        closed = true;
        bound.close();
        zap?.release();
      },
    };
  }

  /**
   * Connects the sending socket to the right neighbour's endpoint (it may not be up yet), as a
   * CURVE client of `rightPublicKey` when this transport has keys; once only. Throws
   * ConfigInvalidError when the key is missing (with keys), malformed, or given without keys.
   */
  connect(rightEndpoint: string, rightPublicKey?: string): void {
    // A second peer would make PUSH deal messages round-robin between them, breaking the ring.
    if (this.connected) throw new Error(`rank ${this.rank} is already connected to its right neighbour`);
    if (this.publicKey !== null) {
      if (rightPublicKey === undefined) throw new ConfigInvalidError(`rank ${this.rank}: the ring is encrypted (CURVE), but no right neighbour's public key was given`);
      decodeRingKey(rightPublicKey, `rank ${this.rank}'s right neighbour's public key`);
      this.push.curveServerKey = rightPublicKey;
      this.reportRefusals(rightEndpoint);
    } else if (rightPublicKey !== undefined) {
      throw new ConfigInvalidError(`rank ${this.rank}: a right neighbour's public key was given, but this transport has no keys (ring encryption 'none')`);
    }
    this.connected = true;
    this.push.connect(rightEndpoint);
  }

  send(tag: ChunkTag, payload: WireValues): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    const frames = encodeFrame(tag, payload);
    const sent = this.sending.then(() => this.push.send(frames)).catch((err: unknown) => {
      throw this.closed ? this.closedError() : err;
    });
    this.sending = sent.catch(() => undefined);
    return sent;
  }

  receive<T extends WireType>(expect: ExpectedChunk<T>, timeoutMs: number): Promise<WireArrays[T]> {
    return receiveExpected((ms) => this.next(ms), expect, timeoutMs, { self: this.rank, from: this.left }, this.log);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.push.close();
    this.pull.close();
    // After the socket: a handshake still in flight then fails instead of finding no domain.
    this.zap?.release();
  }

  // libzmq does not retry a handshake the right neighbour refused, so the ring would stall
  // until the collective's timeout, which names only the silence: the refusal is logged.
  private reportRefusals(rightEndpoint: string): void {
    const right = (this.rank + 1) % this.worldSize;
    void (async () => {
      for await (const event of this.push.events) {
        if (event.type === 'handshake:error:auth' || event.type === 'handshake:error:protocol') {
          this.log.error(
            { self: this.rank, to: right, endpoint: rightEndpoint, event: event.type },
            `the CURVE handshake of rank ${this.rank} with rank ${right} at ${rightEndpoint} failed (${event.error.message}): ZeroMQ does not retry it, so this ring cannot run`,
          );
        }
      }
    })().catch(() => undefined);
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
