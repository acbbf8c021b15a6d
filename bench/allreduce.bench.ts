import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { FromBenchRank, ToBenchRank } from './_allreduce-rank';
import type { Bench, BenchTable } from './_table';

const SCRIPT = join(__dirname, '_allreduce-rank.js');
const SIZES_MIB = [1 / 16, 1, 4, 16, 64];
const WORLDS = [2, 4];

function ask(child: ChildProcess, m: ToBenchRank): Promise<FromBenchRank> {
  return new Promise((resolve, reject) => {
    child.once('message', (r: FromBenchRank) => (r.kind === 'error' ? reject(new Error(r.message)) : resolve(r)));
    child.send(m);
  });
}

async function timeWorld(n: number, bytes: number, reps: number): Promise<{ allreduce: number; p2p: number }> {
  const children = Array.from({ length: n }, () => fork(SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    const bound = await Promise.all(children.map((c, rank) => ask(c, { kind: 'bind', rank, worldSize: n })));
    const ends = bound.map((b) => b as Extract<FromBenchRank, { kind: 'bound' }>);
    children.forEach((c, rank) => c.send({ kind: 'connect', right: ends[(rank + 1) % n].endpoint } satisfies ToBenchRank));
    const values = bytes / 4;
    const times = await Promise.all(children.map((c) => ask(c, { kind: 'allreduce', values, reps })));
    const recv = ask(children[1], { kind: 'p2p-recv', values, reps });
    await ask(children[0], { kind: 'p2p-send', to: ends[1].p2p, values, reps });
    const p2p = await recv;
    return { allreduce: Math.max(...times.map((t) => (t as { seconds: number }).seconds)), p2p: (p2p as { seconds: number }).seconds };
  } finally {
    for (const c of children) c.send({ kind: 'exit' } satisfies ToBenchRank);
  }
}

/** Ring all-reduce over ZeroMQ between processes on this host, against raw ZeroMQ point-to-point for the same size. */
export const allreduceBench: Bench = {
  name: 'allreduce',
  async run(): Promise<BenchTable> {
    const rows: (string | number)[][] = [];
    for (const n of WORLDS) {
      for (const mib of SIZES_MIB) {
        const bytes = Math.round(mib * 1024 * 1024);
        const { allreduce, p2p } = await timeWorld(n, bytes, mib >= 16 ? 3 : 10);
        const algbw = bytes / allreduce / 1e9;
        const busbw = (algbw * 2 * (n - 1)) / n;
        const p2pbw = bytes / p2p / 1e9;
        rows.push([`N=${n} ${mib < 1 ? `${mib * 1024} KiB` : `${mib} MiB`}`, allreduce * 1e3, algbw, busbw, p2pbw, busbw / p2pbw]);
      }
    }
    return {
      title: 'ring all-reduce (mean) over ZeroMQ tcp on loopback, one process per rank (nccl-tests definitions)',
      columns: ['ranks, buffer', 'time (ms)', 'algbw GB/s', 'busbw GB/s', 'p2p GB/s', 'busbw/p2p'],
      rows,
      notes: [`${require('node:os').cpus().length} cores on this machine: with more ranks than cores, ranks share CPUs and busbw falls for that reason.`],
    };
  },
};
