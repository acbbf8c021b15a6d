import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG } from '../src/shared/config';
import { ingest } from '../src/shared/data/ingest';
import { SyntheticSource } from '../src/shared/data/synthetic-source';
import { discriminatorParameters, generatorParameters } from '../src/shared/train/parameter-count';
import { BenchRanks } from './_allreduce-ranks';
import { netnsUnavailable, removeOrphanedNamespaces, shapeOf, SwitchedHosts } from './_netns';
import { type AlphaBeta, alphaOf, betaAt, betaOfLink, fitBeta, linkForEfficiency, projectHierarchicalStep, projectStep, stepRingSeconds } from './_ring-model';
import { type PointResult, type PointSetting, runPoint, type ScalingPoint } from './_scaling-point';
import { type Bench, type BenchOptions, type BenchTable, formatTable } from './_table';

const RANKS = [1, 2, 4, 8];
const COMPUTE_MS = [50, 200];
const WARM_UP_STEPS = 3;
const MEASURED_STEPS = 20;
const DEFAULT_LINK_MBIT = 1000;
/** The whole bench, set-up and clean-up included; a point that would not fit is not run. */
const BUDGET_MS = 10 * 60_000;
const CLEAN_UP_MS = 20_000;
const POINT_BOUND_MS = 150_000;
/** α: the all-reduce of 16 floats at N=2, the median of this many (after one warm-up). */
const ALPHA_BYTES = 64;
const ALPHA_REPS = 51;
/** The projection: a GPU step of 20 ms on these ranks and links, 8 GPUs a host for the hierarchical ring. */
const GPU_STEP_S = 0.02;
const PROJECT_RANKS = [16, 32, 64];
const PROJECT_GBIT = [10, 25];
const RANKS_PER_HOST = 8;
const TARGET = 0.9;
/** Namespaces are named `ffsc<pid>...`, so a crashed run's are found by the next. */
const PREFIX = 'ffsc';

/** A point as run: its numbers, or why it has none. */
interface Measured {
  point: ScalingPoint;
  result: PointResult | null;
  note: string;
}

const ms = (s: number | null | undefined): string => (s === null || s === undefined || !Number.isFinite(s) ? '-' : (s * 1000).toFixed(1));
const us = (s: number): string => (Number.isFinite(s) ? `${(s * 1e6).toFixed(0)} µs` : '-');
const ratio = (x: number | null): string => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(3));
const met = (x: number | null): string => (x !== null && x >= TARGET ? 'met' : 'MISSED');
const ringName = (p: ScalingPoint): string => (p.compression === 'none' ? p.encryption : `${p.encryption} ${p.compression}`);

/**
 * Multi-host scaling, simulated: N ranks (1, 2, 4, 8) and the coordinator each in a network
 * namespace on one bridge, every link shaped with tc tbf (1 Gbit/s unless `--link-mbit`), the
 * real coordinator and workers from the CLI with their defaults (TLS, run token, CURVE ring)
 * and the `default` preset's real gradient sizes, compute emulated by `train.emulateComputeMs`
 * (50 and 200 ms). Per point the measured step and all-reduce times, against the α-β model's
 * ideal ring and the same run on one rank; then a projection (a model, not a measurement) of
 * a 20 ms GPU step on 16 to 64 ranks over 10 and 25 GbE. Needs root; at most 10 minutes.
 */
