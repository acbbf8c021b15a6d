import test from 'ava';
import { type LivenessRules, Membership } from '../../src/coordinator/membership';
import type { Member } from '../../src/coordinator/rendezvous';

const members: Member[] = [0, 1, 2].map((rank) => ({ rank, host: `h${rank}`, gpu: 0, backend: 'wasm', device: 'cpu', dataEndpoint: `tcp://h${rank}:1`, ipcEndpoint: '', pid: rank, runId: 'run-1', committedStep: -1, ringPublicKey: '' }));
// Heartbeat bound 1 s; the stall bound long enough not to matter unless a test is about it.
const rules: LivenessRules = { heartbeatTimeoutMs: 1000, stallMs: 60_000 };
const membership = (r: Partial<LivenessRules> = {}) => new Membership(members, { ...rules, ...r }, 0);

/** Every member heartbeats at `step` steps completed, at `nowMs`. */
const beatAll = (m: Membership, step: number, nowMs: number) => {
  for (const w of members) m.seen(w.rank, step, nowMs);
};

test('workers heard from within the timeout keep the ring healthy', (t) => {
  const m = membership();
  for (let now = 0; now <= 5000; now += 500) {
    beatAll(m, now / 500, now);
    t.deepEqual(m.check(now + 900), { healthy: true });
  }
  t.deepEqual(
    m.snapshot(5000).map((w) => [w.member.rank, w.state, w.step, w.heartbeatAgeMs]),
    [
      [0, 'running', 10, 0],
      [1, 'running', 10, 0],
      [2, 'running', 10, 0],
    ],
  );
});

test('a step count never goes back: an older report does not lower it', (t) => {
  const m = membership();
  m.seen(1, 8, 10);
  m.seen(1, 5, 20);
  const [, one] = m.snapshot(30);
  t.is(one.step, 8);
  t.is(one.heartbeatAgeMs, 10, 'but it still counts as a sign of life');
});

test('a silent worker is lost, named with how long it was silent; the others keep running', (t) => {
  const m = membership();
  m.seen(0, 1, 800);
  m.seen(2, 1, 800);
  const verdict = m.check(1500);
  t.false(verdict.healthy);
  if (!verdict.healthy) {
    t.deepEqual(verdict.lost.map((w) => w.member.rank), [1]);
    t.regex(verdict.reason, /^rank 1 \(h1 gpu 0\): no heartbeat for 1\.5 s \(limit 1\.0 s\)$/);
  }
  t.false(m.isRunning(1));
  t.true(m.isRunning(0));
  t.true(m.isRunning(2));
});

test('a reported failure or an ended connection is a lost worker, with its reason', (t) => {
  const m = membership();
  m.failed(2, 'all-reduce timed out waiting for rank 1', 10);
  const verdict = m.check(20);
  t.false(verdict.healthy);
  if (!verdict.healthy) {
    t.is(verdict.cause, 'worker_lost');
    t.deepEqual(verdict.lost.map((w) => w.member.rank), [2]);
    t.regex(verdict.reason, /^rank 2 \(h2 gpu 0\): all-reduce timed out waiting for rank 1$/);
  }
});

test('a loss that is not only silence is a lost worker, and every lost one is named', (t) => {
  const m = membership();
  m.seen(0, 3, 1400);
  m.failed(0, 'its connection to the coordinator ended (the call was cancelled)', 1400);
  m.seen(2, 3, 1400);
  const verdict = m.check(1500);
  t.false(verdict.healthy);
  if (!verdict.healthy) {
    t.is(verdict.cause, 'worker_lost');
    t.deepEqual(verdict.lost.map((w) => w.member.rank), [0, 1]);
    t.regex(verdict.reason, /rank 0 .*connection to the coordinator ended.*; rank 1 .*no heartbeat for 1\.5 s/);
  }
});

test('clean stops finish the ring, are never timed out, and a later failure report does not undo them', (t) => {
  const m = membership();
  t.false(m.finished);
  for (const w of members) m.stopped(w.rank, 100);
  m.failed(1, 'the connection ended after it finished', 200);
  t.true(m.finished);
  t.false(m.isRunning(1));
  t.deepEqual(m.check(60_000), { healthy: true });
  t.deepEqual(m.snapshot(60_000).map((w) => w.state), ['stopped', 'stopped', 'stopped']);
});

test('a ring that heartbeats but completes no step for the stall bound is stalled as a whole', (t) => {
  const m = membership({ heartbeatTimeoutMs: 10_000, stallMs: 3000 });
  t.deepEqual(m.check(5000), { healthy: true }, 'no stall is judged before the ring reported a step');
  beatAll(m, 4, 5000);
  for (let now = 6000; now <= 8000; now += 1000) {
    beatAll(m, 5, now); // step 5 reached at 6000, then nothing more
    t.deepEqual(m.check(now), { healthy: true });
  }
  beatAll(m, 5, 9000);
  const verdict = m.check(9001);
  t.false(verdict.healthy);
  if (!verdict.healthy) {
    t.is(verdict.cause, 'stall');
    t.deepEqual(verdict.lost, [], 'nobody in particular: the whole ring regroups');
    t.regex(verdict.reason, /completed no step for 3\.0 s \(limit 3\.0 s\) after step 5/);
  }
  t.true(m.isRunning(0), 'a stall marks nobody failed');
});

// Workers heartbeat their start step (0 here) from the moment the ring forms, through the start-up
// broadcast (which has its own bound) and the first step: that must not start the stall clock.
test('a new ring that has not completed its first step yet is not stalled', (t) => {
  const m = membership({ heartbeatTimeoutMs: 10_000, stallMs: 3000 });
  for (let now = 0; now <= 6000; now += 1000) beatAll(m, 0, now);
  t.deepEqual(m.check(6000), { healthy: true });
});

test('an unknown rank is refused', (t) => {
  const m = membership();
  t.throws(() => m.seen(3, 0, 0), { message: /rank 3 is not a member of this ring \(0\.\.2\)/ });
  t.throws(() => m.failed(-1, 'x', 0), { message: /rank -1 is not a member/ });
  t.throws(() => m.stopped(9, 0), { message: /rank 9 is not a member/ });
  t.false(m.isRunning(3));
  t.deepEqual(m.check(0), { healthy: true }, 'the refused calls changed nothing');
});
