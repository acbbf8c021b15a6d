import test, { type ExecutionContext } from 'ava';
import { type Assignment, describe, heldStep, kindOf, type Registration, Rendezvous, type RendezvousRules } from '../../src/coordinator/rendezvous';
import { RendezvousBackendMismatchError, RendezvousClosedError } from '../../src/shared/errors';
import { isSettled } from '../_settled';

const RUN = 'run-1';

/** A new worker (no training state) on `host`, GPU `gpu`; `over` gives it a state or another process. */
const reg = (host: string, gpu: number, over: Partial<Registration> = {}): Registration => ({
  ringPublicKey: '',
  host,
  gpu,
  backend: 'wasm',
  device: 'cpu',
  dataEndpoint: `tcp://${host}:${5700 + gpu}`,
  ipcEndpoint: '',
  pid: 100 + gpu,
  runId: '',
  committedStep: -1,
  ...over,
});

/** A worker holding the state of RUN after `steps` steps. */
const holding = (host: string, gpu: number, steps: number): Registration => reg(host, gpu, { runId: RUN, committedStep: steps });

const rendezvous = (rules: Partial<RendezvousRules> = {}) => new Rendezvous(3, { max: 2, min: 1, expect: [], ...rules }, RUN);

const name = (m: Registration) => `${m.host}${m.gpu}`;

/** Every assignment is consistent with a ring over `members` in rank order. */
function assertRing(t: ExecutionContext, assignments: Assignment[]): void {
  for (const a of assignments) {
    const n = a.members.length;
    t.is(a.worldSize, n);
    t.is(a.members[a.rank].rank, a.rank);
    t.is(a.right.rank, (a.rank + 1) % n, 'it sends to the next rank');
    t.is(a.left.rank, (a.rank + n - 1) % n, 'it receives from the rank before');
  }
}

test('ranks follow host then gpu, whatever the join order, and the ring closes', async (t) => {
  const rdzv = rendezvous({ max: 4 });
  const assignments = await Promise.all([reg('b', 1), reg('a', 1), reg('b', 0), reg('a', 0)].map((r) => rdzv.join(r)));
  t.deepEqual(
    assignments.map((a) => a.rank),
    [3, 1, 2, 0],
  );
  assertRing(t, assignments);
  t.deepEqual(assignments[0].members.map(name), ['a0', 'a1', 'b0', 'b1']);
  t.deepEqual(rdzv.world?.map(name), ['a0', 'a1', 'b0', 'b1']);
});

test('a world of one is its own neighbour', async (t) => {
  const a = await rendezvous({ max: 1 }).join(reg('solo', 0));
  t.is(a.rank, 0);
  t.is(a.left.rank, 0);
  t.is(a.right.rank, 0);
});

test('rank 0 is the worker holding the most advanced state of the run; the ring keeps its host order, rotated', async (t) => {
  const rdzv = rendezvous({ max: 4 });
  const assignments = await Promise.all([holding('a', 0, 7), holding('a', 1, 9), reg('b', 0), holding('b', 1, 3)].map((r) => rdzv.join(r)));
  const members = assignments[0].members;
  t.deepEqual(members.map(name), ['a1', 'b0', 'b1', 'a0'], 'a1 (9 steps) first, then the (host, gpu) order around the ring');
  t.deepEqual(
    assignments.map((a) => a.rank),
    [3, 0, 1, 2],
  );
  assertRing(t, assignments);
  t.is(heldStep(members, RUN), 9);
});

test('a state of another run counts as none, and among equal states the first in ring order leads', async (t) => {
  const rdzv = rendezvous({ max: 3 });
  const [a0, b0, c0] = await Promise.all([holding('a', 0, 4), reg('b', 0, { runId: 'another-run', committedStep: 1000 }), holding('c', 0, 4)].map((r) => rdzv.join(r)));
  t.deepEqual([a0.rank, b0.rank, c0.rank], [0, 1, 2]);
  t.is(heldStep(a0.members, RUN), 4);
});

test('heldStep is -1 when no member holds a state of the run', (t) => {
  t.is(heldStep([reg('a', 0), reg('b', 0, { runId: 'another-run', committedStep: 5 })], RUN), -1);
  t.is(heldStep([], RUN), -1);
});