export const scalingBench: Bench = {
  name: 'scaling',
  onlyWhenNamed: true,
  async run(options: BenchOptions = {}): Promise<BenchTable> {
    const began = Date.now();
    const unavailable = netnsUnavailable();
    if (unavailable) throw new Error(`the scaling bench needs network namespaces: ${unavailable}`);
    const orphans = removeOrphanedNamespaces(PREFIX);
    const mbit = options.linkMbit ?? DEFAULT_LINK_MBIT;
    if (!(mbit > 0)) throw new Error(`--link-mbit needs a rate > 0, got ${mbit}`);
    const gbit = mbit / 1000;
    const size = DEFAULT_CONFIG.data.imageSize;
    const bytes = [discriminatorParameters(DEFAULT_CONFIG.discriminator, size).trainable * 4, generatorParameters(DEFAULT_CONFIG.generator, size).trainable * 4];
    const load = loadavg()[0];
    const hosts = new SwitchedHosts(`${PREFIX}${process.pid}x`, Math.max(...RANKS), shapeOf(mbit));
    const root = mkdtempSync(join(tmpdir(), 'facefill-bench-scaling-'));
    // A signal that ends the bench mid-run still kills its processes and removes its namespaces.
    let cleanup: (() => void) | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      cleanup?.();
      hosts.tearDown();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    const measured: Measured[] = [];
    let alpha: Record<ScalingPoint['encryption'], number> = { curve: Number.NaN, none: Number.NaN };
    let keep = false;
    try {
      hosts.setUp();
      const data = join(root, 'data');
      await ingest({ source: new SyntheticSource(80, 1), out: data, size });
      alpha = await measureAlpha(hosts);
      const setting: Omit<PointSetting, 'boundMs'> = { root, data, hosts, warmUpSteps: WARM_UP_STEPS, measuredSteps: MEASURED_STEPS };
      // The default (CURVE) sweep first; plaintext at the largest ring last, if time is left.
      const points: ScalingPoint[] = [
        ...COMPUTE_MS.flatMap((computeMs) => RANKS.map((ranks) => ({ ranks, computeMs, encryption: 'curve' as const, compression: 'none' as const }))),
        // fp16 halves the bytes on every link: the largest ring, the longest compute.
        { ranks: Math.max(...RANKS), computeMs: Math.max(...COMPUTE_MS), encryption: 'curve', compression: 'fp16' },
        ...COMPUTE_MS.map((computeMs) => ({ ranks: Math.max(...RANKS), computeMs, encryption: 'none' as const, compression: 'none' as const })),
      ];
      let longestMs = 30_000;
      for (const point of points) {
        const left = BUDGET_MS - CLEAN_UP_MS - (Date.now() - began);
        if (left < longestMs) {
          measured.push({ point, result: null, note: 'not run: the 10 min budget is spent' });
          continue;
        }
        const t = Date.now();
        try {
          const result = await runPoint(point, { ...setting, boundMs: Math.min(POINT_BOUND_MS, left) }, (c) => (cleanup = c));
          measured.push({ point, result, note: '' });
        } catch (err) {
          keep = true;
          measured.push({ point, result: null, note: `failed: ${(err as Error).message.split('\n')[0]}` });
          console.error(String((err as Error).message));
        }
        longestMs = Math.max(longestMs, Date.now() - t);
        const r = measured.at(-1)?.result;
        console.error(`scaling N=${point.ranks} compute ${point.computeMs} ms ${ringName(point)}: ${r ? `step ${ms(r.stepSeconds)} ms, all-reduce ${ms(r.reduceSeconds)} ms` : 'no result'} (${((Date.now() - t) / 1000).toFixed(0)} s)`);
      }
    } finally {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      hosts.tearDown();
      if (!keep) rmSync(root, { recursive: true, force: true });
    }
    return report({ measured, alpha, bytes, gbit, hosts, load, orphans, root: keep ? root : null, minutes: (Date.now() - began) / 60_000 });
  },
};

// α at N=2 over the shaped link, CURVE and plaintext: the real ring code on a buffer too small for its bytes to count.
async function measureAlpha(hosts: SwitchedHosts): Promise<Record<ScalingPoint['encryption'], number>> {
  const ranks = await BenchRanks.start(2, (r) => ({ netns: hosts.host(r).ns, host: hosts.host(r).ip }));
  try {
    return { curve: alphaOf(2, await ranks.allreduce({ curve: true, compression: 'none' }, ALPHA_BYTES, ALPHA_REPS)), none: alphaOf(2, await ranks.allreduce({ curve: false, compression: 'none' }, ALPHA_BYTES, ALPHA_REPS)) };
  } finally {
    ranks.close();
  }
}

interface Report {
  measured: Measured[];
  alpha: Record<ScalingPoint['encryption'], number>;
  bytes: number[];
  gbit: number;
  hosts: SwitchedHosts;
  load: number;
  orphans: string[];
  /** Where the failed runs' folders were kept, if any failed. */
  root: string | null;
  minutes: number;
}

