import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ingest } from '../src/shared/data/ingest';
import { SyntheticSource } from '../src/shared/data/synthetic-source';
import type { StepSeconds } from '../src/shared/train/api';
import { freePort } from '../test/_free-port';
import { makeRunCredentials } from '../test/_run-credentials';
import type { Bench, BenchTable } from './_table';

const CLI = resolve(__dirname, '../src/cli.js');
const STEPS = 16;
/** The global batches measured: at 32, each of two workers trains 16 a step, as one process does at 16. */
const BATCHES = [16, 32] as const;

interface LogLine {
  msg?: string;
  imagesPerSecond?: number;
  cpuSeconds?: number;
  loopCpuSeconds?: number;
  phaseSeconds?: StepSeconds;
}

/** One measured run: its rate, rank 0's (or the process's) mean phases and CPU over its training loop, and the coordinator's CPU over the training. */
interface Measured {
  imagesPerSecond: number;
  phases: StepSeconds;
  loopCpuSeconds: number;
  coordinatorCpuSeconds: number | null;
}

/** Runs the CLI, resolving with its JSON log lines; rejects with its output when it fails. */
function cli(args: string[]): Promise<LogLine[]> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, FACEFILL_LOG_LEVEL: 'info', FACEFILL_LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (b: Buffer) => (text += b.toString()));
    child.stderr.on('data', (b: Buffer) => (text += b.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return fail(new Error(`facefill ${args[0]} exited ${code}:\n${text}`));
      done(text.split('\n').flatMap((l) => (l.startsWith('{') ? [JSON.parse(l) as LogLine] : [])));
    });
  });
}

// The line whose message matches `msg` and that has every field in `fields`.
function lineWith<K extends keyof LogLine>(lines: LogLine[], msg: RegExp, fields: K[]): LogLine & Required<Pick<LogLine, K>> {
  const line = lines.find((l) => l.msg !== undefined && msg.test(l.msg) && fields.every((f) => l[f] !== undefined));
  if (!line) throw new Error(`no '${msg.source}' log line with ${fields.join(', ')}`);
  return line as LogLine & Required<Pick<LogLine, K>>;
}

// The last line of a training process: its rate, mean phases and the loop's CPU seconds.
const finalLine = (lines: LogLine[], msg: RegExp): Omit<Measured, 'coordinatorCpuSeconds'> => {
  const line = lineWith(lines, msg, ['imagesPerSecond', 'phaseSeconds', 'loopCpuSeconds']);
  if (line.imagesPerSecond <= 0) throw new Error(`'${msg.source}' log line with no images/s`);
  return { imagesPerSecond: line.imagesPerSecond, phases: line.phaseSeconds, loopCpuSeconds: line.loopCpuSeconds };
};

// The coordinator's CPU seconds from its first ring's start to the run's end (start-up and the wait for workers left out).
const coordinatorTrainingCpu = (lines: LogLine[]): number => lineWith(lines, /finished/, ['cpuSeconds']).cpuSeconds - lineWith(lines, /^ring generation \d+: training/, ['cpuSeconds']).cpuSeconds;

const better = (a: Measured, b: Measured): Measured => (a.imagesPerSecond >= b.imagesPerSecond ? a : b);

const ms = (seconds: number): number => seconds * 1e3;

/**
 * Images/s of the same training (preset `default`, global batch 16 and 32, 16 steps, on the
 * backend `auto` picks) as one `facefill train` process and as a run of orchestrated workers (a
 * coordinator and 1 or 2 `facefill worker` processes: heartbeats, step reports, the ring, the
 * merged checkpoint). Both measure the same span, the training loop from its first step to its
 * last checkpoint. Each case runs twice, interleaved, and its better run counts. Where the time
 * goes: rank 0's step phases, the CPU time of rank 0's and the coordinator's processes, and two bare
 * `facefill train` processes on half the batch each, the ceiling two workers have on the host.
 */