test('a ring of the survivors forms once every expected one joined, with at least min', async (t) => {
  const survivors = [holding('a', 0, 5), holding('b', 0, 6)];
  const rdzv = rendezvous({ max: 4, min: 2, expect: survivors });
  const first = rdzv.join(survivors[1]);
  t.false(await isSettled(first), 'one survivor is still missing');
  t.is(rdzv.count, 1);
  t.is(rdzv.world, null);
  const second = rdzv.join(survivors[0]);
  const [b, a] = await Promise.all([first, second]);
  t.is(b.rank, 0, 'the more advanced survivor leads');
  t.is(a.rank, 1);
  t.is(b.worldSize, 2, 'formed before max');
});

test('the expected survivors are not enough below min: the ring waits for one more worker', async (t) => {
  const survivor = holding('a', 0, 5);
  const rdzv = rendezvous({ max: 3, min: 2, expect: [survivor] });
  const first = rdzv.join(survivor);
  t.false(await isSettled(first));
  const replacement = rdzv.join(reg('z', 0));
  const [a, z] = await Promise.all([first, replacement]);
  t.deepEqual([a.rank, z.rank, a.worldSize], [0, 1, 2]);
});

test('an expected survivor is known by its process (host and pid), not by its endpoint', async (t) => {
  const before = holding('a', 0, 5);
  const rdzv = rendezvous({ max: 3, min: 1, expect: [before] });
  // The same process binds a new port for the new ring.
  const a = await rdzv.join({ ...before, dataEndpoint: 'tcp://a:6000', committedStep: 6 });
  t.is(a.worldSize, 1);
  t.is(a.members[0].dataEndpoint, 'tcp://a:6000');
});

test('settle forms the ring with whoever joined, once at least min did', async (t) => {
  const rdzv = rendezvous({ max: 4, min: 2, expect: [reg('gone', 0)] });
  t.false(rdzv.settle(), 'nobody joined');
  const a = rdzv.join(reg('a', 0));
  t.false(rdzv.settle(), 'one worker is below min');
  t.false(await isSettled(a));
  const b = rdzv.join(reg('b', 0));
  t.false(await isSettled(b), 'an expected survivor is missing: no ring yet');
  t.true(rdzv.settle());
  const assignments = await Promise.all([a, b]);
  t.deepEqual(assignments.map((x) => x.rank), [0, 1]);
  t.is(rdzv.world?.length, 2);
  t.true(rdzv.settle(), 'settling a formed ring keeps it');
});

test('a joiner that left gives its place back before the ring forms', async (t) => {
  const rdzv = rendezvous({ max: 2 });
  const leaving = reg('a', 0);
  const left = rdzv.join(leaving);
  t.is(rdzv.count, 1);
  rdzv.leave(leaving);
  await t.throwsAsync(left, { instanceOf: RendezvousClosedError, message: /a gpu 0 pid 100 left ring generation 3 before it formed/ });
  t.is(rdzv.count, 0);
  t.is(rdzv.who, 'nobody');
  const assignments = await Promise.all([rdzv.join(reg('b', 0)), rdzv.join(reg('c', 0))]);
  t.deepEqual(assignments[0].members.map(name), ['b0', 'c0']);
});

test('a taken endpoint, a second join of one process, a formed ring and a closed rendezvous refuse joins and change nothing', async (t) => {
  const rdzv = rendezvous({ max: 2 });
  const first = rdzv.join(reg('a', 0));
  await t.throwsAsync(rdzv.join(reg('b', 0, { dataEndpoint: reg('a', 0).dataEndpoint })), { instanceOf: RendezvousClosedError, message: /b gpu 0 pid 100 \(tcp:\/\/a:5700\) has already joined ring generation 3 as a gpu 0 pid 100/ });
  await t.throwsAsync(rdzv.join(reg('a', 1, { pid: 100 })), { instanceOf: RendezvousClosedError, message: /has already joined ring generation 3/ });
  t.is(rdzv.count, 1, 'the refused joins took no place');
  t.is(rdzv.who, 'a gpu 0 pid 100');
  await Promise.all([first, rdzv.join(reg('a', 1))]);
  await t.throwsAsync(rdzv.join(reg('c', 0)), { instanceOf: RendezvousClosedError, message: /ring generation 3 already formed with 2 workers/ });
  t.is(rdzv.world?.length, 2);
  const other = rendezvous({ max: 2 });
  const pending = other.join(reg('a', 0));
  other.close('ring generation 4 replaces it');
  await t.throwsAsync(pending, { instanceOf: RendezvousClosedError, message: /the rendezvous is closed: ring generation 4 replaces it/ });
  await t.throwsAsync(other.join(reg('b', 0)), { instanceOf: RendezvousClosedError, message: /closed: ring generation 4 replaces it/ });
  t.is(other.count, 0);
  t.false(other.settle(), 'a closed rendezvous never forms');
});

