import test from 'ava';
import { Membership } from '../../src/coordinator/membership';
import type { Member } from '../../src/coordinator/rendezvous';

const members: Member[] = [0, 1, 2].map((rank) => ({ rank, host: `h${rank}`, gpu: 0, backend: 'wasm', dataEndpoint: `tcp://h${rank}:1`, ipcEndpoint: '', pid: rank }));

test('workers heard from within the timeout keep the run healthy', (t) => {
  const m = new Membership(members, 1000, 0);
  for (let now = 0; now <= 5000; now += 500) {
    for (const r of [0, 1, 2]) m.seen(r, now / 500, now);
    t.deepEqual(m.check(now + 900), { healthy: true });
  }
  t.deepEqual(m.snapshot(5000).map((w) => w.step), [10, 10, 10]);
});

test('a silent worker fails the run, named with how long it was silent', (t) => {
  const m = new Membership(members, 1000, 0);
  m.seen(0, 1, 800);
  m.seen(2, 1, 800);
  const verdict = m.check(1500);
  t.false(verdict.healthy);
  if (!verdict.healthy) {
    t.deepEqual(verdict.failed.map((w) => w.member.rank), [1]);
    t.regex(verdict.reason, /rank 1 \(h1 gpu 0\): no heartbeat for 1\.5 s \(limit 1\.0 s\)/);
  }
});

test('a reported failure fails the run; clean stops finish it and are never timed out', (t) => {
  const m = new Membership(members, 1000, 0);
  m.failed(2, 'all-reduce timed out waiting for rank 1', 10);
  const verdict = m.check(20);
  t.false(verdict.healthy);
  if (!verdict.healthy) t.regex(verdict.reason, /rank 2 .*all-reduce timed out/);
  const done = new Membership(members, 1000, 0);
  for (const r of [0, 1, 2]) done.stopped(r, 100);
  t.true(done.finished);
  t.deepEqual(done.check(60_000), { healthy: true });
});

test('an unknown rank is refused', (t) => {
  t.throws(() => new Membership(members, 1000, 0).seen(3, 0, 0), { message: /rank 3 is not a member/ });
});