function report(r: Report): BenchTable {
  const { measured, alpha, bytes, gbit } = r;
  const wire = betaOfLink(gbit);
  const find = (p: ScalingPoint) =>
    measured.find((m) => m.point.ranks === p.ranks && m.point.computeMs === p.computeMs && m.point.encryption === p.encryption && m.point.compression === p.compression)?.result ?? null;
  const model = (e: ScalingPoint['encryption']): AlphaBeta => ({ alpha: alpha[e], beta: wire });
  // The ideal ring of a point: with fp16 the links carry half the bytes.
  const ideal = (p: ScalingPoint): number => stepRingSeconds(p.ranks, p.compression === 'fp16' ? bytes.map((b) => b / 2) : bytes, model(p.encryption));
  const ringEfficiency = (m: Measured): number | null => (m.result && m.point.ranks > 1 ? ideal(m.point) / m.result.reduceSeconds : null);
  // One rank has no ring: its run is the reference whatever the ring's security.
  const stepEfficiency = (m: Measured): number | null => {
    const one = find({ ranks: 1, computeMs: m.point.computeMs, encryption: 'curve', compression: 'none' });
    return m.result && one ? one.stepSeconds / m.result.stepSeconds : null;
  };
  // CURVE rows first, then by compute and ranks.
  const key = (m: Measured) => [m.point.encryption === 'curve' ? 0 : 1, m.point.compression === 'none' ? 0 : 1, m.point.computeMs, m.point.ranks];
  const sorted = [...measured].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    const i = x.findIndex((v, k) => v !== y[k]);
    return i < 0 ? 0 : x[i] - y[i];
  });
  const rows = sorted.map((m) => [
    String(m.point.ranks),
    String(m.point.computeMs),
    ringName(m.point),
    ms(m.result?.stepSeconds),
    ms(m.result?.reduceSeconds),
    m.point.ranks > 1 ? ms(ideal(m.point)) : '-',
    ratio(ringEfficiency(m)),
    ratio(stepEfficiency(m)),
    ratio(m.result ? m.point.computeMs / 1000 / m.result.stepSeconds : null),
    m.result && Number.isFinite(m.result.hostBusy) ? `${(m.result.hostBusy * 100).toFixed(0)}%` : '-',
    m.note,
  ]);
  // β fitted to the N=2 CURVE runs' all-reduce time: the per-byte cost the ring really paid.
  const fits = COMPUTE_MS.map((c) => find({ ranks: 2, computeMs: c, encryption: 'curve', compression: 'none' })).flatMap((p) => (p ? [fitBeta(2, bytes, p.reduceSeconds, alpha.curve)] : []));
  const beta = fits.length ? fits.reduce((a, b) => a + b, 0) / fits.length : wire;
  const [nMax, cMax] = [Math.max(...RANKS), Math.max(...COMPUTE_MS)];
  const n8 = measured.find((m) => m.point.ranks === nMax && m.point.computeMs === cMax && m.point.encryption === 'curve' && m.point.compression === 'none');
  const wireN8 = stepRingSeconds(nMax, bytes, { alpha: 0, beta: wire });
  const needGbit = linkForEfficiency(nMax, cMax / 1000, bytes, alpha.curve, TARGET);
  const ringN8 = n8 ? ringEfficiency(n8) : null;
  const stepN8 = n8 ? stepEfficiency(n8) : null;
  const { shape } = r.hosts;
  const mib = (b: number) => (b / 2 ** 20).toFixed(2);
  return {
    title: `scaling: N ranks on a simulated switch (network namespaces, ${shape.mbit} Mbit/s links), the default preset's gradients, compute emulated; measured`,
    columns: ['ranks', 'compute ms', 'ring', 'step ms', 'all-reduce ms', 'ideal ms', 'ring eff', 'step eff', 'compute/step', 'host CPU busy', 'notes'],
    rows,
    notes: [
      `topology: the coordinator and each rank in a network namespace with one veth to a Linux bridge in a switch namespace; every veth shaped on both ends (egress of the host's end: what it sends; of the switch's end: what it receives) with tc tbf rate ${shape.mbit}mbit burst ${shape.burstBytes} B (1 ms at the rate, at least 64 KiB) latency ${shape.latencyMs} ms`,
      `runs: the real coordinator and \`facefill worker\` processes from the CLI with their defaults (TLS, run token, CURVE ring unless "none"), preset default (64 px), global batch ${DEFAULT_CONFIG.data.batchSize}; the trainer replaced by train.emulateComputeMs, which sleeps the compute (half before D's all-reduce, half before G's) and all-reduces gradients of the real sizes: D ${mib(bytes[0])} MiB + G ${mib(bytes[1])} MiB (${bytes.map((b) => b / 4).join(' + ')} floats, from the parameter count) through the real ring; a sleep, not a spin, so that ${Math.max(...RANKS)} ranks on ${cpus().length} cores do not queue for the CPU`,
      `measured: ${WARM_UP_STEPS} warm-up steps, then the median of ${MEASURED_STEPS}: step = the gap between rank 0's reports of consecutive steps as the coordinator logs them (the whole step: compute, both all-reduces, commit, report); all-reduce = rank 0's D + G all-reduce seconds of the step (waits for slower ranks included)`,
      `ideal = the α-β model summed over D's and G's all-reduce, 2(N-1)·α + 2(N-1)/N · S/B, with B the link rate (${shape.mbit} Mbit/s, β = ${(wire * 1e9).toFixed(2)} ns/B) and α the per-hop latency measured at N=2 (the real ring over the shaped link, ${ALPHA_BYTES} B all-reduce, median of ${ALPHA_REPS}): α curve ${us(alpha.curve)}, plaintext ${us(alpha.none)}; TCP/IP headers alone cap the payload at ~0.95 of the link rate`,
      `ring eff = ideal / measured all-reduce (for "fp16", cluster.compression fp16, the ideal counts the half-size bytes the links carry); step eff = step at N=1 / step at N (the same compute); compute/step = emulated compute / measured step; host CPU busy = the ${cpus().length} cores' busy time over the measured steps (/proc/stat: every process on the host, this run's and others'); near 100% the cores, not the links, set the pace`,
      `β fitted to the N=2 all-reduce times (α taken off): ${(beta * 1e9).toFixed(2)} ns/B, i.e. the ring moved ${((8 / beta / 1e6)).toFixed(0)} Mbit/s of a ${shape.mbit} Mbit/s link`,
      `host: ${cpus().length} cores, 1-min load ${r.load.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end (other work on this host slows the ranks alike); ${r.minutes.toFixed(1)} min${r.orphans.length ? `; removed a crashed run's namespaces: ${r.orphans.join(' ')}` : ''}${r.root ? `; failed runs' folders kept in ${r.root}` : ''}`,
      'hierarchical all-reduce: not measured; every simulated host holds one rank, so there is nothing to reduce within a host first (the model below projects it for 8 GPUs a host)',
      '',
      ...formatTable(projection({ alpha: alpha.curve, beta }, bytes, gbit)).split('\n'),
      '',
      `targets at N=${nMax}: ring efficiency ${ratio(ringN8)} (target >= ${TARGET}: ${met(ringN8)}), step efficiency with ${cMax} ms compute ${ratio(stepN8)} (target >= ${TARGET}: ${met(stepN8)})`,
      `bound: with no overlap of compute and all-reduce, the wire alone (2(N-1)/N · S/B = ${ms(wireN8)} ms a step at N=${nMax}) caps that step efficiency at ${ratio(cMax / 1000 / (cMax / 1000 + wireN8))} on ${shape.mbit} Mbit/s links, however fast the software; ${TARGET} needs ${needGbit === null ? 'more than any link gives (α alone is too slow)' : `links of ${needGbit.toFixed(1)} Gbit/s or more (α as measured), or fewer bytes (fp16 gradients), or all-reduce overlapped with compute`}`,
      `summary: ring_efficiency_n8=${ratio(ringN8)} step_efficiency_n8_200ms=${ratio(stepN8)}`,
    ],
  };
}

