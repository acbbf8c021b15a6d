import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { readRunState } from '../../src/coordinator/run-state';
import { loadCheckpoint } from '../../src/shared/train/checkpoint';
import { encodePng } from '../../src/shared/data/image-codec';
import { ingest } from '../../src/shared/data/ingest';
import { SyntheticSource } from '../../src/shared/data/synthetic-source';
import { writeClusterConfig } from '../_cluster-config';
import { freePort } from '../_free-port';
import { makeRunCredentials } from '../_run-credentials';
import { cli, startCluster, until, within } from './_processes';

const root = mkdtempSync(join(tmpdir(), 'facefill-cluster-'));
const data = join(root, 'dataset');

// A cluster of the tiny config, checkpointing every 5 steps and reporting every step.
const cluster = (name: string, steps: number, workers: number, sameHostTransport: 'ipc' | 'tcp' = 'ipc') =>
  startCluster({ root, data, name, workers, config: { train: { steps, checkpointEvery: 5, logEvery: 1 }, cluster: { sameHostTransport } } });

test.before(async () => {
  await ingest({ source: new SyntheticSource(120, 5), out: data, size: 16 });
});

test.serial('coordinator + 2 worker processes on loopback: train, pull the merged checkpoint, restore with it', async (t) => {
  const { out, coordinator, ranks, joinFile, client: connect } = await cluster('ok', 12, 2);
  const client = await connect();
  try {
    for (const [i, w] of ranks.entries()) t.is((await within(w, 180_000, `worker ${i}`)).code, 0, w.output());
    const status = await client.status(10_000);
    t.is(status.state, 'finished', status.error);
    t.deepEqual(status.workers.map((w) => [w.rank, w.state]), [[0, 'stopped'], [1, 'stopped']]);
    t.is(status.latestCheckpoint, join('checkpoints', 'step-000012'), 'relative to the run folder: no server path leaves the coordinator');
    const shown = cli(['status', '--join', joinFile]);
    t.is((await within(shown, 30_000, 'status')).code, 0, shown.output());
    t.regex(shown.output(), /^run \S+: finished, step 12\/12/m);
    t.regex(shown.output(), /^mode collapse: no/m);
    t.is(shown.output().split('\n').filter((l) => /^[01] +127\.0\.0\.1 +- +\w+ +cpu +stopped +12 /.test(l)).length, 2, shown.output());

    // The merged checkpoint of every save is there, and run.json tells the run's story.
    for (const step of ['000005', '000010', '000012']) t.true(existsSync(join(out, 'checkpoints', `step-${step}`, 'meta.json')), step);
    const state = await readRunState(out);
    t.is(state.state, 'finished');
    t.is(state.latestCheckpoint?.step, 12);

    const pulled = join(root, 'pulled');
    const pull = cli(['pull', '--join', joinFile, '--out', pulled]);
    t.is((await within(pull, 60_000, 'pull')).code, 0, pull.output());
    const face = join(root, 'face.png');
    writeFileSync(face, await encodePng(Uint8Array.from({ length: 256 }, (_, i) => 60 + (i % 16) * 8), 16, 16));
    const restored = join(root, 'restored.png');
    const restore = cli(['restore', '--checkpoint', pulled, '--join', joinFile, '--input', face, '--mask', 'eyes', '--out', restored, '--backend', 'wasm']);
    t.is((await within(restore, 60_000, 'restore')).code, 0, restore.output());
    const meta = await sharp(restored).metadata();
    t.deepEqual([meta.format, meta.width, meta.height], ['png', 16, 16]);

    // Someone with the coordinator's disk swaps the published generator and fixes meta.json's
    // sums to match: the seal, keyed by the run token they do not hold, gives them away.
    const published = join(out, 'checkpoints', 'step-000012');
    const weights = join(published, 'generator', 'weights.bin');
    const swapped = readFileSync(weights).map((b) => b ^ 0x5a);
    writeFileSync(weights, swapped);
    const metaFile = join(published, 'meta.json');
    const listed = JSON.parse(readFileSync(metaFile, 'utf8')) as { files: { path: string; sha256: string }[] };
    for (const f of listed.files) if (f.path === 'generator/weights.bin') f.sha256 = createHash('sha256').update(swapped).digest('hex');
    writeFileSync(metaFile, JSON.stringify(listed));
    const tampered = cli(['pull', '--join', joinFile, '--out', join(root, 'pulled-tampered')]);
    t.not((await within(tampered, 60_000, 'pull of a tampered checkpoint')).code, 0);
    t.regex(tampered.output(), /seal/);

    await client.shutdown('test over', 10_000);
    t.is((await within(coordinator, 20_000, 'coordinator')).code, 0, coordinator.output());
  } finally {
    client.close();
    for (const p of [coordinator, ...ranks]) p.child.kill('SIGKILL');
  }
});

