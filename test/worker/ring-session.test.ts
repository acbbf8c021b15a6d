import test from 'ava';
import { type SessionAction, type SessionEvent, type SessionRules, type SessionState, startSession, step } from '../../src/worker/ring-session';

const rules: SessionRules = { reconnectMs: 10_000, backoffMs: 100, maxBackoffMs: 1_000 };
const none: SessionAction = { kind: 'none' };
const exit: SessionAction = { kind: 'exit' };

const training: SessionState = { phase: 'training', generation: 2, rank: 1 };
/** A worker that lost the coordinator at `sinceMs` and tries to register again. */
const reconnecting = (sinceMs: number): SessionState => step(training, { kind: 'coordinator-lost', reason: 'no heartbeat answer', nowMs: sinceMs }, rules).state;
const transient = (nowMs: number): SessionEvent => ({ kind: 'join-failed', error: 'UNAVAILABLE', transient: true, nowMs });

/** Feeds `events` to `from` one after the other; returns every step's state and action. */
function run(from: SessionState, events: SessionEvent[]): { state: SessionState; action: SessionAction }[] {
  const steps: { state: SessionState; action: SessionAction }[] = [];
  let state = from;
  for (const e of events) {
    const next = step(state, e, rules);
    steps.push(next);
    state = next.state;
  }
  return steps;
}

// Every kind of event, for the tests of what a phase ignores.
const EVERY_EVENT: SessionEvent[] = [
  { kind: 'joined', generation: 5, rank: 0 },
  { kind: 'join-failed', error: 'refused', transient: false, nowMs: 0 },
  transient(0),
  { kind: 'ring-ended', reason: 'regroup', nowMs: 1 },
  { kind: 'coordinator-lost', reason: 'gone', nowMs: 0 },
  { kind: 'stop', reason: 'the run failed' },
  { kind: 'finished' },
  { kind: 'failed', error: 'CUDA out of memory' },
  { kind: 'aborted', reason: 'SIGTERM' },
];

test('a session starts joining, with no reconnect window', (t) => {
  t.deepEqual(startSession(), { phase: 'joining', attempt: 0, reconnectUntilMs: null });
});

test('joining, the ring forms: the worker trains at its rank in that generation', (t) => {
  t.deepEqual(step(startSession(), { kind: 'joined', generation: 4, rank: 2 }, rules), { state: { phase: 'training', generation: 4, rank: 2 }, action: none });
});

test('a registration refused for good fails the session with its error, even inside a reconnect window', (t) => {
  const refused: SessionEvent = { kind: 'join-failed', error: 'run run-1 has failed', transient: false, nowMs: 1_000 };
  t.deepEqual(step(startSession(), refused, rules), { state: { phase: 'failed', error: 'run run-1 has failed' }, action: exit });
  t.deepEqual(step(reconnecting(0), refused, rules), { state: { phase: 'failed', error: 'run run-1 has failed' }, action: exit });
});

test('outside a reconnect window, an unreachable coordinator fails the session at once', (t) => {
  t.deepEqual(step(startSession(), transient(0), rules), { state: { phase: 'failed', error: 'UNAVAILABLE' }, action: exit });
});

test('the ring ends (regroup, a broken ring): the worker restores its committed state and registers again at once, within a reconnect window', (t) => {
  t.deepEqual(step(training, { kind: 'ring-ended', reason: 'ring generation 2 ended: rank 0 was lost', nowMs: 5_000 }, rules), {
    state: { phase: 'joining', attempt: 0, reconnectUntilMs: 15_000 },
    action: { kind: 'register', delayMs: 0, restore: true },
  });
});

test('a lost coordinator opens a reconnect window of reconnectMs; the worker restores and registers at once', (t) => {
  t.deepEqual(step(training, { kind: 'coordinator-lost', reason: 'no answer for 30 s', nowMs: 5_000 }, rules), {
    state: { phase: 'joining', attempt: 0, reconnectUntilMs: 15_000 },
    action: { kind: 'register', delayMs: 0, restore: true },
  });
});

