import { setTimeout as sleep } from 'node:timers/promises';
import { Router } from 'zeromq';
import { createLogger, type Logger } from '../log';
import { decodeRingKey } from './ring-keys';

/**
 * The ZAP handler (ZeroMQ RFC 27) that decides which CURVE clients a ring socket admits.
 *
 * libzmq asks it about every CURVE handshake on a socket of its context, over a socket bound
 * at a fixed inproc address, so there is one handler per process (per zeromq.js's default
 * context), shared by every ring socket in it: each CURVE server socket gets its own ZAP
 * domain, and each domain its own allow-list. The handler runs on the Node event loop, so a
 * handshake waits for the loop (within ZMQ_HANDSHAKE_IVL, 30 s by default).
 *
 * A worker binds before it knows its left neighbour, and its left neighbour may connect before
 * the rendezvous's answer reached this worker. libzmq 4.3 does not reconnect after a refused
 * handshake, so a request for a domain whose allow-list is not set yet is held and answered
 * when it is set ({@link ZapDomain.admit}); a held handshake that outlasts the handshake
 * interval is closed by libzmq and retried by the client, as any timed-out handshake.
 */
export class ZapAuthenticator {
  /** The process's handler: libzmq allows one per context. */
  static readonly shared = new ZapAuthenticator(createLogger('zap'));

  private readonly domains = new Map<string, DomainState>();
  private router: Router | null = null;
  private serving: Promise<void> = Promise.resolve();
  private sending: Promise<void> = Promise.resolve();
  // Starts and stops run one after the other, so a stop never races a bind.
  private lifecycle: Promise<void> = Promise.resolve();
  private count = 0;

  private constructor(private readonly log: Logger) {}

  /** Whether the handler's socket is bound (it is while any domain is registered). */
  get running(): boolean {
    return this.router !== null;
  }

  /**
   * Registers a fresh ZAP domain for one CURVE server socket (set it as the socket's
   * `zapDomain`), starting the handler if it is not running. Its requests are held until
   * {@link ZapDomain.admit}, each at most `handshakeMs` (the socket's ZMQ_HANDSHAKE_IVL, after
   * which libzmq has closed that connection); refusals are reported to `log`.
   */
  async domain(log: Logger, handshakeMs: number): Promise<ZapDomain> {
    const state: DomainState = { name: `facefill-ring-${++this.count}`, allowed: null, held: [], handshakeMs, log };
    this.domains.set(state.name, state);
    const handle: ZapDomain = {
      name: state.name,
      admit: (publicKeys) => this.admit(state, publicKeys),
      release: () => this.release(state),
    };
    const started = this.lifecycle.then(() => this.startIfNeeded());
    this.lifecycle = started.catch(() => undefined);
    try {
      await started;
    } catch (err) {
      handle.release();
      throw err;
    }
    return handle;
  }

  private admit(state: DomainState, publicKeys: readonly string[]): void {
    const keys = publicKeys.map((k) => decodeRingKey(k, 'an admitted public key'));
    if (this.domains.get(state.name) !== state) return;
    state.allowed = keys;
    const held = state.held.splice(0);
    for (const request of held) this.reply(request, this.verdict(state, request));
  }

  private release(state: DomainState): void {
    if (this.domains.get(state.name) !== state) return;
    this.domains.delete(state.name);
    for (const request of state.held.splice(0)) this.reply(request, 'the socket closed');
    if (this.domains.size === 0) {
      const stopped = this.lifecycle.then(() => this.stopIfUnused());
      this.lifecycle = stopped.catch(() => undefined);
    }
  }

  private async startIfNeeded(): Promise<void> {
    if (this.router !== null || this.domains.size === 0) return;
    // The last router's loop must have ended: until then libzmq may still hold its address.
    await this.serving;
    const router = new Router({ linger: 0 });
    try {
      await bindRetrying(router, ZAP_ENDPOINT);
    } catch (err) {
      router.close();
      throw err;
    }
    this.router = router;
    this.sending = Promise.resolve();
    this.serving = this.serve(router);
  }

  private async stopIfUnused(): Promise<void> {
    if (this.router === null || this.domains.size > 0) return;
    const router = this.router;
    this.router = null;
    // Replies already queued go first; after close the loop below ends by itself.
    await this.sending;
    router.close();
    await this.serving;
  }

