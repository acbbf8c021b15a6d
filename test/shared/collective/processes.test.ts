import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Push } from 'zeromq';
import type { ExpectedChunk } from '../../../src/shared/collective/api';
import { encodeFrame } from '../../../src/shared/collective/frame';
import { IpcDirectory } from '../../../src/shared/collective/ipc-directory';
import { newRingKeys } from '../../../src/shared/collective/ring-keys';
import { Rng } from '../../../src/shared/util/rng';
import type { FromRank, ToRank } from './_rank-process';
import { exactSum, firstBitDifference, ints } from './_transport-suite';

const SCRIPT = join(__dirname, '_rank-process.js');
const MAX_WORLD = 5;
const MIB = 1 << 20;
const OVERSIZED_BYTES = 64 * MIB;

// Sends `m` and resolves with the child's answer of kind `kind`.
function ask<K extends FromRank['kind']>(child: ChildProcess, m: ToRank, kind: K): Promise<Extract<FromRank, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rank process sent no '${kind}' within 30 s`)), 30_000);
    child.once('message', (r: FromRank) => {
      clearTimeout(timer);
      if (r.kind === kind) resolve(r as Extract<FromRank, { kind: K }>);
      else reject(new Error(r.kind === 'error' ? r.message : `expected '${kind}', got '${r.kind}'`));
    });
    child.send(m);
  });
}

// One process per rank, reused for the rings of 1..MAX_WORLD ranks: each rank binds, the
// parent passes endpoints (and with CURVE public keys) around, and every rank all-reduces its own data.
// CURVE over ipc runs in one process in zmq-transport.test.ts; here CURVE has one process per rank, so one ZAP handler each.
for (const [kind, curve] of [['tcp', false], ['ipc', false], ['tcp', true]] as const) {
  test(`separate processes over ${kind}${curve ? ' with CURVE' : ''}: N = 1..${MAX_WORLD}, the exact sum, bit-identical on every rank`, async (t) => {
    const dir = IpcDirectory.create('ff-proc-');
    const children = Array.from({ length: MAX_WORLD }, () => fork(SCRIPT, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const rng = new Rng((kind === 'tcp' ? 4 : 5) + (curve ? 10 : 0));
    try {
      for (let n = 1; n <= MAX_WORLD; n++) {
        const ranks = children.slice(0, n);
        const keys = ranks.map(() => (curve ? newRingKeys() : undefined));
        const bind = (rank: number) => (kind === 'tcp' ? 'tcp://127.0.0.1:*' : dir.endpoint(`n${n}-rank-${rank}`));
        const opened = await Promise.all(
          ranks.map((c, rank) => ask(c, { kind: 'open', rank, worldSize: n, bind: bind(rank), keys: keys[rank], leftPublicKey: keys[(rank + n - 1) % n]?.publicKey }, 'opened')),
        );
        await Promise.all(ranks.map((c, rank) => ask(c, { kind: 'connect', right: opened[(rank + 1) % n].endpoint, rightPublicKey: keys[(rank + 1) % n]?.publicKey }, 'connected')));
        for (const [i, length] of [0, 1, n + 1, 1009, 100_003].entries()) {
          const inputs = ranks.map(() => ints(rng, length));
          const op = { step: i >> 1, phase: i % 2 === 0 ? ('D' as const) : ('G' as const) };
          const results = await Promise.all(ranks.map((c, rank) => ask(c, { kind: 'reduce', ...op, data: inputs[rank] }, 'reduced')));
          const expected = exactSum(inputs);
          results.forEach((r, rank) => t.is(firstBitDifference(r.data, expected), -1, `N=${n} length=${length} rank ${rank}`));
        }
      }
    } finally {
      for (const c of children) if (c.connected) c.send({ kind: 'exit' } satisfies ToRank);
      dir.close();
    }
  });
}

// The receiver is a process of its own, so its peak memory is its own: the sender's buffer
// (and with CURVE its encrypted copy) stays in this one.
for (const curve of [false, true]) {
  test(`an oversized frame from ${curve ? 'the admitted left neighbour (CURVE)' : 'a plaintext peer'} is dropped before the receiver buffers it`, async (t) => {
    const child = fork(SCRIPT, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const [left, self] = curve ? [newRingKeys(), newRingKeys()] : [undefined, undefined];
    const peer = new Push({ linger: 0, ...(left && self ? { curvePublicKey: left.publicKey, curveSecretKey: left.secretKey, curveServerKey: self.publicKey } : {}) });
    const oversized = Buffer.alloc(OVERSIZED_BYTES, 0x41);
    try {
      const { endpoint } = await ask(child, { kind: 'open', rank: 1, worldSize: 2, bind: 'tcp://127.0.0.1:*', keys: self, leftPublicKey: left?.publicKey, maxMessageBytes: MIB }, 'opened');
      const before = await ask(child, { kind: 'usage' }, 'usage');
      peer.connect(endpoint);
      const expect = (step: number, length: number): ExpectedChunk<'f32'> => ({ run: 'proc-2', step, phase: 'D', round: 0, chunk: 0, length, dtype: 'f32' });
      await peer.send([encodeFrame(expect(0, OVERSIZED_BYTES / 4), new Float32Array(0))[0], oversized]);
      // Sent after ZeroMQ reconnected: the oversized frame's connection was closed.
      const retry = setInterval(() => void peer.send(encodeFrame(expect(1, 2), Float32Array.of(5, 6))).catch(() => undefined), 500);
      try {
        const received = await ask(child, { kind: 'receive', expect: expect(1, 2), timeoutMs: 20_000 }, 'received');
        t.deepEqual(Array.from(received.data), [5, 6]);
      } finally {
        clearInterval(retry);
      }
      const after = await ask(child, { kind: 'usage' }, 'usage');
      const grew = after.maxRssBytes - before.maxRssBytes;
      t.log(`receiver's peak memory grew by ${(grew / MIB).toFixed(1)} MiB for a ${OVERSIZED_BYTES / MIB} MiB frame (rss ${(before.rssBytes / MIB).toFixed(0)} -> ${(after.rssBytes / MIB).toFixed(0)} MiB)`);
      t.true(grew < OVERSIZED_BYTES / 4, `the receiver's peak memory grew by ${grew} bytes`);
    } finally {
      peer.close();
      if (child.connected) child.send({ kind: 'exit' } satisfies ToRank);
    }
  });
}

test('a rank whose neighbour never came up fails by timeout, then closes and exits by itself despite undelivered messages', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ff-proc-'));
  const child = fork(SCRIPT, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await ask(child, { kind: 'open', rank: 0, worldSize: 2, bind: `ipc://${join(dir, 'rank-0')}`, timeoutMs: 300 }, 'opened');
    await ask(child, { kind: 'connect', right: `ipc://${join(dir, 'nobody')}` }, 'connected');
    const failed = ask(child, { kind: 'reduce', step: 0, phase: 'D', data: new Float32Array(1000) }, 'reduced');
    await t.throwsAsync(failed, { message: /^CollectiveTimeoutError: rank 0 received nothing from rank 1 within 300 ms/ });
    const started = performance.now();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.send({ kind: 'close' } satisfies ToRank);
    t.is(await exited, 0);
    // ZeroMQ may hold the exit for the linger time (1 s) trying to deliver what is queued.
    t.log(`exit took ${performance.now() - started} ms`);
    t.true(performance.now() - started < 5000, `exit took ${performance.now() - started} ms`);
  } finally {
    if (child.exitCode === null) child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
