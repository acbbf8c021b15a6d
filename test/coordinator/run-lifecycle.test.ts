import test from 'ava';
import type { Member } from '../../src/coordinator/rendezvous';
import { initialLifecycle, KEPT_RECOVERIES, type LifecycleEvent, type LifecycleState, type Transition, transition } from '../../src/coordinator/run-lifecycle';
import { DEFAULT_CONFIG, type RunConfig } from '../../src/shared/config';
import { decideRecovery, type Fault, type RecoveryContext } from '../../src/shared/recovery/recovery-policy';

// Rings of up to 3 workers that train on with 2; a smaller world waits 30 s for replacements.
const config: RunConfig = { ...DEFAULT_CONFIG, cluster: { ...DEFAULT_CONFIG.cluster, minWorkers: 2, rejoinSeconds: 30 } };
const context: RecoveryContext = { config, optimizer: config.optimizer, rollbacks: 0, healthyStep: 4 };

const member = (rank: number, host = `h${rank}`): Member => ({ rank, host, gpu: 0, backend: 'wasm', device: 'cpu', dataEndpoint: `tcp://${host}:1`, ipcEndpoint: '', pid: 10 + rank, runId: 'run-1', committedStep: 5, ringPublicKey: '' });
const members = [0, 1, 2].map((rank) => member(rank));

/** Feeds `events` from `from`; returns the last transition. */
function after(from: LifecycleState, ...events: LifecycleEvent[]): Transition {
  let last: Transition = { state: from, actions: [] };
  for (const e of events) last = transition(last.state, e, context);
  return last;
}

const formed = (startStep: number, nowMs = 0, world: readonly Member[] = members): LifecycleEvent => ({ kind: 'ring-formed', members: world, startStep, nowMs });
const progress = (steps: number, nowMs = 0): LifecycleEvent => ({ kind: 'progress', steps, nowMs });
const lost = (ranks: number[], nowMs = 0, cause: 'worker_lost' | 'stall' = 'worker_lost'): LifecycleEvent => ({ kind: 'members-lost', ranks, cause, reason: `rank ${ranks.join(', ')} (h gpu 0): its connection ended`, nowMs });
const ROLLBACK_REASON = 'mode collapse at step 9; rolled back to the checkpoint of step 4';
const rollingBack = (cause: 'rollback' | 'nonfinite' = 'rollback', nowMs = 0): LifecycleEvent => ({ kind: 'rollback', toStep: 4, reason: ROLLBACK_REASON, cause, nowMs });

/** A run whose ring generation 0 trains, reached step 7. */
const training = (): LifecycleState => after(initialLifecycle(), formed(0), progress(7)).state;
/** A run recovering from the loss of rank 2 at 1000 ms (generation 1 forming). */
const recovering = (): LifecycleState => after(training(), lost([2], 1_000)).state;

const kinds = (tr: Transition) => tr.actions.map((a) => a.kind);

/** What the one recovery policy says of `fault` in this run: the lifecycle must pass it on. */
function policyReason(fault: Fault): string {
  const d = decideRecovery(fault, context);
  if (!('reason' in d)) throw new Error(`the policy gave no reason for ${fault.kind}`);
  return d.reason;
}

// Every kind of event, for the tests of what a phase ignores.
const EVERY_EVENT: LifecycleEvent[] = [
  formed(3),
  progress(9),
  lost([1]),
  { kind: 'newcomer', nowMs: 0 },
  rollingBack(),
  { kind: 'resumed', generation: 4, reachedStep: 9, members, nowMs: 0 },
  { kind: 'rendezvous-expired', joined: 0, who: 'nobody', nowMs: 1e9 },
  { kind: 'finished' },
  { kind: 'failed', reason: 'shut down' },
];

test('a run starts at the rendezvous of generation 0, with nothing recorded', (t) => {
  t.deepEqual(initialLifecycle(), { phase: 'rendezvous', generation: 0, world: [], startStep: 0, reachedStep: 0, error: '', rejoinDeadlineMs: null, recoveries: [] });
});

test('the ring forms: the run trains with its members from the start step, and persists', (t) => {
  const tr = after(initialLifecycle(), formed(3));
  t.deepEqual(tr.state, { ...initialLifecycle(), phase: 'running', world: members, startStep: 3 });
  t.deepEqual(kinds(tr), ['persist', 'log']);
  t.deepEqual(tr.actions[1], { kind: 'log', level: 'info', message: 'ring generation 0 formed with 3 workers at step 3' });
});