  private async serve(router: Router): Promise<void> {
    try {
      for await (const frames of router) {
        const request = parseRequest(frames);
        // A message that is not a ZAP request from libzmq cannot be answered; it is ignored.
        if (request === null) continue;
        const state = this.domains.get(request.domain);
        if (state !== undefined && state.allowed === null && request.clientKey !== null) {
          // A client whose held handshake timed out connects again: its old request is dead,
          // and must not take a place that its new one needs.
          state.held = state.held.filter((r) => request.receivedMs - r.receivedMs < state.handshakeMs);
          if (state.held.length < MAX_HELD) {
            state.held.push(request);
            continue;
          }
        }
        this.reply(request, state === undefined ? `unknown ZAP domain '${request.domain}'` : this.verdict(state, request));
      }
    } catch (err) {
      // Only a failing socket ends the loop early; the handshakes it leaves unanswered fail by timeout.
      this.log.error({ err }, 'the ZAP handler stopped receiving requests');
    }
  }

  // null admits the request; otherwise the reason it is refused.
  private verdict(state: DomainState, r: ZapRequest): string | null {
    const key = r.clientKey;
    let refusal: string | null = null;
    if (key === null) refusal = `a ${r.mechanism} handshake; expected CURVE with one 32-byte key`;
    else if (state.allowed === null) refusal = `too many handshakes waiting (${MAX_HELD}) before the ring was formed`;
    else if (!state.allowed.some((k) => k.equals(key))) refusal = `client key ${key.toString('hex')} is not admitted`;
    if (refusal !== null) state.log.warn({ domain: state.name, address: r.address }, `refused a ring connection from ${r.address}: ${refusal}`);
    return refusal;
  }

  private reply(r: ZapRequest, refusal: string | null): void {
    const router = this.router;
    if (router === null) return;
    const frames = [r.routingId, EMPTY, Buffer.from('1.0'), r.requestId, Buffer.from(refusal === null ? '200' : '400'), Buffer.from(refusal === null ? 'OK' : refusal.slice(0, 255)), EMPTY, EMPTY];
    // One send at a time on a socket; a ROUTER never blocks, it drops a reply to a closed handshake.
    this.sending = this.sending.then(() => router.send(frames)).catch(() => undefined);
  }
}

/** One CURVE server socket's ZAP domain: which client keys it admits, until released. */
export interface ZapDomain {
  /** The name to set as the socket's `zapDomain`. */
  readonly name: string;
  /**
   * Admits exactly these client public keys (Z85) from now on, answering the held requests.
   * Throws ConfigInvalidError when one is not a CURVE key.
   */
  admit(publicKeys: readonly string[]): void;
  /** Forgets the domain, refusing its held requests; the last release stops the handler. Idempotent. */
  release(): void;
}

/** The address libzmq sends ZAP requests to (RFC 27). */
const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';
/** Live requests held per domain before its allow-list is set; more are refused, so waiting costs bounded memory. */
const MAX_HELD = 16;
const EMPTY = Buffer.alloc(0);

interface DomainState {
  readonly name: string;
  allowed: Buffer[] | null;
  held: ZapRequest[];
  readonly handshakeMs: number;
  readonly log: Logger;
}

interface ZapRequest {
  routingId: Buffer;
  requestId: Buffer;
  domain: string;
  address: string;
  mechanism: string;
  /** The CURVE client's long-term public key, or null for another mechanism or malformed credentials. */
  clientKey: Buffer | null;
  /** When it arrived (performance.now()). */
  receivedMs: number;
}

// A ZAP request as a ROUTER receives it: routing id, empty delimiter, version, request id,
// domain, address, identity, mechanism, credentials. null when it is not one.
function parseRequest(frames: Buffer[]): ZapRequest | null {
  if (frames.length < 8 || frames[1].length !== 0 || frames[2].toString() !== '1.0') return null;
  const [routingId, , , requestId, domain, address, , mechanism, ...credentials] = frames;
  const curve = mechanism.toString() === 'CURVE' && credentials.length === 1 && credentials[0].length === 32;
  return {
    routingId,
    requestId,
    domain: domain.toString(),
    address: address.toString(),
    mechanism: mechanism.toString(),
    clientKey: curve ? credentials[0] : null,
    receivedMs: performance.now(),
  };
}

// libzmq unregisters a closed socket's inproc address from its own thread, a moment later.
async function bindRetrying(router: Router, endpoint: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await router.bind(endpoint);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE' || attempt >= 100) throw err;
      await sleep(10);
    }
  }
}
