import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Rng } from '../../../src/shared/util/rng';
import type { FromRank, ToRank } from './_rank-process';
import { exactSum, firstBitDifference, ints } from './_transport-suite';

const SCRIPT = join(__dirname, '_rank-process.js');
const MAX_WORLD = 5;

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
// parent passes endpoints around, and every rank all-reduces its own data.
for (const kind of ['tcp', 'ipc'] as const) {
  test(`separate processes over ${kind}: N = 1..${MAX_WORLD}, the exact sum, bit-identical on every rank`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ff-proc-'));
    const children = Array.from({ length: MAX_WORLD }, () => fork(SCRIPT, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const rng = new Rng(kind === 'tcp' ? 4 : 5);
    try {
      for (let n = 1; n <= MAX_WORLD; n++) {
        const ranks = children.slice(0, n);
        const bind = (rank: number) => (kind === 'tcp' ? 'tcp://127.0.0.1:*' : `ipc://${join(dir, `n${n}-rank-${rank}`)}`);
        const opened = await Promise.all(ranks.map((c, rank) => ask(c, { kind: 'open', rank, worldSize: n, bind: bind(rank) }, 'opened')));
        await Promise.all(ranks.map((c, rank) => ask(c, { kind: 'connect', right: opened[(rank + 1) % n].endpoint }, 'connected')));
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
      rmSync(dir, { recursive: true, force: true });
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
