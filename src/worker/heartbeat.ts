import type { ControlClient } from '../shared/control/client';
import type { Logger } from '../shared/log';

/** What a heartbeat loop needs. */
export interface HeartbeatOptions {
  client: ControlClient;
  runId: string;
  rank: number;
  intervalMs: number;
  /** Without a successful heartbeat for this long, the coordinator counts as gone. */
  timeoutMs: number;
  /** The step the worker is at, read at each beat. */
  step: () => number;
  /** Called once, when the coordinator says stop or cannot be reached. */
  onStop: (reason: string) => void;
  /** Called once, when the coordinator says the run rolled back (this ring is over). */
  onRollback: (reason: string) => void;
  log: Logger;
}

/**
 * A worker's liveness signal: a heartbeat every `intervalMs`, each bounded by its own deadline.
 * The coordinator's reply may tell the worker to stop (another rank failed); a coordinator
 * that does not answer for `timeoutMs` stops the worker too, since a synchronous run cannot
 * checkpoint or finish without it.
 */
export class HeartbeatLoop {
  private timer: NodeJS.Timeout | null = null;
  private lastContact = performance.now();
  private lastError = '';
  private inFlight = false;
  private stopped = false;

  constructor(private readonly o: HeartbeatOptions) {}

  start(): void {
    this.lastContact = performance.now();
    this.timer = setInterval(() => void this.beat(), this.o.intervalMs);
  }

  /** Stops beating (and never calls onStop afterwards). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async beat(): Promise<void> {
    if (this.inFlight || this.stopped) return;
    this.inFlight = true;
    try {
      const reply = await this.o.client.heartbeat(
        { runId: this.o.runId, rank: this.o.rank, step: this.o.step(), state: 'running', error: '' },
        // A step's synchronous compute can keep this thread from reading the reply for a
        // while: only an answer missing for the whole timeout counts as the coordinator gone.
        this.o.timeoutMs,
      );
      this.lastContact = performance.now();
      if (reply.action === 'STOP') this.halt(`the coordinator stopped the run: ${reply.reason}`);
      if (reply.action === 'ROLLBACK' && !this.stopped) {
        this.stop();
        this.o.onRollback(reply.reason);
      }
    } catch (err) {
      this.lastError = (err as Error).message;
      const silentMs = performance.now() - this.lastContact;
      this.o.log.warn({ silentSeconds: silentMs / 1000 }, `heartbeat failed: ${this.lastError}`);
      if (silentMs > this.o.timeoutMs) this.halt(`the coordinator has not answered for ${(silentMs / 1000).toFixed(1)} s (last error: ${this.lastError})`);
    } finally {
      this.inFlight = false;
    }
  }

  private halt(reason: string): void {
    if (this.stopped) return;
    this.stop();
    this.o.onStop(reason);
  }
}
