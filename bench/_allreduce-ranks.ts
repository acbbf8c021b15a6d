import { type ChildProcess, fork, spawn, type StdioOptions } from 'node:child_process';
import { join } from 'node:path';
import type { Compression } from '../src/shared/collective';
import type { FromBenchRank, ToBenchRank } from './_allreduce-rank';

const SCRIPT = join(__dirname, '_allreduce-rank.js');
const STDIO: StdioOptions = ['ignore', 'inherit', 'inherit', 'ipc'];

/** An answer that is not an error. */
export type Answer = Exclude<FromBenchRank, { kind: 'error' }>;

/** Where a rank process runs: a network namespace, and the address it listens on there. */
export interface RankPlace {
  netns: string;
  host: string;
}

/**
 * Benchmark rank processes (bench/_allreduce-rank.ts) connected into a ring, each on this host's
 * loopback or in a network namespace of its own. {@link close} ends them.
 */
export class BenchRanks {
  private constructor(readonly children: ChildProcess[]) {}

  /** Starts `n` ranks (rank r at `place(r)` when given) and connects them: no timing then includes a handshake. */
  static async start(n: number, place?: (rank: number) => RankPlace): Promise<BenchRanks> {
    const ranks = new BenchRanks(
      Array.from({ length: n }, (_, r) => {
        const at = place?.(r);
        return at ? spawn('ip', ['netns', 'exec', at.netns, process.execPath, SCRIPT], { stdio: STDIO }) : fork(SCRIPT, [], { stdio: STDIO });
      }),
    );
    try {
      const opened = (await Promise.all(ranks.children.map((c, r) => ask(c, { kind: 'open', host: place?.(r).host })))).map((o) => o as Extract<FromBenchRank, { kind: 'opened' }>);
      await Promise.all(ranks.children.map((c, rank) => ask(c, { kind: 'connect', rank, worldSize: n, left: opened[(rank + n - 1) % n], right: opened[(rank + 1) % n] })));
    } catch (err) {
      ranks.close();
      throw err;
    }
    return ranks;
  }

  /** Asks every rank the same, resolving with their answers in rank order. */
  all(m: ToBenchRank): Promise<Answer[]> {
    return Promise.all(this.children.map((c) => ask(c, m)));
  }

  /**
   * Seconds of the median of `reps` all-reduces of `bytes` (after one warm-up) on the slowest
   * rank, the operation's time: over the CURVE or the plaintext ring, fp16-compressed or not.
   */
  async allreduce(mode: { curve: boolean; compression: Compression }, bytes: number, reps: number): Promise<number> {
    return Math.max(...(await this.all({ kind: 'allreduce', curve: mode.curve, compression: mode.compression, bytes, reps })).map((r) => (r.kind === 'done' ? r.seconds : Number.NaN)));
  }

  /** Tells every rank still connected to exit. */
  close(): void {
    for (const c of this.children) if (c.connected) c.send({ kind: 'exit' } satisfies ToBenchRank);
  }
}

/** Sends rank process `child` a request, resolving with its answer or rejecting with the error it reports. */
export function ask(child: ChildProcess, m: ToBenchRank): Promise<Answer> {
  return new Promise((resolve, reject) => {
    child.once('message', (r: FromBenchRank) => (r.kind === 'error' ? reject(new Error(r.message)) : resolve(r)));
    child.send(m);
  });
}
