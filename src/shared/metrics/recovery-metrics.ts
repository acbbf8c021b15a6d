import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Every recovery metric's name, for the dashboard and alert checks. */
export const RECOVERY_METRIC_NAMES = [
  'facefill_ring_generation',
  'facefill_recoveries_total',
  'facefill_recovery_seconds',
  'facefill_skipped_steps_total',
  'facefill_lost_steps_total',
] as const;

/**
 * Every cause of a recovery, the values of `facefill_recoveries_total`'s `cause` label:
 * - `worker_lost`: a worker's process ended or it reported a failure, and the survivors went on in a new ring;
 * - `stall`: a worker hung (still connected, but silent past `cluster.heartbeatTimeoutSeconds`) and was
 *   dropped, or the ring completed no step for `cluster.stallSeconds` and regrouped whole;
 * - `coordinator_restart`: a restarted coordinator resumed the run;
 * - `rollback`: a mode collapse sent the run back to a healthy checkpoint;
 * - `nonfinite`: more than `train.maxSkippedSteps` non-finite steps in a row sent it back to a checkpoint.
 */
export const RECOVERY_CAUSES = ['worker_lost', 'stall', 'coordinator_restart', 'rollback', 'nonfinite'] as const;

/** Why a run had to recover (see {@link RECOVERY_CAUSES}). */
export type RecoveryCause = (typeof RECOVERY_CAUSES)[number];

// From a rollback in one process (a fraction of a second) to a new rendezvous that waits out
// cluster.rejoinSeconds for a replacement, or workers reconnecting to a restarted coordinator
// (cluster.reconnectSeconds), then downloads a checkpoint: minutes.
const RECOVERY_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * A run's faults and how it recovered from them: the ring generation it trains in, recoveries
 * by cause with the time each took, steps skipped for a non-finite loss or gradient, and steps
 * recomputed after a recovery. Every cause is exported from the start (at 0), so that
 * `increase()` sees a run's first recovery and a query finds the series before any fault.
 */
export class RecoveryMetrics {
  private readonly ringGeneration: Gauge;
  private readonly recoveries: Counter<'cause'>;
  private readonly recoverySeconds: Histogram;
  private readonly skipped: Counter;
  private readonly lost: Counter;

  constructor(registry: Registry) {
    const on = { registers: [registry] };
    this.ringGeneration = new Gauge({ name: 'facefill_ring_generation', help: 'Ring generation the run trains in: 0, then one more at each new ring (a lost worker, a rollback).', ...on });
    this.recoveries = new Counter({ name: 'facefill_recoveries_total', help: 'Recoveries from a fault, by cause.', labelNames: ['cause'], ...on });
    this.recoverySeconds = new Histogram({
      name: 'facefill_recovery_seconds',
      help: "Time from a fault's detection until training resumed.",
      buckets: RECOVERY_BUCKETS,
      ...on,
    });
    this.skipped = new Counter({ name: 'facefill_skipped_steps_total', help: 'Steps skipped for a non-finite loss or gradient.', ...on });
    this.lost = new Counter({ name: 'facefill_lost_steps_total', help: 'Steps trained again after a recovery went back to an earlier step.', ...on });
    // A process that has not said which generation it trains in exports none, not a misleading 0.
    this.ringGeneration.set(Number.NaN);
    for (const cause of RECOVERY_CAUSES) this.recoveries.inc({ cause }, 0);
  }

  /** Records the ring generation the run now trains in. */
  generation(n: number): void {
    this.ringGeneration.set(n);
  }

  /**
   * Records a recovery once training has resumed: its cause, the seconds since the fault was
   * detected, and how many completed steps it threw away (the step training had reached minus
   * the step it resumed from; 0 when none). Throws a RangeError, recording nothing, when
   * `seconds` is negative or not finite, or `lostSteps` is not an integer >= 0.
   */
  recovered(cause: RecoveryCause, seconds: number, lostSteps: number): void {
    if (!(Number.isFinite(seconds) && seconds >= 0)) throw new RangeError(`recovery of cause ${cause} took ${seconds} s: expected a finite number >= 0`);
    checkSteps('lost', lostSteps);
    this.recoveries.inc({ cause });
    this.recoverySeconds.observe(seconds);
    this.lost.inc(lostSteps);
  }

  /** Records `steps` (default 1) steps skipped for a non-finite loss or gradient; throws a RangeError unless it is an integer >= 0. */
  skippedSteps(steps = 1): void {
    checkSteps('skipped', steps);
    this.skipped.inc(steps);
  }
}

// prom-client would take NaN into a counter for good (and refuses a negative one only when it
// is already half recorded).
function checkSteps(what: string, steps: number): void {
  if (!(Number.isSafeInteger(steps) && steps >= 0)) throw new RangeError(`${steps} ${what} steps: expected an integer >= 0`);
}
