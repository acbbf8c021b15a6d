import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { readRunState } from '../../src/coordinator/run-state';
import { ingest } from '../../src/shared/data/ingest';
import { SyntheticSource } from '../../src/shared/data/synthetic-source';
import { writeClusterConfig } from '../_cluster-config';
import { makeRunCredentials } from '../_run-credentials';

// Three "hosts" on one machine: network namespaces joined by a bridge, each with its own
// address. The coordinator runs on one, a worker on each of the others, so the ring and the
// control plane cross real (virtual) interfaces over tcp, and each worker must find and
// advertise its own address. Needs root (ip netns); skipped with a message elsewhere.
const CLI = resolve(__dirname, '../../src/cli.js');
const suffix = String(process.pid % 10_000);
const BRIDGE = `ffbr${suffix}`;
const HOSTS = [
  { ns: `ffc${suffix}`, ip: '10.77.0.1' },
  { ns: `ffa${suffix}`, ip: '10.77.0.2' },
  { ns: `ffb${suffix}`, ip: '10.77.0.3' },
];

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

function setUp(): string | null {
  try {
    ip('link', 'add', BRIDGE, 'type', 'bridge');
  } catch (err) {
    return `cannot create network namespaces here (${(err as Error).message.split('\n')[0]})`;
  }
  ip('link', 'set', BRIDGE, 'up');
  for (const [i, h] of HOSTS.entries()) {
    ip('netns', 'add', h.ns);
    ip('link', 'add', `ffv${suffix}${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
    ip('link', 'set', `ffv${suffix}${i}`, 'master', BRIDGE, 'up');
    ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0');
    ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
    ip('-n', h.ns, 'link', 'set', 'lo', 'up');
  }
  return null;
}

function tearDown(): void {
  for (const [i, h] of HOSTS.entries()) {
    for (const args of [['link', 'del', `ffv${suffix}${i}`], ['netns', 'del', h.ns]]) {
      try {
        ip(...args);
      } catch {
        // Already gone.
      }
    }
  }
  try {
    ip('link', 'del', BRIDGE);
  } catch {
    // Already gone.
  }
}

function onHost(ns: string, args: string[]): { exited: Promise<number | null>; output: () => string; kill: () => void } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, CLI, ...args], { env: { ...process.env, FACEFILL_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (b: Buffer) => (text += b.toString()));
  child.stderr.on('data', (b: Buffer) => (text += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => (clearTimeout(timer), done(code))));
  return { exited, output: () => text, kill: () => child.kill('SIGKILL') };
}

let skipped: string | null = null;
test.before(() => {
  skipped = process.getuid?.() === 0 ? setUp() : 'not root: ip netns needs root';
});
test.after.always(() => {
  if (skipped === null) tearDown();
});

test.serial('a coordinator and 2 workers on 3 hosts train over tcp; each worker advertises its own address; the data reaches them over gRPC', async (t) => {
  if (skipped) {
    t.log(`skipped: ${skipped}`);
    t.pass();
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'facefill-hosts-'));
  const data = join(root, 'data');
  await ingest({ source: new SyntheticSource(80, 3), out: data, size: 16 });
  const config = join(root, 'config.json');
  writeClusterConfig(config, { train: { steps: 8, checkpointEvery: 4, logEvery: 2 }, cluster: { heartbeatTimeoutSeconds: 10 } });
  const out = join(root, 'run');
  const [c, a, b] = HOSTS;
  // Credentials made for the coordinator's address on its host: the workers reach it across the bridge.
  const { joinFile } = await makeRunCredentials(out, `${c.ip}:7700`);
  const coordinator = onHost(c.ns, ['coordinator', '--config', config, '--data', data, '--workers', '2', '--port', '7700', '--out', out, '--exit-when-done', '--no-progress']);
  // No --data: the workers have no shared filesystem and download the dataset.
  const workers = [a, b].map((h) => onHost(h.ns, ['worker', '--join', joinFile, '--work-dir', join(root, h.ns)]));
  try {
    for (const [i, w] of workers.entries()) t.is(await w.exited, 0, `worker ${i}: ${w.output()}`);
    t.is(await coordinator.exited, 0, coordinator.output());
    const state = await readRunState(out);
    t.is(state.state, 'finished');
    t.deepEqual(state.members.map((m) => m.dataEndpoint.replace(/:\d+$/, '')), [`tcp://${a.ip}`, `tcp://${b.ip}`]);
    t.is(state.latestCheckpoint?.step, 8);
    for (const h of [a, b]) t.true(existsSync(join(root, h.ns, 'datasets', state.plan.dataset.manifestSha256, 'manifest.json')), `${h.ns} downloaded the dataset`);
  } finally {
    for (const p of [coordinator, ...workers]) p.kill();
  }
});
