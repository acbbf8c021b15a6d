import { isRestartable } from '../shared/exit-codes';

/** How many times a slot's process is started again after a crash, and how long to wait before each. */
export interface RestartPolicy {
  /** Restarts per slot at most; 0 never restarts. */
  maxRestarts: number;
  /** Wait before the first restart; each further one waits twice as long as the one before. */
  backoffBaseMs: number;
  /** Longest wait before a restart. */
  backoffCapMs: number;
}

/** How one process of a slot ended. */
export interface ProcessEnd {
  /** Exit code, or null when the process died by a signal or never ran. */
  code: number | null;
  /** Signal that ended the process, or null. */
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started, or was abandoned because it outlived SIGKILL. */
  error?: string;
}

/** Why a slot ended for good. */
export type SlotEnd =
  /** Its process exited 0. */
  | 'finished'
  /** Its process ended in a way a restart cannot help: exit code 2 or 3, or it could not be started. */
  | 'not-restartable'
  /** Its process crashed once more after the last restart the policy allows. */
  | 'restarts-exhausted'
  /** The supervisor stopped it (it was told to stop everything). */
  | 'stopped';

/**
 * Where one worker slot is. `restarts` counts the restarts begun so far. A slot starts running,
 * and goes back to running from backing-off; it ends in `ended`, and stays there.
 */
export type SlotState =
  /** A process was started and has not exited yet. */
  | { kind: 'running'; restarts: number }
  /** Its process crashed; waiting out the backoff before restart `restarts + 1`. */
  | { kind: 'backing-off'; restarts: number; last: ProcessEnd }
  /** The supervisor signalled its process to stop; waiting for it to exit. */
  | { kind: 'stopping'; restarts: number }
  /** Ended for good; `exit` is how its last process ended. */
  | { kind: 'ended'; restarts: number; why: SlotEnd; exit: ProcessEnd };

/** What happens to a slot. */
export type SlotEvent =
  /** Its process exited, died, could not be started (with `error`), or was given up on (with `error`). */
  | { kind: 'exit'; end: ProcessEnd }
  /** The supervisor stops everything: signal the process (again, maybe with a harder signal). */
  | { kind: 'stop-requested'; signal: NodeJS.Signals }
  /** The wait before a restart is over. */
  | { kind: 'backoff-elapsed' };

/** What the supervisor must do for a slot after a transition. */
export type SlotAction =
  /** Start the slot's process (the same command line and environment every time). */
  | { kind: 'spawn' }
  /** Send the slot's process a signal. */
  | { kind: 'signal'; signal: NodeJS.Signals }
  /** Deliver `backoff-elapsed` after `delayMs`; the restart will be number `restart` of the policy's maximum. */
  | { kind: 'schedule-restart'; restart: number; delayMs: number; after: ProcessEnd }
  /** Forget the pending restart: its `backoff-elapsed` must not come. */
  | { kind: 'cancel-restart' };

/** A slot's next state and what to do to get there. */
export interface SlotStep {
  state: SlotState;
  actions: SlotAction[];
}

/** A new slot: running, its first process to be started. */
export function startSlot(): SlotStep {
  return { state: { kind: 'running', restarts: 0 }, actions: [{ kind: 'spawn' }] };
}

/** The wait before restart number `restart` (1-based): the base, doubled for each restart before it, capped. */
export function backoffMs(restart: number, policy: RestartPolicy): number {
  return Math.min(policy.backoffCapMs, policy.backoffBaseMs * 2 ** (restart - 1));
}

/**
 * The pure lifecycle of one worker slot: from its state and an event, its next state and the
 * actions that carry it out. An event that does not apply to the state (an exit that arrives after
 * the slot was given up on, a backoff that elapses after a stop) changes nothing.
 */
export function transition(state: SlotState, event: SlotEvent, policy: RestartPolicy): SlotStep {
  const same: SlotStep = { state, actions: [] };
  switch (state.kind) {
    case 'running':
      if (event.kind === 'exit') return afterExit(state.restarts, event.end, policy);
      if (event.kind === 'stop-requested') return { state: { kind: 'stopping', restarts: state.restarts }, actions: [{ kind: 'signal', signal: event.signal }] };
      return same;
    case 'backing-off':
      if (event.kind === 'backoff-elapsed') return { state: { kind: 'running', restarts: state.restarts + 1 }, actions: [{ kind: 'spawn' }] };
      if (event.kind === 'stop-requested') return { state: { kind: 'ended', restarts: state.restarts, why: 'stopped', exit: state.last }, actions: [{ kind: 'cancel-restart' }] };
      return same;
    case 'stopping':
      if (event.kind === 'exit') return { state: { kind: 'ended', restarts: state.restarts, why: 'stopped', exit: event.end }, actions: [] };
      // A second request is the escalation (SIGKILL once the grace period is over).
      if (event.kind === 'stop-requested') return { state, actions: [{ kind: 'signal', signal: event.signal }] };
      return same;
    case 'ended':
      return same;
  }
}

// An exit the supervisor did not ask for: done, final, or a crash to restart while the policy allows.
function afterExit(restarts: number, end: ProcessEnd, policy: RestartPolicy): SlotStep {
  const ended = (why: SlotEnd): SlotStep => ({ state: { kind: 'ended', restarts, why, exit: end }, actions: [] });
  if (end.error === undefined && end.code === 0 && end.signal === null) return ended('finished');
  // Restarting the same command line cannot make a missing binary appear.
  if (end.error !== undefined || !isRestartable(end.code, end.signal)) return ended('not-restartable');
  if (restarts >= policy.maxRestarts) return ended('restarts-exhausted');
  const restart = restarts + 1;
  return { state: { kind: 'backing-off', restarts, last: end }, actions: [{ kind: 'schedule-restart', restart, delayMs: backoffMs(restart, policy), after: end }] };
}
