import test from 'ava';
import { backoffMs, type ProcessEnd, type RestartPolicy, type SlotEvent, type SlotState, type SlotStep, startSlot, transition } from '../../src/worker/slot-lifecycle';

const policy: RestartPolicy = { maxRestarts: 3, backoffBaseMs: 1_000, backoffCapMs: 30_000 };
const code = (c: number): SlotEvent => ({ kind: 'exit', end: { code: c, signal: null } });
const killedBy = (signal: NodeJS.Signals): SlotEvent => ({ kind: 'exit', end: { code: null, signal } });
const elapsed: SlotEvent = { kind: 'backoff-elapsed' };
const stop = (signal: NodeJS.Signals): SlotEvent => ({ kind: 'stop-requested', signal });

/** Feeds events to a new slot, one after the other; returns every step, the start first. */
function run(events: SlotEvent[], p = policy): SlotStep[] {
  const steps = [startSlot()];
  for (const event of events) steps.push(transition(steps[steps.length - 1].state, event, p));
  return steps;
}
const last = (steps: SlotStep[]) => steps[steps.length - 1];

test('a new slot is running and starts its process', (t) => {
  t.deepEqual(startSlot(), { state: { kind: 'running', restarts: 0 }, actions: [{ kind: 'spawn' }] });
});

test('a process that exits 0 ends the slot as finished', (t) => {
  t.deepEqual(last(run([code(0)])), { state: { kind: 'ended', restarts: 0, why: 'finished', exit: { code: 0, signal: null } }, actions: [] });
});

test('a crash backs off, then starts the process again', (t) => {
  const [, crashed, restarted] = run([code(1), elapsed]);
  t.deepEqual(crashed, {
    state: { kind: 'backing-off', restarts: 0, last: { code: 1, signal: null } },
    actions: [{ kind: 'schedule-restart', restart: 1, delayMs: 1_000, after: { code: 1, signal: null } }],
  });
  t.deepEqual(restarted, { state: { kind: 'running', restarts: 1 }, actions: [{ kind: 'spawn' }] });
});

test('crashes are restarted with a doubling backoff until the restarts are exhausted', (t) => {
  const steps = run([code(1), elapsed, killedBy('SIGSEGV'), elapsed, code(1), elapsed, killedBy('SIGKILL')]);
  const delays = steps.flatMap((s) => s.actions.flatMap((a) => (a.kind === 'schedule-restart' ? [[a.restart, a.delayMs]] : [])));
  t.deepEqual(delays, [
    [1, 1_000],
    [2, 2_000],
    [3, 4_000],
  ]);
  t.deepEqual(last(steps), { state: { kind: 'ended', restarts: 3, why: 'restarts-exhausted', exit: { code: null, signal: 'SIGKILL' } }, actions: [] });
});

test('with no restarts allowed the first crash is final', (t) => {
  t.like(last(run([code(1)], { ...policy, maxRestarts: 0 })).state, { kind: 'ended', why: 'restarts-exhausted', restarts: 0 });
});

test('exit codes 2 (usage) and 3 (run stopped) and a failure to start are never restarted', (t) => {
  t.like(last(run([code(2)])).state, { kind: 'ended', why: 'not-restartable', restarts: 0 });
  t.like(last(run([code(3)])).state, { kind: 'ended', why: 'not-restartable', restarts: 0 });
  const ghost: ProcessEnd = { code: null, signal: null, error: 'could not start x: spawn x ENOENT' };
  t.deepEqual(last(run([{ kind: 'exit', end: ghost }])).state, { kind: 'ended', restarts: 0, why: 'not-restartable', exit: ghost });
  // Only after a restart, too: the count stays.
  t.like(last(run([code(1), elapsed, code(3)])).state, { kind: 'ended', why: 'not-restartable', restarts: 1 });
});

test('a code outside the contract is a crash', (t) => {
  t.like(last(run([code(134)])).state, { kind: 'backing-off' });
});

test('the backoff is capped', (t) => {
  t.deepEqual(
    [1, 2, 3, 5, 6, 7, 50].map((n) => backoffMs(n, policy)),
    [1_000, 2_000, 4_000, 16_000, 30_000, 30_000, 30_000],
  );
});

test('a stop signals the process, a second one escalates, and the exit that follows is final whatever its code', (t) => {
  const [, stopping, escalated, ended] = run([stop('SIGTERM'), stop('SIGKILL'), code(1)]);
  t.deepEqual(stopping, { state: { kind: 'stopping', restarts: 0 }, actions: [{ kind: 'signal', signal: 'SIGTERM' }] });
  t.deepEqual(escalated, { state: { kind: 'stopping', restarts: 0 }, actions: [{ kind: 'signal', signal: 'SIGKILL' }] });
  t.deepEqual(ended, { state: { kind: 'ended', restarts: 0, why: 'stopped', exit: { code: 1, signal: null } }, actions: [] });
  t.like(last(run([code(1), elapsed, stop('SIGINT'), killedBy('SIGINT')])).state, { kind: 'ended', why: 'stopped', restarts: 1, exit: { signal: 'SIGINT' } });
});

test('a stop while backing off cancels the restart and ends the slot with its last exit', (t) => {
  t.deepEqual(last(run([killedBy('SIGSEGV'), stop('SIGTERM')])), {
    state: { kind: 'ended', restarts: 0, why: 'stopped', exit: { code: null, signal: 'SIGSEGV' } },
    actions: [{ kind: 'cancel-restart' }],
  });
});

test('events that do not apply to the state change nothing', (t) => {
  const states: SlotState[] = [
    { kind: 'running', restarts: 1 },
    { kind: 'backing-off', restarts: 1, last: { code: 1, signal: null } },
    { kind: 'stopping', restarts: 1 },
    { kind: 'ended', restarts: 1, why: 'finished', exit: { code: 0, signal: null } },
  ];
  const stale: [SlotState, SlotEvent][] = [
    [states[0], elapsed],
    [states[1], code(1)],
    [states[2], elapsed],
    [states[3], code(1)],
    [states[3], elapsed],
    [states[3], stop('SIGKILL')],
  ];
  for (const [state, event] of stale) t.deepEqual(transition(state, event, policy), { state, actions: [] }, `${state.kind} + ${event.kind}`);
});
