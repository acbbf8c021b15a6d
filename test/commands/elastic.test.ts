import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { readRunState } from '../../src/coordinator/run-state';
import type { ConfigOverlay } from '../../src/shared/config';
import { ingest } from '../../src/shared/data/ingest';
import { SyntheticSource } from '../../src/shared/data/synthetic-source';
import { checkpointWeights, maxAbsDiff } from '../shared/train/_tiny';
import { type Cluster, cli, startCluster, until, within } from './_processes';
import { pushIntruders } from './_ring-intruder';

// Faults on loopback, as a user would meet them: processes killed, stopped, started late; a
// coordinator killed and started again; a NaN. The run survives each and finishes.
const root = mkdtempSync(join(tmpdir(), 'facefill-elastic-'));
const data = join(root, 'dataset');

test.before(async () => {
  await ingest({ source: new SyntheticSource(120, 5), out: data, size: 16 });
});

// No batch norm or minibatch features, whose statistics depend on how the batch is split, so a
// run whose world changes is comparable with one process; heartbeats time out in 4 s.
const splitFree = (steps: number, over: Omit<ConfigOverlay, 'data' | 'train' | 'generator' | 'discriminator'> = {}): Omit<ConfigOverlay, 'data'> => ({
  ...over,
  generator: { norm: 'none' },
  discriminator: { minibatch: 'none' },
  train: { steps, checkpointEvery: 10, logEvery: 1 },
  monitor: { probeEvery: 0 },
});



const stepOf = async (c: Cluster) => {
  const client = await c.client();
  try {
    return (await client.status(2_000)).step;
  } finally {
    client.close();
  }
};
const reached = (c: Cluster, step: number) => until(async () => ((await stepOf(c)) >= step ? true : null), 120_000, `the run to reach step ${step}`, [c.coordinator, ...c.ranks]);

// The same training in one process: what the elastic run must match within 1e-4.
async function reference(name: string, config: string): Promise<Float32Array> {
  const out = join(root, `${name}-single`);
  const single = cli(['train', '--config', config, '--data', data, '--out', out, '--no-progress']);
  const exit = await within(single, 180_000, 'facefill train');
  if (exit.code !== 0) throw new Error(single.output());
  return checkpointWeights(out);
}

for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
  test.serial(`${signal} to one of 3 workers mid-run: the other two finish every step within 1e-4 of one process, losing no step`, async (t) => {
    const c = await startCluster({ root, data, name: `lost-${signal}`, workers: 3, config: splitFree(40) });
    try {
      await reached(c, 6);
      c.ranks[2].child.kill(signal);
      const [w0, w1, w2] = await Promise.all(c.ranks.map((w, i) => within(w, 180_000, `worker ${i}`)));
      t.is(w0.code, 0, c.ranks[0].output());
      t.is(w1.code, 0, c.ranks[1].output());
      if (signal === 'SIGTERM') t.is(w2.code, 3, 'a worker told to stop exits 3 (not to be restarted)');
      const client = await c.client();
      const status = await client.status(10_000);
      client.close();
      t.is(status.state, 'finished', status.error);
      t.true(status.generation >= 1);
      const lost = status.recoveries.find((r) => r.cause === 'worker_lost');
      t.truthy(lost, JSON.stringify(status.recoveries));
      t.is(lost?.lostSteps, 0, 'only the step in flight is recomputed');
      t.is(status.workers.length, 2);
      const drift = maxAbsDiff(await checkpointWeights(c.out), await reference(`lost-${signal}`, c.config));
      t.true(drift < 1e-4, `the elastic run's weights differ from one process's by ${drift}`);
    } finally {
      c.kill();
    }
  });
}

test.serial('a coordinator killed mid-run and started again with --resume: the run finishes with the same workers', async (t) => {
  const c = await startCluster({ root, data, name: 'restart', workers: 2, config: splitFree(60, { cluster: { reconnectSeconds: 60 } }), coordinatorArgs: ['--exit-when-done'] });
  try {
    await reached(c, 12);
    c.coordinator.child.kill('SIGKILL');
    await c.coordinator.exited;
    const again = c.startCoordinator(['--resume']);
    for (const [i, w] of c.ranks.entries()) t.is((await within(w, 180_000, `worker ${i}`)).code, 0, w.output());
    t.is((await within(again, 60_000, 'the resumed coordinator')).code, 0, again.output());
    const state = await readRunState(c.out);
    t.is(state.state, 'finished');
    t.is(state.latestCheckpoint?.step, 60);
    t.true(state.generation >= 1);
    t.true(state.recoveries.some((r) => r.cause === 'coordinator_restart'), JSON.stringify(state.recoveries));
    const drift = maxAbsDiff(await checkpointWeights(c.out), await reference('restart', c.config));
    t.true(drift < 1e-4, `the resumed run's weights differ from one process's by ${drift}`);
  } finally {
    c.kill();
  }
});

