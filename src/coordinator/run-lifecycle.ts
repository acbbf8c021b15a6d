import type { RecoveryCause } from '../shared/metrics/recovery-metrics';
import { decideRecovery, type RecoveryContext } from '../shared/recovery/recovery-policy';
import type { RecoveryView } from './api';
import type { Member } from './rendezvous';

/**
 * A run's life as the coordinator leads it: a rendezvous forms ring generation 0; the ring
 * trains; a fault (a lost or stalled worker, a newcomer to take in, a rollback, a restarted
 * coordinator) ends the generation and the run recovers: the next generation's rendezvous
 * gathers the survivors and any new workers, and its ring trains on from the survivors' state.
 * It ends finished, or failed (too few workers for too long, a policy's stop, a divergence).
 */
export type RunPhase = 'rendezvous' | 'running' | 'recovering' | 'finished' | 'failed';

/** One recovery, from its fault to the new ring's first step. */
export interface RecoveryRecord {
  cause: RecoveryCause;
  /** The generation it started. */
  generation: number;
  reason: string;
  /** Clock reading (ms) when the fault was detected. */
  sinceMs: number;
  /** Most steps any rank had completed when it was detected. */
  reachedStep: number;
  /** The step the new ring started from, once formed. */
  resumedStep: number | null;
  /** Detection to the new ring's first step, once it trained. */
  seconds: number | null;
}

/** Steps the ring had to do again after a recovery: from the most any rank had done to where the new ring started. */
export function lostSteps(r: RecoveryRecord): number {
  return r.resumedStep === null ? 0 : Math.max(0, r.reachedStep - r.resumedStep);
}

/** A recovery as `status` and run.json show it. */
export function recoveryView(r: RecoveryRecord): RecoveryView {
  return { cause: r.cause, generation: r.generation, step: r.resumedStep ?? -1, lostSteps: lostSteps(r), reason: r.reason, seconds: r.seconds ?? 0 };
}

/** The lifecycle's state: pure data. */
export interface LifecycleState {
  phase: RunPhase;
  /** The ring generation: 0, and one more after every recovery. */
  generation: number;
  /** The current ring's members (empty until a ring forms). */
  world: readonly Member[];
  /** Steps completed where the current ring started. */
  startStep: number;
  /** Most steps any rank of the run has reported completing. */
  reachedStep: number;
  /** Why the run failed. */
  error: string;
  /** When a world below `cluster.minWorkers` gives up waiting (ms), while it waits. */
  rejoinDeadlineMs: number | null;
  /** Every recovery, oldest first; the last is open until its ring trains. */
  recoveries: readonly RecoveryRecord[];
}

/** What happens to a run. */
export type LifecycleEvent =
  /** A generation's rendezvous formed its ring, starting at `startStep`. */
  | { kind: 'ring-formed'; members: readonly Member[]; startStep: number; nowMs: number }
  /** A rank reported completing `steps` steps. */
  | { kind: 'progress'; steps: number; nowMs: number }
  /** Ranks of the current ring were lost: their process ended, went silent, or stalled. */
  | { kind: 'members-lost'; ranks: readonly number[]; cause: 'worker_lost' | 'stall'; reason: string; nowMs: number }
  /** The ring broke under its members (a worker left it, hearing nothing from a neighbour): all of them regroup. */
  | { kind: 'ring-broken'; reason: string; nowMs: number }
  /** A worker registered while the ring trains with fewer than `--workers`: take it in. */
  | { kind: 'newcomer'; nowMs: number }
  /** The recovery policy rolled the run back to the checkpoint of `toStep`. */
  | { kind: 'rollback'; toStep: number; reason: string; cause: 'rollback' | 'nonfinite'; nowMs: number }
  /** This coordinator took over a run another one left (a restart with --resume), whose last ring was `members`. */
  | { kind: 'resumed'; generation: number; reachedStep: number; members: readonly Member[]; nowMs: number }
  /** A rendezvous's bound passed with `joined` workers registered (`who`, in words). */
  | { kind: 'rendezvous-expired'; joined: number; who: string; nowMs: number }
  /** Every member finished its steps and the final checkpoint is merged. */
  | { kind: 'finished' }
  /** The run cannot go on. */
  | { kind: 'failed'; reason: string };

