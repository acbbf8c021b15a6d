import { ProtocolViolationError } from '../shared/errors';
import type { Member } from './rendezvous';

/** A worker's state as the coordinator tracks it. */
export type WorkerState = 'running' | 'stopped' | 'failed';

/** What the coordinator knows of one worker. */
export interface WorkerRecord {
  member: Member;
  state: WorkerState;
  /** Last step the worker reported (heartbeat or step report); -1 before any. */
  step: number;
  /** Clock reading (ms) of its last heartbeat or report. */
  lastSeenMs: number;
  /** Why it failed, when it did. */
  reason?: string;
}

/** The verdict of a liveness check. */
export type Liveness = { healthy: true } | { healthy: false; failed: WorkerRecord[]; reason: string };

/**
 * The coordinator's view of the workers after rendezvous: when each was last heard from and
 * at which step. Synchronous training cannot go on without every rank, so one worker silent
 * for longer than `heartbeatTimeoutMs` (or reporting a failure) fails the run; {@link check}
 * says which and why. Pure: the clock is passed in, so it is tested without timers.
 */
export class Membership {
  private readonly workers: Map<number, WorkerRecord>;

  constructor(
    members: readonly Member[],
    private readonly heartbeatTimeoutMs: number,
    nowMs: number,
  ) {
    this.workers = new Map(members.map((m) => [m.rank, { member: m, state: 'running', step: -1, lastSeenMs: nowMs }]));
  }

  /** Records a heartbeat or step report from `rank` at `step`. */
  seen(rank: number, step: number, nowMs: number): void {
    const w = this.record(rank);
    w.lastSeenMs = nowMs;
    w.step = Math.max(w.step, step);
  }

  /** Records that a worker stopped cleanly (finished its steps). */
  stopped(rank: number, nowMs: number): void {
    const w = this.record(rank);
    w.state = 'stopped';
    w.lastSeenMs = nowMs;
  }

  /** Records that a worker reported a failure of its own. */
  failed(rank: number, reason: string, nowMs: number): void {
    const w = this.record(rank);
    w.state = 'failed';
    w.reason = reason;
    w.lastSeenMs = nowMs;
  }

  /** Marks running workers silent for too long as failed; healthy when no worker has failed. */
  check(nowMs: number): Liveness {
    for (const w of this.workers.values()) {
      const silentMs = nowMs - w.lastSeenMs;
      if (w.state === 'running' && silentMs > this.heartbeatTimeoutMs) {
        w.state = 'failed';
        w.reason = `no heartbeat for ${(silentMs / 1000).toFixed(1)} s (limit ${(this.heartbeatTimeoutMs / 1000).toFixed(1)} s)`;
      }
    }
    const failed = [...this.workers.values()].filter((w) => w.state === 'failed');
    if (failed.length === 0) return { healthy: true };
    const reason = failed.map((w) => `rank ${w.member.rank} (${w.member.host} gpu ${w.member.gpu}): ${w.reason}`).join('; ');
    return { healthy: false, failed, reason };
  }

  /** True once every worker has stopped cleanly. */
  get finished(): boolean {
    return [...this.workers.values()].every((w) => w.state === 'stopped');
  }

  /** Every worker's record, by rank, with its heartbeat age. */
  snapshot(nowMs: number): (WorkerRecord & { heartbeatAgeMs: number })[] {
    return [...this.workers.values()].sort((a, b) => a.member.rank - b.member.rank).map((w) => ({ ...w, heartbeatAgeMs: nowMs - w.lastSeenMs }));
  }

  private record(rank: number): WorkerRecord {
    const w = this.workers.get(rank);
    if (!w) throw new ProtocolViolationError(`rank ${rank} is not a member of this run (0..${this.workers.size - 1})`);
    return w;
  }
}