test('a second ring-formed while running changes nothing', (t) => {
  const s = training();
  const tr = transition(s, formed(5, 0, members.slice(0, 1)), context);
  t.is(tr.state, s);
  t.deepEqual(tr.actions, []);
});

test('progress raises the step the run reached, never lowers it, in any live phase', (t) => {
  const s = training();
  t.is(s.reachedStep, 7);
  t.deepEqual(after(s, progress(5)), { state: s, actions: [] }, 'an older report: nothing changes');
  const r = recovering();
  const tr = transition(r, progress(9), context);
  t.deepEqual(tr, { state: { ...r, reachedStep: 9 }, actions: [] }, 'a late report of the ended ring still counts as reached');
});

test('lost members with minWorkers left: the survivors regroup in the next generation, recorded as a recovery', (t) => {
  const tr = after(training(), lost([2], 1_000));
  const reason = policyReason({ kind: 'member-lost', alive: 2, who: 'rank 2 (h gpu 0): its connection ended' });
  t.regex(reason, /rank 2 \(h gpu 0\): its connection ended.* 2 workers left/);
  t.deepEqual(tr.state, {
    ...training(),
    phase: 'recovering',
    generation: 1,
    rejoinDeadlineMs: null,
    recoveries: [{ cause: 'worker_lost', generation: 1, reason, sinceMs: 1_000, reachedStep: 7, resumedStep: null, seconds: null }],
  });
  t.deepEqual(tr.actions, [
    { kind: 'regroup', ended: 0, reason },
    { kind: 'open-rendezvous', generation: 1, expect: members.slice(0, 2) },
    { kind: 'persist' },
    { kind: 'log', level: 'warn', message: `${reason}: ring generation 1 forms` },
  ]);
});

test('lost members below minWorkers: the survivors wait rejoinSeconds for replacements', (t) => {
  const tr = after(training(), lost([1, 2], 2_000));
  t.is(tr.state.phase, 'recovering');
  t.is(tr.state.rejoinDeadlineMs, 2_000 + 30_000);
  t.is(tr.state.recoveries[0].reason, policyReason({ kind: 'member-lost', alive: 1, who: 'rank 1, 2 (h gpu 0): its connection ended' }));
  t.regex(tr.state.recoveries[0].reason, /1 workers are left, cluster\.minWorkers is 2: waiting up to 30 s for replacements/);
  t.deepEqual(tr.actions[1], { kind: 'open-rendezvous', generation: 1, expect: [members[0]] });
  t.deepEqual(kinds(tr), ['regroup', 'open-rendezvous', 'persist', 'log']);
});

test('a stalled ring loses nobody: all of it regroups, recorded as a stall', (t) => {
  const tr = after(training(), lost([], 0, 'stall'));
  t.is(tr.state.recoveries[0].cause, 'stall');
  t.deepEqual(tr.actions[1], { kind: 'open-rendezvous', generation: 1, expect: members });
});

test('lost members are only acted on while a ring trains', (t) => {
  for (const s of [initialLifecycle(), recovering()]) t.deepEqual(transition(s, lost([0]), context), { state: s, actions: [] }, s.phase);
});

test('the next ring forms: the open recovery learns the step it resumed from; the wait for replacements ends', (t) => {
  const waiting = after(training(), lost([1, 2], 2_000)).state;
  const survivors = [member(0), member(1, 'new')];
  const tr = transition(waiting, formed(6, 3_000, survivors), context);
  t.is(tr.state.phase, 'running');
  t.is(tr.state.generation, 1);
  t.deepEqual(tr.state.world, survivors);
  t.is(tr.state.startStep, 6);
  t.is(tr.state.rejoinDeadlineMs, null);
  t.deepEqual(tr.state.recoveries, [{ ...waiting.recoveries[0], resumedStep: 6 }]);
  t.deepEqual(tr.actions[1], { kind: 'log', level: 'info', message: 'ring generation 1 formed with 2 workers at step 6' });
});

test('the first step past the start closes the recovery with its duration; later steps do not touch it', (t) => {
  const resumed = after(recovering(), formed(6, 3_000)).state;
  t.deepEqual(transition(resumed, progress(6, 3_500), context).actions, [], 'the start step itself is no progress');
  const tr = transition(resumed, progress(7, 4_500), context);
  const record = { ...resumed.recoveries[0], seconds: 3.5 };
  t.deepEqual(tr.state.recoveries, [record]);
  t.deepEqual(tr.actions, [{ kind: 'recovered', record }, { kind: 'persist' }]);
  t.deepEqual(transition(tr.state, progress(8, 9_000), context), { state: { ...tr.state, reachedStep: 8 }, actions: [] });
});