/** What the coordinator must do after a transition. */
export type LifecycleAction =
  /** Tell every worker of generation `ended` to leave its ring and register again. */
  | { kind: 'regroup'; ended: number; reason: string }
  /** Open the rendezvous of `generation`; `expect` are the survivors it waits for (by rank in the ended ring). */
  | { kind: 'open-rendezvous'; generation: number; expect: readonly Member[] }
  /** Tell every worker the run is over for them. */
  | { kind: 'stop-workers'; reason: string }
  /** A recovery completed: its ring trains. */
  | { kind: 'recovered'; record: RecoveryRecord }
  /** Write the run's state. */
  | { kind: 'persist' }
  /** Log it. */
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string };

/** The lifecycle's answer: the next state and what to do. */
export interface Transition {
  state: LifecycleState;
  actions: LifecycleAction[];
}

/** Only the recent recoveries are kept: a run that recovers all the time must not grow without bound. */
export const KEPT_RECOVERIES = 10;

/** The state of a run before its first rendezvous. */
export function initialLifecycle(): LifecycleState {
  return { phase: 'rendezvous', generation: 0, world: [], startStep: 0, reachedStep: 0, error: '', rejoinDeadlineMs: null, recoveries: [] };
}

/**
 * The run's transition function: pure, so every transition is unit-tested without sockets or
 * timers. `context` is what the recovery policy needs to know of the run now. Lost members go to the one recovery policy ({@link decideRecovery}): the survivors
 * regroup while `cluster.minWorkers` remain, else the run waits `cluster.rejoinSeconds` for
 * replacements. Events that do not apply to the phase change nothing.
 */
