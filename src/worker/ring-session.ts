/**
 * A worker's life in a run, ring generation after ring generation: it joins a ring, trains in
 * it, and when the ring ends (the coordinator regroups it, a peer vanished, the coordinator
 * itself is gone for a while) it restores its last committed state and joins the next one.
 * It ends finished, stopped (the coordinator or a signal said so), or failed. Pure: the agent
 * carries out the actions, and every transition is unit-tested without sockets.
 */
export type SessionState =
  /** Registering for the next ring; `reconnectUntilMs` bounds the retries once a ring ended (the first registration has its own bound). */
  | { phase: 'joining'; attempt: number; reconnectUntilMs: number | null }
  | { phase: 'training'; generation: number; rank: number }
  | { phase: 'finished' }
  | { phase: 'stopped'; reason: string }
  | { phase: 'failed'; error: string };

/** What happens to a worker. */
export type SessionEvent =
  /** The ring formed and this worker has its rank. */
  | { kind: 'joined'; generation: number; rank: number }
  /** A registration failed; `transient` when the coordinator could not be reached or answered too late. */
  | { kind: 'join-failed'; error: string; transient: boolean; nowMs: number }
  /** This ring is over: the coordinator said regroup, or the ring broke under a step. */
  | { kind: 'ring-ended'; reason: string; nowMs: number }
  /** The coordinator stopped answering (heartbeats, the live link). */
  | { kind: 'coordinator-lost'; reason: string; nowMs: number }
  /** The coordinator ended the run for this worker. */
  | { kind: 'stop'; reason: string }
  /** All steps are done and the last checkpoint reported. */
  | { kind: 'finished' }
  /** The worker failed on its own. */
  | { kind: 'failed'; error: string }
  /** A signal (SIGTERM, Ctrl-C) asked it to leave. */
  | { kind: 'aborted'; reason: string };

/** What the agent must do next. */
export type SessionAction =
  /** Register again after `delayMs`; `restore` puts the last committed training state back first. */
  | { kind: 'register'; delayMs: number; restore: boolean }
  /** Nothing more: the session has ended (see its state). */
  | { kind: 'exit' }
  /** Nothing yet. */
  | { kind: 'none' };

/** The bounds of a session. */
export interface SessionRules {
  /** How long a worker that lost the coordinator keeps trying to register (`cluster.reconnectSeconds`). */
  reconnectMs: number;
  /** First retry delay; doubled per attempt up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
}

/** A session before its first registration. */
export const startSession = (): SessionState => ({ phase: 'joining', attempt: 0, reconnectUntilMs: null });

/** The session's transition function. Events that do not apply to the phase change nothing. */
export function step(s: SessionState, e: SessionEvent, rules: SessionRules): { state: SessionState; action: SessionAction } {
  const stay = { state: s, action: { kind: 'none' } as const };
  if (s.phase === 'finished' || s.phase === 'stopped' || s.phase === 'failed') return stay;
  if (e.kind === 'aborted') return end({ phase: 'stopped', reason: e.reason });
  if (e.kind === 'stop') return end({ phase: 'stopped', reason: e.reason });
  if (s.phase === 'joining') {
    if (e.kind === 'joined') return { state: { phase: 'training', generation: e.generation, rank: e.rank }, action: { kind: 'none' } };
    if (e.kind !== 'join-failed') return stay;
    if (!e.transient) return end({ phase: 'failed', error: e.error });
    if (s.reconnectUntilMs === null || e.nowMs >= s.reconnectUntilMs) {
      const waited = s.reconnectUntilMs === null ? '' : ` (kept trying for ${(rules.reconnectMs / 1000).toFixed(0)} s, cluster.reconnectSeconds)`;
      return end({ phase: 'failed', error: `${e.error}${waited}` });
    }
    const delayMs = Math.min(rules.maxBackoffMs, rules.backoffMs * 2 ** s.attempt, s.reconnectUntilMs - e.nowMs);
    return { state: { ...s, attempt: s.attempt + 1 }, action: { kind: 'register', delayMs, restore: false } };
  }
  switch (e.kind) {
    // Either way the worker may find the coordinator busy or gone for a moment: it keeps trying for the reconnect window.
    case 'ring-ended':
    case 'coordinator-lost':
      return { state: { phase: 'joining', attempt: 0, reconnectUntilMs: e.nowMs + rules.reconnectMs }, action: { kind: 'register', delayMs: 0, restore: true } };
    case 'finished':
      return end({ phase: 'finished' });
    case 'failed':
      return end({ phase: 'failed', error: e.error });
    default:
      return stay;
  }
}

const end = (state: SessionState): { state: SessionState; action: SessionAction } => ({ state, action: { kind: 'exit' } });