test('progress of a recovering run does not close its recovery before the new ring trains', (t) => {
  const tr = transition(recovering(), progress(20, 5_000), context);
  t.is(tr.state.recoveries[0].seconds, null);
  t.deepEqual(tr.actions, []);
});

test('a ring that broke under its members regroups all of them, recorded as a recovery', (t) => {
  const s = { ...training(), reachedStep: 9 };
  const tr = transition(s, { kind: 'ring-broken', reason: 'rank 1 heard nothing from rank 0', nowMs: 500 }, context);
  t.deepEqual([tr.state.phase, tr.state.generation], ['recovering', 1]);
  t.deepEqual(tr.state.recoveries.at(-1), { cause: 'worker_lost', generation: 1, reason: 'rank 1 heard nothing from rank 0', sinceMs: 500, reachedStep: 9, resumedStep: null, seconds: null });
  t.deepEqual(tr.actions.slice(0, 2), [
    { kind: 'regroup', ended: 0, reason: 'rank 1 heard nothing from rank 0' },
    { kind: 'open-rendezvous', generation: 1, expect: members },
  ]);
  const r = recovering();
  t.deepEqual(transition(r, { kind: 'ring-broken', reason: 'x', nowMs: 0 }, context), { state: r, actions: [] }, 'only a training ring can break');
});

test('a newcomer to a ring below --workers regroups it to take it in, which is no recovery', (t) => {
  const s = training();
  const tr = transition(s, { kind: 'newcomer', nowMs: 0 }, context);
  t.deepEqual(tr.state, { ...s, phase: 'recovering', generation: 1 });
  t.deepEqual(tr.actions, [
    { kind: 'regroup', ended: 0, reason: 'a worker joined: the ring grows' },
    { kind: 'open-rendezvous', generation: 1, expect: members },
    { kind: 'persist' },
    { kind: 'log', level: 'info', message: 'a worker joined: the ring grows: ring generation 1 forms' },
  ]);
  const r = recovering();
  t.deepEqual(transition(r, { kind: 'newcomer', nowMs: 0 }, context), { state: r, actions: [] }, 'a forming ring takes it in anyway');
});

test('a rollback regroups the whole ring in the next generation, recorded with its cause', (t) => {
  for (const cause of ['rollback', 'nonfinite'] as const) {
    const tr = after(training(), rollingBack(cause, 8_000));
    t.is(tr.state.phase, 'recovering');
    t.is(tr.state.generation, 1);
    t.deepEqual(tr.state.recoveries, [{ cause, generation: 1, reason: ROLLBACK_REASON, sinceMs: 8_000, reachedStep: 7, resumedStep: null, seconds: null }]);
    t.deepEqual(tr.actions.slice(0, 2), [
      { kind: 'regroup', ended: 0, reason: ROLLBACK_REASON },
      { kind: 'open-rendezvous', generation: 1, expect: members },
    ]);
  }
  const r = recovering();
  t.deepEqual(transition(r, rollingBack(), context), { state: r, actions: [] }, 'no rollback of a ring that is not training');
});

test('a restarted coordinator resumes the recorded run at the generation after its last, expecting its members', (t) => {
  const tr = after(initialLifecycle(), { kind: 'resumed', generation: 4, reachedStep: 12, members, nowMs: 100 });
  const reason = 'the coordinator restarted and resumes the run at generation 5';
  t.deepEqual(tr.state, {
    ...initialLifecycle(),
    phase: 'recovering',
    generation: 5,
    reachedStep: 12,
    recoveries: [{ cause: 'coordinator_restart', generation: 5, reason, sinceMs: 100, reachedStep: 12, resumedStep: null, seconds: null }],
  });
  t.deepEqual(tr.actions.slice(0, 2), [
    { kind: 'regroup', ended: 4, reason },
    { kind: 'open-rendezvous', generation: 5, expect: members },
  ]);
});

