import { cpus, loadavg } from 'node:os';
import { DEFAULT_CHUNK_BYTES } from '../src/shared/collective/ring-allreduce';
import type { FromBenchRank } from './_allreduce-rank';
import { ask, BenchRanks } from './_allreduce-ranks';
import type { Bench, BenchTable } from './_table';

const KIB = 1024;
const MIB = 1024 * KIB;
/** Buffer sizes and all-reduce repetitions (median of these, after one warm-up). */
const SIZES: [bytes: number, reps: number][] = [
  [64 * KIB, 31],
  [MIB, 15],
  [4 * MIB, 9],
  [16 * MIB, 5],
  [64 * MIB, 5],
];
/** The point-to-point stream carries at least this much, so small messages are timed over many. */
const P2P_MIN_BYTES = 64 * MIB;
const WORLDS = [2, 4];

const epochMs = (r: FromBenchRank): number => (r.kind === 'at' ? r.epochMs : NaN);
const span = (r: FromBenchRank): { startMs: number; endMs: number } => (r.kind === 'span' ? r : { startMs: NaN, endMs: NaN });
const sizeName = (bytes: number): string => (bytes < MIB ? `${bytes / KIB} KiB` : `${bytes / MIB} MiB`);

/** One row's numbers: plaintext, CURVE and fp16 all-reduce times, and the raw ZeroMQ baselines' bandwidths. */
interface Timed {
  n: number;
  bytes: number;
  plain: number;
  curve: number;
  fp16: number;
  p2p: number;
  ringbw: number;
}

/** The modes a row times, in the order of its first half (the second half runs them backwards). */
const MODES = [
  { name: 'plain', curve: false, compression: 'none' },
  { name: 'curve', curve: true, compression: 'none' },
  { name: 'fp16', curve: false, compression: 'fp16' },
] as const;

const busbw = (n: number, bytes: number, seconds: number): number => ((bytes / seconds / 1e9) * 2 * (n - 1)) / n;

// Times the all-reduce on `n` processes, plaintext and CURVE side by side, and between two of
// them raw ZeroMQ for each size.
async function timeWorld(n: number): Promise<Timed[]> {
  const ranks = await BenchRanks.start(n);
  const { children } = ranks;
  try {
    // Every link at once, in messages of the all-reduce's chunk size: what busbw could be here.
    const ringStream = async (bytes: number) => {
      const chunk = Math.min(bytes, DEFAULT_CHUNK_BYTES);
      const count = Math.ceil(P2P_MIN_BYTES / chunk);
      const spans = (await ranks.all({ kind: 'ring-stream', bytes: chunk, reps: count })).map(span);
      return (chunk * count) / ((Math.max(...spans.map((s) => s.endMs)) - Math.min(...spans.map((s) => s.startMs))) / 1000) / 1e9;
    };
    // Untimed: the first all-reduces of a process are slow (JIT, fresh connections), and
    // whichever mode ran first would pay for all.
    for (const mode of MODES) await ranks.allreduce(mode, MIB, 10);
    const rows: Timed[] = [];
    for (const [bytes, reps] of SIZES) {
      // The ring stream before and after the all-reduces, which run in the order plain,
      // CURVE, fp16, fp16, CURVE, plain; each the mean of its two: a load that drifts during
      // the row (other processes on this host) weighs on all alike, the ceiling included.
      let ringbw = (await ringStream(bytes)) / 2;
      const times = { plain: 0, curve: 0, fp16: 0 };
      for (const mode of [...MODES, ...[...MODES].reverse()]) times[mode.name] += (await ranks.allreduce(mode, bytes, reps)) / 2;
      ringbw += (await ringStream(bytes)) / 2;
      // From rank 0's first send to rank 1's last receipt, over a link connected beforehand.
      const messages = Math.max(reps, Math.ceil(P2P_MIN_BYTES / bytes));
      const received = ask(children[1], { kind: 'p2p-receive', reps: messages });
      const start = epochMs(await ask(children[0], { kind: 'p2p-send', bytes, reps: messages }));
      const p2p = (epochMs(await received) - start) / 1000 / messages;
      rows.push({ n, bytes, ...times, p2p: bytes / p2p / 1e9, ringbw });
    }
    return rows;
  } finally {
    ranks.close();
  }
}

