import test from 'ava';
import { type Registration, Rendezvous } from '../../src/coordinator/rendezvous';
import { RendezvousClosedError, RendezvousTimeoutError } from '../../src/shared/errors';

const reg = (host: string, gpu: number, pid = 100 + gpu): Registration => ({ host, gpu, backend: 'wasm', dataEndpoint: `tcp://${host}:${5700 + gpu}`, ipcEndpoint: '', pid });

test('ranks follow host then gpu, whatever the join order, and the ring closes', async (t) => {
  const rdzv = new Rendezvous(4, 5000);
  const joins = [reg('b', 1), reg('a', 1), reg('b', 0), reg('a', 0)].map((r) => rdzv.join(r));
  const assignments = await Promise.all(joins);
  t.deepEqual(
    assignments.map((a) => a.rank),
    [3, 1, 2, 0],
  );
  for (const a of assignments) {
    t.is(a.worldSize, 4);
    t.is(a.right.rank, (a.rank + 1) % 4);
    t.is(a.left.rank, (a.rank + 3) % 4);
    t.deepEqual(a.members.map((m) => `${m.host}${m.gpu}`), ['a0', 'a1', 'b0', 'b1']);
  }
});

test('a world of one is its own neighbour', async (t) => {
  const a = await new Rendezvous(1, 1000).join(reg('solo', 0));
  t.is(a.rank, 0);
  t.is(a.left.rank, 0);
  t.is(a.right.rank, 0);
});

test('an incomplete world times out, naming who came and how many are missing', async (t) => {
  const rdzv = new Rendezvous(3, 50);
  const err = await t.throwsAsync(rdzv.join(reg('a', 0)), { instanceOf: RendezvousTimeoutError });
  t.regex(err.message, /1 of 3 workers joined \(a gpu 0 pid 100\)/);
  await t.throwsAsync(rdzv.join(reg('a', 1)), { instanceOf: RendezvousClosedError, message: /timed out/ });
});

test('a full run, a taken endpoint and a closed rendezvous refuse joins', async (t) => {
  const rdzv = new Rendezvous(2, 5000);
  const first = rdzv.join(reg('a', 0));
  await t.throwsAsync(rdzv.join({ ...reg('b', 0), dataEndpoint: reg('a', 0).dataEndpoint }), { instanceOf: RendezvousClosedError, message: /already taken/ });
  await rdzv.join(reg('a', 1));
  await first;
  await t.throwsAsync(rdzv.join(reg('c', 0)), { instanceOf: RendezvousClosedError, message: /already has its 2 workers/ });
  const other = new Rendezvous(2, 5000);
  const pending = other.join(reg('a', 0));
  other.close('coordinator shutting down');
  await t.throwsAsync(pending, { instanceOf: RendezvousClosedError, message: /shutting down/ });
});