// The model's step efficiency for a GPU step on more ranks and faster links, flat ring and
// hierarchical, with the β fitted here and with the wire's alone (software costs fully hidden).
function projection(fitted: AlphaBeta, bytes: number[], hereGbit: number): BenchTable {
  const rows = PROJECT_GBIT.flatMap((gbit) =>
    PROJECT_RANKS.map((n) => {
      const m = { alpha: fitted.alpha, beta: betaAt(gbit, fitted.beta, hereGbit) };
      const wire = { alpha: fitted.alpha, beta: betaOfLink(gbit) };
      const flat = projectStep(n, GPU_STEP_S, bytes, m);
      const hier = projectHierarchicalStep(n, RANKS_PER_HOST, GPU_STEP_S, bytes, m);
      const [flatWire, hierWire] = [projectStep(n, GPU_STEP_S, bytes, wire), projectHierarchicalStep(n, RANKS_PER_HOST, GPU_STEP_S, bytes, wire)];
      return [`${gbit} GbE`, String(n), ms(flat.ringSeconds), ratio(flat.efficiency), ratio(flatWire.efficiency), ms(hier.ringSeconds), ratio(hier.efficiency), ratio(hierWire.efficiency)];
    }),
  );
  return {
    title: `MODEL, not a measurement: step efficiency of a ${GPU_STEP_S * 1000} ms GPU step, from α = ${us(fitted.alpha)} and β = ${(fitted.beta * 1e9).toFixed(2)} ns/B fitted here`,
    columns: ['link', 'ranks', 'flat ring ms', 'flat step eff', 'flat, wire β', `hierarchical (${RANKS_PER_HOST}/host) ring ms`, 'hierarchical step eff', 'hierarchical, wire β'],
    rows,
    notes: [
      'model: step = compute + the D and G all-reduces one after the other (the GAN step cannot overlap them: G\'s phase needs D\'s update); each all-reduce 2(N-1)·α + 2(N-1)/N · S·β, α as measured here (a loaded 2-core host: one with idle cores would do better);',
      'β = the link\'s wire time per byte + what the ring paid above the wire here (encryption, sums, copies, waiting for a core); "wire β": the wire\'s alone, software fully hidden (the best case);',
      `hierarchical: the ${RANKS_PER_HOST} ranks of a host reduce over NVLink or shared memory (counted as free), one leader per host runs the ring across hosts`,
    ],
  };
}