test.serial('a worker stopped with SIGSTOP is found stalled and the run goes on without it', async (t) => {
  const c = await startCluster({ root, data, name: 'stall', workers: 3, config: splitFree(30) });
  try {
    await reached(c, 4);
    c.ranks[1].child.kill('SIGSTOP');
    for (const i of [0, 2]) t.is((await within(c.ranks[i], 180_000, `worker ${i}`)).code, 0, c.ranks[i].output());
    const client = await c.client();
    const status = await client.status(10_000);
    client.close();
    t.is(status.state, 'finished', status.error);
    t.true(status.recoveries.some((r) => r.cause === 'stall' && /no heartbeat/.test(r.reason)), JSON.stringify(status.recoveries));
  } finally {
    c.kill();
  }
});

test.serial('a worker started late joins the ring at the next generation', async (t) => {
  // The first ring forms with 2 of 3 workers once the rendezvous bound (3 s) passes.
  const c = await startCluster({ root, data, name: 'late', workers: 3, start: 2, config: splitFree(40, { cluster: { rendezvousTimeoutSeconds: 3, minWorkers: 2 } }) });
  try {
    await reached(c, 4);
    const late = c.startWorker(2);
    for (const [i, w] of [...c.ranks, late].entries()) t.is((await within(w, 180_000, `worker ${i}`)).code, 0, w.output());
    const client = await c.client();
    const status = await client.status(10_000);
    client.close();
    t.is(status.state, 'finished', status.error);
    t.is(status.workers.length, 3, 'the last ring has all three workers');
    t.true(status.generation >= 1);
  } finally {
    c.kill();
  }
});

test.serial('NaN in one rank\'s gradient: the step is skipped on every rank and nothing non-finite is published', async (t) => {
  const c = await startCluster({ root, data, name: 'nan', workers: 2, config: splitFree(20), workerArgs: (i) => (i === 1 ? ['--inject-nan-steps', '6,7'] : []) });
  try {
    for (const [i, w] of c.ranks.entries()) t.is((await within(w, 180_000, `worker ${i}`)).code, 0, w.output());
    for (const w of c.ranks) for (const step of [7, 8]) t.regex(w.output(), new RegExp(`step ${step} skipped: the discriminator gradient is not finite`));
    t.regex(c.ranks[1].output(), /this rank's discriminator loss|gradient is not finite/);
    for (const step of ['000010', '000020']) t.true((await checkpointWeights(join(c.out, 'checkpoints', `step-${step}`))).every(Number.isFinite));
  } finally {
    c.kill();
  }
});

test.serial('an outsider pushing this ring\'s frames of 1e30s (plaintext, and over CURVE with its own key) at both workers: nothing is summed, the run matches one process within 1e-4', async (t) => {
  // The ring over tcp, where an outsider on the network reaches it.
  const c = await startCluster({ root, data, name: 'intruder', workers: 2, config: splitFree(30, { cluster: { sameHostTransport: 'tcp' } }) });
  const stop = new AbortController();
  try {
    await reached(c, 2);
    const state = await readRunState(c.out);
    const targets = state.members.map((m) => ({ endpoint: m.dataEndpoint, publicKey: m.ringPublicKey }));
    t.true(targets.every((m) => m.publicKey.length === 40), 'the ring is CURVE by default');
    const flood = pushIntruders(targets, `${state.runId}/g${state.generation}`, 1, stop.signal);
    const ends = await Promise.all(c.ranks.map((w, i) => within(w, 180_000, `worker ${i}`)));
    stop.abort();
    await flood;
    for (const [i, end] of ends.entries()) t.is(end.code, 0, c.ranks[i].output());
    const drift = maxAbsDiff(await checkpointWeights(c.out), await reference('intruder', c.config));
    t.true(drift < 1e-4, `the run's weights differ from one process's by ${drift}`);
    t.is((await readRunState(c.out)).generation, state.generation, 'the ring never broke');
    for (const w of c.ranks) {
      t.notRegex(w.output(), /skipped/, 'no step saw a non-finite value');
      t.regex(w.output(), /refus|ZAP|handshake/i, 'the refused handshakes are logged');
    }
  } finally {
    stop.abort();
    c.kill();
  }
});