test.serial('collapseAction rollback: the run goes back to its last healthy checkpoint with a lower D learning rate, in a new ring, and finishes', async (t) => {
  // GAN only, a fast G against a slow D, and a diversity threshold no run meets: every probe
  // pair after the detector's window reads as a collapse, so the run rolls back repeatedly.
  // Without the mirrored input, which would copy each face's other half into its hole and keep
  // the holes as varied as the faces.
  const config = writeClusterConfig(join(root, 'rollback.json'), {
    generator: { dropout: 0, mirrorInput: false },
    discriminator: { minibatch: 'none', dropout: 0 },
    loss: { mode: 'gan', noisyLabels: false },
    optimizer: { lrG: 0.1, lrD: 1e-5 },
    train: { steps: 60, seed: 3, checkpointEvery: 5, logEvery: 5 },
    monitor: { probeEvery: 5, probeSize: 8, collapseWindow: 20, diversityThreshold: 0.99, collapseAction: 'rollback', rollbackLrFactor: 0.5 },
    cluster: { heartbeatTimeoutSeconds: 10, rendezvousTimeoutSeconds: 60 },
  });
  const p = await freePort();
  const out = join(root, 'rollback');
  const { joinFile } = await makeRunCredentials(out, `127.0.0.1:${p}`);
  const coordinator = cli(['coordinator', '--config', config, '--data', data, '--workers', '2', '--port', String(p), '--bind', '127.0.0.1', '--out', out, '--metrics-port', '0', '--exit-when-done', '--no-progress']);
  const ranks = [0, 1].map((i) => cli(['worker', '--join', joinFile, '--work-dir', join(root, `rollback-w${i}`), '--metrics-port', '0']));
  try {
    for (const [i, w] of ranks.entries()) t.is((await within(w, 180_000, `worker ${i}`)).code, 0, w.output());
    t.is((await within(coordinator, 30_000, 'coordinator')).code, 0, coordinator.output());
    const rollbacks = [...coordinator.output().matchAll(/rolled back to the checkpoint of step (\d+) with optimizer\.lrD ([\d.e-]+)/g)];
    t.true(rollbacks.length >= 1, coordinator.output());
    // Each rollback halves D's learning rate, and goes back to a checkpoint before the collapse.
    t.deepEqual(rollbacks.map((m) => Number(m[2])), rollbacks.map((_, i) => 1e-5 * 0.5 ** (i + 1)));
    for (const w of ranks) t.is([...w.output().matchAll(/registering again/g)].length, rollbacks.length, w.output());
    const final = await loadCheckpoint(out);
    t.is(final.step, 60);
    t.is(final.config.optimizer.lrD, 1e-5 * 0.5 ** rollbacks.length, 'the last ring trained with the lowered rate');
    final.networks.generator.dispose();
    final.networks.discriminator.dispose();
  } finally {
    for (const proc of [coordinator, ...ranks]) proc.child.kill('SIGKILL');
  }
});

test.serial('garbage bytes on the control and data ports are refused; the run goes on and finishes', async (t) => {
  // The ring over tcp, so the garbage reaches the sockets the gradients use.
  const { address, coordinator, ranks, client: connect } = await cluster('garbage', 150, 2, 'tcp');
  const client = await connect();
  try {
    const port = Number(address.split(':')[1]);
    const garbage = async (p: number) => {
      const s = new Socket();
      await new Promise<void>((r, reject) => s.once('error', reject).connect(p, '127.0.0.1', () => r()));
      s.write(Buffer.from('\x00\xffGET / HTTP/1.1\r\n\r\nthis is not gRPC nor ZMTP'.repeat(50)));
      await new Promise((r) => setTimeout(r, 200));
      s.destroy();
    };
    await client.status(30_000);
    await garbage(port);
    // The workers' data ports, once the ring trains.
    await until(async () => ((await client.status(2_000)).step >= 2 ? true : null), 120_000, 'the run to reach step 2', [coordinator, ...ranks]);
    const ends = (await readRunState(join(root, 'garbage'))).members.map((m) => Number(m.dataEndpoint.split(':').pop()));
    for (const p of ends) await garbage(p);
    for (const [i, w] of ranks.entries()) t.is((await within(w, 180_000, `worker ${i}`)).code, 0, w.output());
    t.is((await client.status(10_000)).state, 'finished');
    await client.shutdown('test over', 10_000);
    t.is((await within(coordinator, 20_000, 'coordinator')).code, 0, coordinator.output());
  } finally {
    client.close();
    for (const p of [coordinator, ...ranks]) p.child.kill('SIGKILL');
  }
});
