import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Rng } from '../../../src/shared/util/rng';
import type { FromRank, ToRank } from './_rank-process';

const SCRIPT = join(__dirname, '_rank-process.js');

function next(child: ChildProcess, kind: FromRank['kind']): Promise<FromRank> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rank process sent no '${kind}' within 20 s`)), 20_000);
    child.once('message', (m: FromRank) => {
      clearTimeout(timer);
      if (m.kind === 'error') reject(new Error(m.message));
      else resolve(m);
    });
  });
}

async function allReduceInProcesses(n: number, transport: 'tcp' | 'ipc', inputs: number[][]): Promise<number[][]> {
  const dir = mkdtempSync(join(tmpdir(), 'ff-proc-'));
  const children = Array.from({ length: n }, () => fork(SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const send = (c: ChildProcess, m: ToRank) => c.send(m);
  try {
    const endpoints = await Promise.all(
      children.map((c, rank) => {
        const bound = next(c, 'bound');
        send(c, { kind: 'bind', rank, worldSize: n, bind: transport === 'tcp' ? 'tcp://127.0.0.1:*' : `ipc://${join(dir, `r${rank}`)}` });
        return bound.then((m) => (m as { endpoint: string }).endpoint);
      }),
    );
    children.forEach((c, rank) => send(c, { kind: 'connect', right: endpoints[(rank + 1) % n] }));
    const results = await Promise.all(
      children.map((c, rank) => {
        const done = next(c, 'reduced');
        send(c, { kind: 'reduce', step: 0, data: inputs[rank] });
        return done.then((m) => (m as { data: number[] }).data);
      }),
    );
    return results;
  } finally {
    for (const c of children) if (c.connected) send(c, { kind: 'exit' });
  }
}

test('separate processes all-reduce to the exact mean over tcp (N = 1..5) and ipc, bit-identical', async (t) => {
  const rng = new Rng(4);
  for (const [n, transport] of [[1, 'tcp'], [2, 'tcp'], [3, 'tcp'], [4, 'tcp'], [5, 'tcp'], [3, 'ipc']] as const) {
    const length = 2 * n + 4001;
    const inputs = Array.from({ length: n }, () => Array.from({ length }, () => rng.int(-500, 500)));
    const results = await allReduceInProcesses(n, transport, inputs);
    for (const r of results) t.deepEqual(r, results[0], `N=${n} ${transport}: ranks differ`);
    const expected = Float32Array.from({ length }, (_, i) => inputs.reduce((s, x) => s + x[i], 0) / n);
    t.true(results[0].every((v, i) => Math.abs(v - expected[i]) < 1e-3), `N=${n} ${transport}: not the mean`);
  }
});