/**
 * Ring all-reduce (mean) over ZeroMQ tcp between processes on this host, plaintext, CURVE and
 * fp16-compressed side by side, against raw ZeroMQ point-to-point for the same size.
 */
export const allreduceBench: Bench = {
  name: 'allreduce',
  async run(): Promise<BenchTable> {
    const load = loadavg()[0];
    const timed: Timed[] = [];
    for (const n of WORLDS) timed.push(...(await timeWorld(n)));
    const rows = timed.map((r) => {
      const [plain, curve, fp16] = [busbw(r.n, r.bytes, r.plain), busbw(r.n, r.bytes, r.curve), busbw(r.n, r.bytes, r.fp16)];
      return [`N=${r.n}, ${sizeName(r.bytes)}`, r.plain * 1e3, r.bytes / r.plain / 1e9, plain, r.p2p, plain / r.p2p, r.ringbw, plain / r.ringbw, r.curve * 1e3, curve, curve / plain, fp16, fp16 / plain];
    });
    // The largest buffer on the smallest ring: the ranks then have a core each on a 2-core host.
    const small = timed.filter((r) => r.n === WORLDS[0]);
    const head = small.at(-1);
    const ratio = (bytes: number, mode: 'plain' | 'fp16' = 'plain') => {
      const r = small.find((x) => x.bytes === bytes);
      return r ? (busbw(r.n, r.bytes, r[mode]) / r.ringbw).toFixed(3) : '-';
    };
    const summary = head
      ? [
          `summary: ranks=${head.n} buffer_mib=${head.bytes / MIB} busbw_plain_gbps=${busbw(head.n, head.bytes, head.plain).toFixed(3)}`,
          `busbw_curve_gbps=${busbw(head.n, head.bytes, head.curve).toFixed(3)} curve_over_plain=${(head.plain / head.curve).toFixed(3)}`,
          `busbw_fp16_gbps=${busbw(head.n, head.bytes, head.fp16).toFixed(3)} fp16_over_plain=${(head.plain / head.fp16).toFixed(3)}`,
          `ring_p2p_ratio_n${head.n}_4mib=${ratio(4 * MIB)} ring_p2p_ratio_n${head.n}_64mib=${ratio(64 * MIB)} ring_p2p_ratio_fp16_n${head.n}_64mib=${ratio(64 * MIB, 'fp16')}`,
        ].join(' ')
      : 'summary: -';
    return {
      title: `ring all-reduce (mean) over ZeroMQ tcp on 127.0.0.1, one process per rank, ${sizeName(DEFAULT_CHUNK_BYTES)} chunks, plaintext, CURVE and fp16`,
      columns: ['ranks, buffer', 'time ms', 'algbw GB/s', 'busbw GB/s', 'p2p GB/s', 'busbw/p2p', 'ring p2p GB/s', 'busbw/ring p2p', 'curve ms', 'curve busbw GB/s', 'curve/plain', 'fp16 busbw GB/s', 'fp16/plain'],
      rows,
      notes: [
        'time: median over reps of the slowest rank; algbw = bytes / time; busbw = algbw * 2(N-1)/N (nccl-tests); time..busbw/ring p2p are plaintext;',
        'curve: the same all-reduce over CURVE links (encrypted, ZAP-authenticated); fp16: plaintext with cluster.compression fp16 (busbw counts the float32 bytes reduced, so it can pass ring p2p);',
        'the three timed in turn in the same processes (plain, curve, fp16, fp16, curve, plain, each the mean of two medians); curve/plain and fp16/plain are busbw ratios.',
        'p2p: raw ZeroMQ PUSH/PULL between two of the processes, a stream of messages of the buffer size, first send to last receipt.',
        'ring p2p: every rank streams raw chunk-sized messages to its right neighbour at once (the ring\'s traffic, no arithmetic), before and after the row\'s all-reduces (their mean); per-link GB/s.',
        `${cpus().length} cores (1-min load ${load.toFixed(1)} at start): with more ranks than cores, ranks share CPUs and busbw falls for that reason.`,
        summary,
      ],
    };
  },
};