export const orchestratedBench: Bench = {
  name: 'orchestrated',
  async run(): Promise<BenchTable> {
    const root = mkdtempSync(join(tmpdir(), 'facefill-bench-orch-'));
    const data = join(root, 'data');
    await ingest({ source: new SyntheticSource(400, 1), out: data, size: 64 });
    const configOf = (batch: number) => {
      const file = join(root, `config-b${batch}.json`);
      writeFileSync(file, JSON.stringify({ preset: 'default', data: { batchSize: batch }, train: { steps: STEPS, checkpointEvery: STEPS, logEvery: 4 } }));
      return file;
    };
    let runs = 0;
    const single = async (config: string): Promise<Measured> => ({
      ...finalLine(await cli(['train', '--config', config, '--data', data, '--out', join(root, `single-${runs++}`), '--no-progress']), /^trained steps/),
      coordinatorCpuSeconds: null,
    });
    const cluster = async (config: string, workers: number): Promise<Measured> => {
      const port = await freePort();
      const out = join(root, `cluster-${runs++}`);
      const { joinFile } = await makeRunCredentials(out, `127.0.0.1:${port}`);
      const coordinator = cli(['coordinator', '--config', config, '--data', data, '--workers', String(workers), '--port', String(port), '--bind', '127.0.0.1', '--out', out, '--exit-when-done', '--no-progress', '--metrics-port', '0']);
      const ranks = Array.from({ length: workers }, (_, i) =>
        cli(['worker', '--join', joinFile, '--data', data, '--work-dir', join(out, `w${i}`), '--metrics-port', '0']),
      );
      const [rank0] = await Promise.all(ranks);
      const coordinatorLines = await coordinator;
      // The ranks step in lockstep, and a worker counts global-batch images: rank 0's rate is the run's.
      return { ...finalLine(rank0, /^rank 0 of/), coordinatorCpuSeconds: coordinatorTrainingCpu(coordinatorLines) };
    };
    const rows: (string | number)[][] = [];
    const row = (name: string, m: Measured, base: Measured) => {
      const p = m.phases;
      return [name, m.imagesPerSecond, m.imagesPerSecond / base.imagesPerSecond, ms(p.total), ms(p.data), ms(p.dCompute), ms(p.dReduce), ms(p.gCompute), ms(p.gReduce), ms(p.apply), ms(m.loopCpuSeconds / STEPS), m.coordinatorCpuSeconds === null ? '-' : ms(m.coordinatorCpuSeconds / STEPS)];
    };
    // Two bare `facefill train` processes at once, half the batch each and no ring: what two
    // workers could reach on this host if orchestration cost nothing. Their images add up; the
    // phases and CPU shown are the first one's.
    const barePair = async (half: string): Promise<Measured> => {
      const [x, y] = await Promise.all([single(half), single(half)]);
      return { ...x, imagesPerSecond: x.imagesPerSecond + y.imagesPerSecond };
    };
    const ratios: Record<number, { one: number; two: number; pair: number }> = {};
    for (const batch of BATCHES) {
      const config = configOf(batch);
      const half = configOf(batch / 2);
      // Two interleaved rounds; each case's better run counts.
      const round = async () => ({ s1: await single(config), one: await cluster(config, 1), two: await cluster(config, 2), pair: await barePair(half) });
      const [a, b] = [await round(), await round()];
      const [s1, one, two, pair] = [better(a.s1, b.s1), better(a.one, b.one), better(a.two, b.two), better(a.pair, b.pair)];
      ratios[batch] = { one: one.imagesPerSecond / s1.imagesPerSecond, two: two.imagesPerSecond / s1.imagesPerSecond, pair: pair.imagesPerSecond / s1.imagesPerSecond };
      rows.push(
        row(`batch ${batch}: facefill train (1 process)`, s1, s1),
        row(`batch ${batch}: coordinator + 1 worker`, one, s1),
        row(`batch ${batch}: coordinator + 2 workers (${batch / 2} each)`, two, s1),
        row(`batch ${batch}: 2 bare facefill train (${batch / 2} each, no ring)`, pair, s1),
      );
    }
    return {
      title: `orchestrated workers against one \`facefill train\` process, preset default, ${STEPS} steps (better of 2 interleaved runs per batch)`,
      columns: ['run', 'img/s', 'ratio to train', 'step ms', 'data ms', 'D compute ms', 'D reduce ms', 'G compute ms', 'G reduce ms', 'apply ms', 'rank 0 loop CPU ms/step', 'coordinator training CPU ms/step'],
      rows,
      notes: [
        'step .. apply: mean wall ms per step of rank 0 (or the process), from its last log line; the phases are of the step alone (the loop between steps, checkpoints included, is not in them);',
        'rank 0 loop CPU: the process\'s CPU time (all threads: main, libuv, ZeroMQ I/O) over its training loop, per step; coordinator training CPU: the coordinator\'s, from its first ring\'s start to the run\'s end (the final merge included), per step.',
        '2 bare facefill train: two processes at once on half the batch each, no coordinator and no ring (their img/s summed; phases and CPU of the first): the ceiling two workers have on this host.',
        `1 orchestrated worker / facefill train at batch 16: ${ratios[16].one.toFixed(3)} (target >= 0.95); 2 workers / facefill train at batch 32: ${ratios[32].two.toFixed(3)} (target >= 1.7; 2 bare processes reach ${ratios[32].pair.toFixed(3)})`,
        `summary: one_worker_over_train_b16=${ratios[16].one.toFixed(3)} two_workers_over_one_b16=${ratios[16].two.toFixed(3)} two_workers_over_one_b32=${ratios[32].two.toFixed(3)} bare_pair_over_one_b32=${ratios[32].pair.toFixed(3)} two_workers_over_bare_pair_b32=${(ratios[32].two / ratios[32].pair).toFixed(3)}`,
      ],
    };
  },
};