export function transition(s: LifecycleState, e: LifecycleEvent, context: RecoveryContext): Transition {
  if (s.phase === 'finished' || s.phase === 'failed') return { state: s, actions: [] };
  switch (e.kind) {
    case 'ring-formed':
      if (s.phase === 'running') return { state: s, actions: [] };
      return {
        state: { ...s, phase: 'running', world: e.members, startStep: e.startStep, rejoinDeadlineMs: null, recoveries: openLast(s.recoveries, (r) => ({ ...r, resumedStep: e.startStep })) },
        actions: [{ kind: 'persist' }, { kind: 'log', level: 'info', message: `ring generation ${s.generation} formed with ${e.members.length} workers at step ${e.startStep}` }],
      };
    case 'progress': {
      const reachedStep = Math.max(s.reachedStep, e.steps);
      const open = s.recoveries.at(-1);
      if (s.phase !== 'running' || !open || open.seconds !== null || e.steps <= s.startStep) return { state: { ...s, reachedStep }, actions: [] };
      const record = { ...open, seconds: (e.nowMs - open.sinceMs) / 1000 };
      return { state: { ...s, reachedStep, recoveries: openLast(s.recoveries, () => record) }, actions: [{ kind: 'recovered', record }, { kind: 'persist' }] };
    }
    case 'members-lost': {
      if (s.phase !== 'running') return { state: s, actions: [] };
      const lost = new Set(e.ranks);
      const alive = s.world.filter((m) => !lost.has(m.rank));
      const decision = decideRecovery({ kind: 'member-lost', alive: alive.length, who: e.reason }, context);
      const waiting = decision.action === 'wait' ? e.nowMs + decision.seconds * 1000 : null;
      return recover(s, { cause: e.cause, reason: 'reason' in decision ? decision.reason : e.reason, nowMs: e.nowMs, expect: alive, rejoinDeadlineMs: waiting });
    }
    case 'ring-broken':
      if (s.phase !== 'running') return { state: s, actions: [] };
      return recover(s, { cause: 'worker_lost', reason: e.reason, nowMs: e.nowMs, expect: s.world, rejoinDeadlineMs: null });
    case 'newcomer':
      if (s.phase !== 'running') return { state: s, actions: [] };
      return recover(s, { cause: 'worker_lost', reason: 'a worker joined: the ring grows', nowMs: e.nowMs, expect: s.world, rejoinDeadlineMs: null, growth: true });
    case 'rollback':
      if (s.phase !== 'running') return { state: s, actions: [] };
      return recover(s, { cause: e.cause, reason: e.reason, nowMs: e.nowMs, expect: s.world, rejoinDeadlineMs: null });
    case 'resumed':
      return recover(
        { ...s, generation: e.generation, reachedStep: e.reachedStep },
        { cause: 'coordinator_restart', reason: `the coordinator restarted and resumes the run at generation ${e.generation + 1}`, nowMs: e.nowMs, expect: e.members, rejoinDeadlineMs: null },
      );
    case 'rendezvous-expired': {
      if (s.phase === 'running') return { state: s, actions: [] };
      const min = context.config.cluster.minWorkers;
      if (e.joined >= min) return { state: s, actions: [] };
      if (s.rejoinDeadlineMs !== null && e.nowMs < s.rejoinDeadlineMs) return { state: s, actions: [] };
      // Only a run that lost workers below the minimum waited for replacements; any other ring just did not form in time.
      const reason =
        s.rejoinDeadlineMs !== null
          ? decisionReason(decideRecovery({ kind: 'rejoin-expired', alive: e.joined }, context))
          : `ring generation ${s.generation} did not form in time (cluster.rendezvousTimeoutSeconds): ${e.joined} workers joined (${e.who}), cluster.minWorkers is ${min}`;
      return fail(s, reason);
    }
    case 'finished':
      return { state: { ...s, phase: 'finished' }, actions: [{ kind: 'persist' }, { kind: 'log', level: 'info', message: 'run finished' }] };
    case 'failed':
      return fail(s, e.reason);
  }
}

// Ends the current generation and opens the next one's rendezvous.
function recover(
  s: LifecycleState,
  r: { cause: RecoveryCause; reason: string; nowMs: number; expect: readonly Member[]; rejoinDeadlineMs: number | null; growth?: boolean },
): Transition {
  const generation = s.generation + 1;
  const record: RecoveryRecord = { cause: r.cause, generation, reason: r.reason, sinceMs: r.nowMs, reachedStep: s.reachedStep, resumedStep: null, seconds: null };
  // Taking in a newcomer is a regroup, not a recovery from a fault.
  const recoveries = r.growth ? s.recoveries : [...s.recoveries, record].slice(-KEPT_RECOVERIES);
  return {
    state: { ...s, phase: 'recovering', generation, rejoinDeadlineMs: r.rejoinDeadlineMs, recoveries },
    actions: [
      { kind: 'regroup', ended: s.generation, reason: r.reason },
      { kind: 'open-rendezvous', generation, expect: r.expect },
      { kind: 'persist' },
      { kind: 'log', level: r.growth ? 'info' : 'warn', message: `${r.reason}: ring generation ${generation} forms` },
    ],
  };
}

function fail(s: LifecycleState, reason: string): Transition {
  return {
    state: { ...s, phase: 'failed', error: reason },
    actions: [{ kind: 'stop-workers', reason }, { kind: 'persist' }, { kind: 'log', level: 'error', message: `run failed: ${reason}` }],
  };
}

function openLast(records: readonly RecoveryRecord[], update: (r: RecoveryRecord) => RecoveryRecord): readonly RecoveryRecord[] {
  const last = records.at(-1);
  if (!last || last.seconds !== null) return records;
  return [...records.slice(0, -1), update(last)];
}

const decisionReason = (d: ReturnType<typeof decideRecovery>): string => ('reason' in d ? d.reason : d.action);