test('inside the window, failed registrations retry with a doubling backoff, capped, without restoring again', (t) => {
  const steps = run(reconnecting(0), [1, 2, 3, 4, 5, 6, 7].map((ms) => transient(ms)));
  t.deepEqual(
    steps.map((s) => s.action),
    [100, 200, 400, 800, 1_000, 1_000, 1_000].map((delayMs) => ({ kind: 'register', delayMs, restore: false })),
  );
  t.deepEqual(
    steps.map((s) => (s.state.phase === 'joining' ? s.state.attempt : -1)),
    [1, 2, 3, 4, 5, 6, 7],
  );
  t.true(steps.every((s) => s.state.phase === 'joining' && s.state.reconnectUntilMs === 10_000), 'the window does not move');
});

test('a retry never waits past the end of the window', (t) => {
  const [, late] = run(reconnecting(0), [transient(100), transient(9_950)]);
  t.deepEqual(late.action, { kind: 'register', delayMs: 50, restore: false });
});

test('at the end of the window the session fails, saying how long it kept trying', (t) => {
  const [, , atEnd] = run(reconnecting(0), [transient(100), transient(5_000), transient(10_000)]);
  t.deepEqual(atEnd, { state: { phase: 'failed', error: 'UNAVAILABLE (kept trying for 10 s, cluster.reconnectSeconds)' }, action: exit });
  const [past] = run(reconnecting(0), [transient(60_000)]);
  t.is(past.state.phase, 'failed');
});

test('joining again after a window: the ring forms and a later loss opens a fresh window', (t) => {
  const [, joined, lost] = run(reconnecting(0), [transient(100), { kind: 'joined', generation: 3, rank: 0 }, { kind: 'coordinator-lost', reason: 'gone again', nowMs: 50_000 }]);
  t.deepEqual(joined.state, { phase: 'training', generation: 3, rank: 0 });
  t.deepEqual(lost.state, { phase: 'joining', attempt: 0, reconnectUntilMs: 60_000 }, 'the backoff starts over');
});

test('the coordinator\'s stop and an abort (a signal) stop the session in every live phase', (t) => {
  for (const from of [startSession(), reconnecting(0), training]) {
    t.deepEqual(step(from, { kind: 'stop', reason: 'the coordinator stopped the run: rank 1 failed' }, rules), {
      state: { phase: 'stopped', reason: 'the coordinator stopped the run: rank 1 failed' },
      action: exit,
    });
    t.deepEqual(step(from, { kind: 'aborted', reason: 'SIGTERM' }, rules), { state: { phase: 'stopped', reason: 'SIGTERM' }, action: exit });
  }
});

test('training: all steps done finishes the session; a failure of its own fails it', (t) => {
  t.deepEqual(step(training, { kind: 'finished' }, rules), { state: { phase: 'finished' }, action: exit });
  t.deepEqual(step(training, { kind: 'failed', error: 'CUDA out of memory' }, rules), { state: { phase: 'failed', error: 'CUDA out of memory' }, action: exit });
});

test('events that do not apply to the phase change nothing', (t) => {
  const joining = reconnecting(0);
  const notWhileJoining: SessionEvent[] = [{ kind: 'ring-ended', reason: 'x', nowMs: 1 }, { kind: 'coordinator-lost', reason: 'x', nowMs: 1 }, { kind: 'finished' }, { kind: 'failed', error: 'x' }];
  for (const e of notWhileJoining) t.deepEqual(step(joining, e, rules), { state: joining, action: none }, `joining ignores ${e.kind}`);
  const notWhileTraining: SessionEvent[] = [{ kind: 'joined', generation: 9, rank: 0 }, transient(1), { kind: 'join-failed', error: 'x', transient: false, nowMs: 1 }];
  for (const e of notWhileTraining) t.deepEqual(step(training, e, rules), { state: training, action: none }, `training ignores ${e.kind}`);
});

test('an ended session ignores every event', (t) => {
  const ended: SessionState[] = [{ phase: 'finished' }, { phase: 'stopped', reason: 'SIGTERM' }, { phase: 'failed', error: 'CUDA out of memory' }];
  for (const state of ended) {
    for (const e of EVERY_EVENT) t.deepEqual(step(state, e, rules), { state, action: none }, `${state.phase} ignores ${e.kind}`);
  }
});