test('the first rendezvous expiring with fewer than minWorkers fails the run, saying how many came', (t) => {
  const tr = after(initialLifecycle(), { kind: 'rendezvous-expired', joined: 1, who: 'h gpu 0 pid 7', nowMs: 0 });
  const reason = 'ring generation 0 did not form in time (cluster.rendezvousTimeoutSeconds): 1 workers joined (h gpu 0 pid 7), cluster.minWorkers is 2';
  t.deepEqual(tr.state, { ...initialLifecycle(), phase: 'failed', error: reason });
  t.deepEqual(tr.actions, [
    { kind: 'stop-workers', reason },
    { kind: 'persist' },
    { kind: 'log', level: 'error', message: `run failed: ${reason}` },
  ]);
});

test('a rendezvous expiring with minWorkers joined changes nothing (the coordinator forms the ring with them)', (t) => {
  for (const s of [initialLifecycle(), recovering()]) t.deepEqual(transition(s, { kind: 'rendezvous-expired', joined: 2, who: 'a, b', nowMs: 1e9 }, context), { state: s, actions: [] }, s.phase);
});

test('waiting for replacements, the run fails only once the rejoin deadline passed', (t) => {
  const waiting = after(training(), lost([1, 2], 2_000)).state;
  const expired = (nowMs: number): LifecycleEvent => ({ kind: 'rendezvous-expired', joined: 1, who: 'h gpu 0 pid 7', nowMs });
  t.deepEqual(transition(waiting, expired(31_999), context), { state: waiting, actions: [] });
  const tr = transition(waiting, expired(32_000), context);
  t.is(tr.state.phase, 'failed');
  t.is(tr.state.error, policyReason({ kind: 'rejoin-expired', alive: 1 }));
  t.regex(tr.state.error, /only 1 workers .*cluster\.minWorkers is 2/);
  t.deepEqual(kinds(tr), ['stop-workers', 'persist', 'log']);
});

test('a regrouping ring (no rejoin deadline) whose rendezvous expires with fewer than minWorkers fails at once, saying it did not form in time', (t) => {
  const tr = transition(recovering(), { kind: 'rendezvous-expired', joined: 1, who: 'h gpu 0 pid 7', nowMs: 0 }, context);
  t.is(tr.state.phase, 'failed');
  t.regex(tr.state.error, /^ring generation \d+ did not form in time .*1 workers joined \(h gpu 0 pid 7\), cluster\.minWorkers is 2$/);
});

test('an expired rendezvous is no matter once the ring trains', (t) => {
  const s = training();
  t.deepEqual(transition(s, { kind: 'rendezvous-expired', joined: 0, who: 'nobody', nowMs: 1e9 }, context), { state: s, actions: [] });
});

test('the run finishes: persisted and logged', (t) => {
  const tr = after(training(), { kind: 'finished' });
  t.deepEqual(tr.state, { ...training(), phase: 'finished' });
  t.deepEqual(tr.actions, [{ kind: 'persist' }, { kind: 'log', level: 'info', message: 'run finished' }]);
});

test('the run fails from any live phase: workers are stopped with the reason', (t) => {
  for (const s of [initialLifecycle(), training(), recovering()]) {
    const tr = transition(s, { kind: 'failed', reason: 'shut down: SIGTERM' }, context);
    t.deepEqual(tr.state, { ...s, phase: 'failed', error: 'shut down: SIGTERM' });
    t.deepEqual(tr.actions[0], { kind: 'stop-workers', reason: 'shut down: SIGTERM' });
  }
});

test('a finished or failed run ignores every event', (t) => {
  const ended = [after(training(), { kind: 'finished' }).state, after(training(), { kind: 'failed', reason: 'diverged' }).state];
  for (const s of ended) {
    for (const e of EVERY_EVENT) {
      const tr = transition(s, e, context);
      t.is(tr.state, s, `${s.phase} ignores ${e.kind}`);
      t.deepEqual(tr.actions, []);
    }
  }
});

test(`only the last ${KEPT_RECOVERIES} recoveries are kept`, (t) => {
  let s = training();
  const total = KEPT_RECOVERIES + 3;
  for (let i = 0; i < total; i++) s = after(s, rollingBack(), formed(4)).state;
  t.is(s.generation, total);
  t.deepEqual(
    s.recoveries.map((r) => r.generation),
    Array.from({ length: KEPT_RECOVERIES }, (_, i) => total - KEPT_RECOVERIES + 1 + i),
  );
});

test('transition never changes the state it is given', (t) => {
  const s = after(training(), lost([1, 2], 2_000), formed(6, 3_000)).state;
  const before = structuredClone(s);
  for (const e of EVERY_EVENT) transition(s, e, context);
  t.deepEqual(s, before);
});