test('bounds outside 1 <= min <= max are refused', (t) => {
  for (const [min, max] of [
    [0, 2],
    [3, 2],
    [1, 0],
    [1, 1.5],
  ]) {
    t.throws(() => new Rendezvous(0, { min, max, expect: [] }, RUN), { instanceOf: RangeError, message: new RegExp(`min ${min}, max ${max}`) });
  }
});

test('a worker in words names its host, GPU and process', (t) => {
  t.is(describe(reg('h', -1, { pid: 42 })), 'h gpu -1 pid 42');
});

test('the joins pending when the next generation opens move to its rendezvous, and this one refuses later joins', async (t) => {
  const before = rendezvous({ max: 3 });
  const moved = before.join(reg('a', 0));
  const next = new Rendezvous(4, { max: 2, min: 1, expect: [] }, RUN);
  before.handOver(next);
  await t.throwsAsync(before.join(reg('c', 0)), { instanceOf: RendezvousClosedError, message: /ring generation 4 replaces it/ });
  const [a, b] = await Promise.all([moved, next.join(reg('b', 0))]);
  t.deepEqual([a.generation, b.generation], [4, 4]);
  t.deepEqual(a.members.map(name), ['a0', 'b0']);
});

/** A worker on its GPU with tfjs-node-gpu. */
const onGpu = (host: string, gpu: number, over: Partial<Registration> = {}): Registration => reg(host, gpu, { backend: 'tensorflow-gpu', device: 'gpu', ...over });

test('the first to join sets the ring\'s backend and device: another backend, or tfjs-node-gpu on the CPU, is refused by name and takes no place', async (t) => {
  const rdzv = rendezvous({ max: 2 });
  const first = rdzv.join(onGpu('a', 0));
  const wasm = await t.throwsAsync(rdzv.join(reg('b', 0)), { instanceOf: RendezvousBackendMismatchError });
  t.is(
    wasm.message,
    "b gpu 0 pid 100 computes with wasm on cpu, but ring generation 3 computes with tensorflow-gpu on gpu (as a gpu 0 pid 100, the first to join): a synchronous ring runs at its slowest member's pace. Start the worker with the ring's backend on the same kind of device, or set cluster.allowMixedBackends",
  );
  await t.throwsAsync(rdzv.join(onGpu('b', 1, { device: 'cpu' })), { instanceOf: RendezvousBackendMismatchError, message: /^b gpu 1 pid 101 computes with tensorflow-gpu on cpu, but .* tensorflow-gpu on gpu/ });
  t.is(rdzv.count, 1, 'the refused workers took no place');
  const [a, c] = await Promise.all([first, rdzv.join(onGpu('c', 0))]);
  t.deepEqual([a.worldSize, c.rank], [2, 1]);
  // Once formed, the ring's members set the kind.
  t.throws(() => rdzv.checkKind(reg('d', 0)), { instanceOf: RendezvousBackendMismatchError, message: /\(as a gpu 0 pid 100, a member\)/ });
  t.notThrows(() => rdzv.checkKind(onGpu('d', 0)));
});

test('a regrouping ring keeps the kind of the ring before, whoever joins first; the first joiner that left hands the kind on', async (t) => {
  const survivor = onGpu('a', 0, { runId: RUN, committedStep: 5 });
  const regroup = rendezvous({ max: 3, min: 1, expect: [survivor] });
  await t.throwsAsync(regroup.join(reg('z', 0)), { instanceOf: RendezvousBackendMismatchError, message: /\(as a gpu 0 pid 100, a member of the ring before\)/ });
  t.is(regroup.count, 0);

  const fresh = rendezvous({ max: 2 });
  const leaving = reg('a', 0);
  const left = fresh.join(leaving);
  fresh.leave(leaving);
  await t.throwsAsync(left, { instanceOf: RendezvousClosedError });
  const [b, c] = await Promise.all([fresh.join(onGpu('b', 0)), fresh.join(onGpu('c', 0))]);
  t.deepEqual([b.worldSize, c.worldSize], [2, 2]);
});

test('allowMixed admits any backend and device', async (t) => {
  const rdzv = rendezvous({ max: 3, allowMixed: true });
  const assignments = await Promise.all([onGpu('a', 0), reg('b', 0), onGpu('c', 0, { device: 'cpu' })].map((r) => rdzv.join(r)));
  t.deepEqual(assignments[0].members.map(kindOf), ['tensorflow-gpu on gpu', 'wasm on cpu', 'tensorflow-gpu on cpu']);
});
