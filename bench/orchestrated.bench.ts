import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ingest } from '../src/shared/data/ingest';
import { SyntheticSource } from '../src/shared/data/synthetic-source';
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

const rate = (lines: LogLine[], msg: RegExp): number => {
  const line = lines.find((l) => l.msg !== undefined && msg.test(l.msg) && l.imagesPerSecond !== undefined);
  if (!line?.imagesPerSecond) throw new Error(`no '${msg.source}' log line with images/s`);
  return line.imagesPerSecond;
};

/**
 * Images/s of the same training (preset `default`, global batch 16, 16 steps, on the backend
 * `auto` picks) as one `facefill train` process and as a run of orchestrated workers (a
 * coordinator and 1 or 2 `facefill worker` processes: heartbeats, step reports, the ring, the
 * merged checkpoint). Both measure the same span, the training loop from its first step to its
 * last checkpoint. Each case runs twice, interleaved, and its better run counts.
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
    const single = async (config: string) => rate(await cli(['train', '--config', config, '--data', data, '--out', join(root, `single-${runs++}`), '--no-progress']), /^trained steps/);
    const cluster = async (config: string, workers: number) => {
      const port = await freePort();
      const out = join(root, `cluster-${runs++}`);
      const { joinFile } = await makeRunCredentials(out, `127.0.0.1:${port}`);
      const coordinator = cli(['coordinator', '--config', config, '--data', data, '--workers', String(workers), '--port', String(port), '--bind', '127.0.0.1', '--out', out, '--exit-when-done', '--no-progress', '--metrics-port', '0']);
      const ranks = Array.from({ length: workers }, (_, i) =>
        cli(['worker', '--join', joinFile, '--data', data, '--work-dir', join(out, `w${i}`), '--metrics-port', '0']),
      );
      const [rank0] = await Promise.all(ranks);
      await coordinator;
      // The ranks step in lockstep, and a worker counts global-batch images: rank 0's rate is the run's.
      return rate(rank0, /^rank 0 of/);
    };
    const rows: (string | number)[][] = [];
    const ratios: Record<number, { one: number; two: number }> = {};
    for (const batch of BATCHES) {
      const config = configOf(batch);
      const best = { single: 0, one: 0, two: 0 };
      for (let rep = 0; rep < 2; rep++) {
        best.single = Math.max(best.single, await single(config));
        best.one = Math.max(best.one, await cluster(config, 1));
        best.two = Math.max(best.two, await cluster(config, 2));
      }
      ratios[batch] = { one: best.one / best.single, two: best.two / best.single };
      rows.push(
        [`batch ${batch}: facefill train (1 process)`, best.single, 1],
        [`batch ${batch}: coordinator + 1 worker`, best.one, best.one / best.single],
        [`batch ${batch}: coordinator + 2 workers (${batch / 2} each)`, best.two, best.two / best.single],
      );
    }
    return {
      title: `orchestrated workers against one \`facefill train\` process, preset default, ${STEPS} steps (better of 2 interleaved runs per batch)`,
      columns: ['run', 'img/s', 'ratio to train'],
      rows,
      notes: [
        `1 orchestrated worker / facefill train at batch 16: ${ratios[16].one.toFixed(3)} (target >= 0.95); 2 workers / facefill train at batch 32: ${ratios[32].two.toFixed(3)} (target >= 1.7)`,
        `summary: one_worker_over_train_b16=${ratios[16].one.toFixed(3)} two_workers_over_one_b16=${ratios[16].two.toFixed(3)} two_workers_over_one_b32=${ratios[32].two.toFixed(3)}`,
      ],
    };
  },
};
