import type { ControlClient } from '../shared/control/client';
import type { Logger } from '../shared/log';

/** What a heartbeat loop needs. */
export interface HeartbeatOptions {
  client: ControlClient;
  runId: string;
  generation: number;
  rank: number;
  /** The rank's session secret for this generation. */
  session: string;
  intervalMs: number;
  /** Without a successful heartbeat for this long, the coordinator counts as gone. */
  timeoutMs: number;
  /** The step the worker is at, read at each beat. */
  step: () => number;
  /** Called once, with the coordinator's directive to stop, or to leave this ring for the next. */
  onDirective: (action: 'stop' | 'regroup', reason: string) => void;
  /** Called once, when the coordinator has not answered for `timeoutMs`. */
  onLost: (reason: string) => void;
  log: Logger;
}

/**
 * A worker's liveness signal for one ring generation: a heartbeat every `intervalMs`, each
 * bounded by its own deadline. The reply may tell the worker to stop or to regroup; a
 * coordinator that does not answer for `timeoutMs` is reported lost (the worker then tries to
 * reach it again, so that a restarted coordinator finds it).
 */
export class HeartbeatLoop {
  private timer: NodeJS.Timeout | null = null;
  private lastContact = performance.now();
  private inFlight = false;
  private stopped = false;

  constructor(private readonly o: HeartbeatOptions) {}

  start(): void {
    this.lastContact = performance.now();
    this.timer = setInterval(() => void this.beat(), this.o.intervalMs);
  }

  /** Stops beating (and calls nothing afterwards). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async beat(): Promise<void> {
    if (this.inFlight || this.stopped) return;
    this.inFlight = true;
    try {
      const { runId, generation, rank, session } = this.o;
      const reply = await this.o.client.heartbeat(
        { runId, generation, rank, session, step: this.o.step(), condition: 'RUNNING', error: '' },
        // A step's synchronous compute can keep this thread from reading the reply for a
        // while: only an answer missing for the whole timeout counts as the coordinator gone.
        this.o.timeoutMs,
      );
      this.lastContact = performance.now();
      if (reply.action !== 'CONTINUE' && !this.stopped) {
        this.stop();
        this.o.onDirective(reply.action === 'STOP' ? 'stop' : 'regroup', reply.reason);
      }
    } catch (err) {
      const silentMs = performance.now() - this.lastContact;
      const error = (err as Error).message;
      this.o.log.warn({ silentSeconds: silentMs / 1000 }, `heartbeat failed: ${error}`);
      if (silentMs > this.o.timeoutMs && !this.stopped) {
        this.stop();
        this.o.onLost(`the coordinator has not answered for ${(silentMs / 1000).toFixed(1)} s (last error: ${error})`);
      }
    } finally {
      this.inFlight = false;
    }
  }
}
