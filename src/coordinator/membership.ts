import { ProtocolViolationError } from '../shared/errors';
import type { Member } from './rendezvous';

/** A worker's state as the coordinator tracks it. */
export type WorkerState = 'running' | 'stopped' | 'failed';

/** What the coordinator knows of one worker. */
export interface WorkerRecord {
  member: Member;
  state: WorkerState;
  /** Steps the worker reported completing (heartbeat or step report); -1 before any. */
  step: number;
  /** Clock reading (ms) of its last heartbeat or report. */
  lastSeenMs: number;
  /** Why it failed, when it did. */
  reason?: string;
  /** Whether it failed by going silent (a hung or stopped process) rather than ending or reporting. */
  silent?: boolean;
}

/** The verdict of a liveness check: every worker fine, or who is lost and how. */
export type Liveness =
  | { healthy: true }
  | { healthy: false; lost: WorkerRecord[]; cause: 'worker_lost' | 'stall'; reason: string };

/** The bounds a membership judges by. */
export interface LivenessRules {
  /** A worker silent for longer is lost. */
  heartbeatTimeoutMs: number;
  /** A ring whose step count has not grown for longer, once it took its first step, is stalled. */
  stallMs: number;
}

/**
 * The coordinator's view of one ring generation's workers: when each was last heard from and at
 * which step. A worker silent past the heartbeat timeout, one that reported a failure, and one
 * whose connection ended is lost; a ring that heartbeats but completes no step for the stall
 * bound is stalled (in a synchronous ring every rank waits for the slowest, so the whole ring
 * stalls together: all of it regroups). {@link check} says who and why. Pure: the clock is
 * passed in, so it is tested without timers.
 */
export class Membership {
  private readonly workers: Map<number, WorkerRecord>;
  private progressMs: number | null = null;
  private progressStep: number;

  /** `startStep` is where the ring starts: the stall clock starts with the first step past it (a start-up broadcast has its own bound). */
  constructor(
    members: readonly Member[],
    private readonly rules: LivenessRules,
    nowMs: number,
    startStep = 0,
  ) {
    this.workers = new Map(members.map((m) => [m.rank, { member: m, state: 'running', step: -1, lastSeenMs: nowMs }]));
    this.progressStep = startStep;
  }

  /** Records a heartbeat or step report from `rank` at `step` steps completed. */
  seen(rank: number, step: number, nowMs: number): void {
    const w = this.record(rank);
    w.lastSeenMs = nowMs;
    w.step = Math.max(w.step, step);
    if (step > this.progressStep) [this.progressStep, this.progressMs] = [step, nowMs];
  }

  /** Records that a worker stopped cleanly (finished its steps). */
  stopped(rank: number, nowMs: number): void {
    const w = this.record(rank);
    w.state = 'stopped';
    w.lastSeenMs = nowMs;
  }

  /** Records that a worker left its ring (the ring broke under it): no longer training here, but not failed. */
  left(rank: number, nowMs: number): void {
    const w = this.record(rank);
    if (w.state !== 'running') return;
    w.state = 'stopped';
    w.lastSeenMs = nowMs;
  }

  /** Records that a worker failed: it said so, or its connection ended before it finished. */
  failed(rank: number, reason: string, nowMs: number): void {
    const w = this.record(rank);
    if (w.state !== 'running') return;
    w.state = 'failed';
    w.reason = reason;
    w.lastSeenMs = nowMs;
  }

  /** Marks running workers silent for too long as failed, and judges the ring's progress. */
  check(nowMs: number): Liveness {
    const { heartbeatTimeoutMs, stallMs } = this.rules;
    for (const w of this.workers.values()) {
      const silentMs = nowMs - w.lastSeenMs;
      if (w.state === 'running' && silentMs > heartbeatTimeoutMs) {
        w.state = 'failed';
        w.silent = true;
        w.reason = `no heartbeat for ${(silentMs / 1000).toFixed(1)} s (limit ${(heartbeatTimeoutMs / 1000).toFixed(1)} s)`;
      }
    }
    const failed = [...this.workers.values()].filter((w) => w.state === 'failed');
    if (failed.length > 0) {
      const reason = failed.map((w) => `rank ${w.member.rank} (${w.member.host} gpu ${w.member.gpu}): ${w.reason}`).join('; ');
      return { healthy: false, lost: failed, cause: failed.every((w) => w.silent) ? 'stall' : 'worker_lost', reason };
    }
    const running = [...this.workers.values()].some((w) => w.state === 'running');
    if (running && this.progressMs !== null && nowMs - this.progressMs > stallMs) {
      return { healthy: false, lost: [], cause: 'stall', reason: `the ring completed no step for ${((nowMs - this.progressMs) / 1000).toFixed(1)} s (limit ${(stallMs / 1000).toFixed(1)} s) after step ${this.progressStep}` };
    }
    return { healthy: true };
  }

  /** True once every worker has stopped cleanly. */
  get finished(): boolean {
    return [...this.workers.values()].every((w) => w.state === 'stopped');
  }

  /** Whether `rank` is a member still training. */
  isRunning(rank: number): boolean {
    return this.workers.get(rank)?.state === 'running';
  }

  /** Every worker's record, by rank, with its heartbeat age. */
  snapshot(nowMs: number): (WorkerRecord & { heartbeatAgeMs: number })[] {
    return [...this.workers.values()].sort((a, b) => a.member.rank - b.member.rank).map((w) => ({ ...w, heartbeatAgeMs: nowMs - w.lastSeenMs }));
  }

  private record(rank: number): WorkerRecord {
    const w = this.workers.get(rank);
    if (!w) throw new ProtocolViolationError(`rank ${rank} is not a member of this ring (0..${this.workers.size - 1})`);
    return w;
  }
}
