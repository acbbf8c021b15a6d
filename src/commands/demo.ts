import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { resolveConfig } from '../shared/config';
import { MANIFEST_FILE } from '../shared/data/manifest';
import { type EvalReport, formatEvalTable } from '../shared/eval/evaluate';
import type { Logger } from '../shared/log';
import { runEval } from './eval';
import { runIngest } from './ingest';
import { runTrain } from './train';

/** Options of `facefill demo` (what `npm start` runs). */
export interface DemoOptions {
  out: string;
  /** Generated faces to ingest on the first run. */
  images: number;
  steps: number;
  batchSize: number;
  progress: boolean;
  log: Logger;
}

/** Where the demo left its results. */
export interface DemoResult {
  checkpoint: string;
  samples: string;
  report: EvalReport;
}

/**
 * The end-to-end demo on the built-in generated faces: ingest them (first run only), train
 * the `default` preset briefly (a later run continues the same run), evaluate it against the
 * baselines on the test split, and write a PNG of restored samples.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const out = resolve(options.out);
  const data = join(out, 'data');
  const run = join(out, 'run');
  if (!existsSync(join(data, MANIFEST_FILE))) {
    await runIngest({ source: `synthetic:${options.images}`, out: data, size: 64, progress: options.progress, log: options.log });
  }
  const config = resolveConfig({
    preset: 'default',
    overrides: { data: { batchSize: options.batchSize }, train: { steps: options.steps, checkpointEvery: options.steps } },
  });
  const summary = await runTrain({ config, data, out: run, resume: true, progress: options.progress });
  const samples = join(out, 'restored-samples.png');
  const report = await runEval({
    checkpoint: run,
    data,
    split: 'test',
    masks: 'eyes,lower,box,strokes',
    seed: 1,
    limit: 200,
    grid: samples,
    backend: config.backend,
    log: options.log,
  });
  console.log(`\n${formatEvalTable(report)}\n`);
  const checkpoint = summary.checkpoint ?? run;
  console.log(`checkpoint:       ${checkpoint}`);
  console.log(`restored samples: ${samples}  (occluded | restored | original)`);
  console.log(`try:              facefill restore --checkpoint ${run} --input <face.jpg> --mask eyes --out restored.png`);
  return { checkpoint, samples, report };
}
