import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunView } from '../coordinator/api';
import { resolveConfig } from '../shared/config';
import { ControlClient } from '../shared/control/client';
import { MANIFEST_FILE } from '../shared/data/manifest';
import { RunStoppedError } from '../shared/errors';
import { type EvalReport, formatEvalTable } from '../shared/eval/evaluate';
import type { Logger } from '../shared/log';
import { JOIN_FILE } from '../shared/security/join-file';
import { planWorkers } from '../worker/launch-plan';
import { describeSlotEnd, superviseWorkers } from '../worker/supervisor';
import { coordinatorLink } from './control-security';
import { runCoordinator } from './coordinator';
import { runEval } from './eval';
import { runIngest } from './ingest';
import { runPull } from './pull';
import { DEFAULT_MAX_RESTARTS, restartPolicy, workerLaunch } from './workers';

/** Options of `facefill demo` (what `npm start` runs). */
export interface DemoOptions {
  out: string;
  /** Generated faces to ingest on the first run. */
  images: number;
  steps: number;
  /** Global batch, split across the workers. */
  batchSize: number;
  /** CPU worker processes. */
  workers: number;
  progress: boolean;
  log: Logger;
}

/** Where the demo left its results. */
export interface DemoResult {
  /** The coordinator's run folder (merged checkpoints, run.json). */
  run: string;
  /** The merged checkpoint pulled from the coordinator. */
  checkpoint: string;
  samples: string;
  report: EvalReport;
}

/**
 * The end-to-end demo on the built-in generated faces, as a cluster on this machine: ingest the
 * faces (first run only), start a coordinator and `workers` CPU worker processes that train the
 * `default` preset briefly with all-reduced gradients, pull the merged checkpoint as a user
 * would, evaluate it against the baselines on the test split, and write a PNG of restored
 * samples. Every run is a new run folder under `out`.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { log } = options;
  const out = resolve(options.out);
  const data = join(out, 'data');
  if (!existsSync(join(data, MANIFEST_FILE))) {
    await runIngest({ source: `synthetic:${options.images}`, out: data, size: 64, progress: options.progress, log });
  }
  // With progress bars, info lines would tear them; warnings and errors still show.
  const quiet = options.progress ? log.child({}, { level: 'warn' }) : log;
  const config = resolveConfig({
    preset: 'default',
    overrides: { data: { batchSize: options.batchSize }, train: { steps: options.steps, checkpointEvery: options.steps } },
  });
  const run = join(out, `run-${new Date().toISOString().replace(/[-:]|\.\d+Z$/g, '').replace('T', '-')}`);

  let listening: (port: number) => void = () => undefined;
  const port = new Promise<number>((r) => (listening = r));
  const coordinator = runCoordinator({
    config,
    data,
    workers: options.workers,
    listen: '127.0.0.1:0',
    advertise: '127.0.0.1',
    // Secure, as every run is by default: the run's own CA and token, and a join file for the workers.
    security: {},
    metrics: { host: '127.0.0.1', port: 0 },
    out: run,
    exitWhenDone: false,
    failureLingerSeconds: 0,
    progress: options.progress,
    log: quiet,
    onListening: listening,
  });
  await Promise.race([port, coordinator.then(failedEarly)]);
  const joinFile = join(run, JOIN_FILE);
  const link = await coordinatorLink({ join: joinFile }, log);
  const launches = planWorkers({ cpu: options.workers }, []).map((slot) => {
    const launch = workerLaunch(slot, { join: joinFile }, ['--data', data, '--work-dir', join(out, 'workers'), '--backend', config.backend, '--metrics-port', '0']);
    return { ...launch, env: { ...launch.env, FACEFILL_LOG_LEVEL: 'warn' } };
  });
  const exits = await superviseWorkers(launches, { graceMs: 5_000, restarts: restartPolicy(DEFAULT_MAX_RESTARTS), log: quiet });
  const client = new ControlClient(link.address, link.security);
  try {
    // Workers leave only after the coordinator took their last report, so the run is over.
    const failed = exits.filter((e) => e.why !== 'finished');
    const status = await client.status(5_000).catch(() => null);
    if (failed.length > 0 || status?.state !== 'finished') {
      const why = failed.length > 0 ? failed.map((e) => `worker ${describeSlotEnd(e)}`).join('; ') : `the run is ${status?.state ?? 'unreachable'}`;
      throw new RunStoppedError(`the demo run failed: ${status?.error || why}`);
    }
    const checkpoint = join(run, 'pulled');
    await runPull({ link, out: checkpoint, step: 0, timeoutMs: 120_000, log });
  } finally {
    await client.shutdown('demo finished', 5_000).catch(() => undefined);
    client.close();
  }
  const view = await coordinator;
  if (view.state !== 'finished') throw new RunStoppedError(`the demo run ${view.state}: ${view.error}`);

  const checkpoint = join(run, 'pulled');
  const samples = join(out, 'restored-samples.png');
  const report = await runEval({ checkpoint, data, split: 'test', masks: 'eyes,lower,box,strokes', seed: 1, limit: 200, grid: samples, backend: config.backend, log });
  console.log(`\n${formatEvalTable(report)}\n`);
  console.log(`run (coordinator): ${run}  (${options.workers} workers, ${view.imagesPerSecond.toFixed(1)} img/s)`);
  console.log(`merged checkpoint: ${checkpoint}`);
  console.log(`restored samples:  ${samples}  (occluded | restored | original)`);
  console.log(`try:               facefill restore --checkpoint ${checkpoint} --input <face.jpg> --mask eyes --out restored.png`);
  return { run, checkpoint, samples, report };
}

function failedEarly(view: RunView): never {
  throw new RunStoppedError(`the coordinator stopped before workers could join: ${view.error}`);
}
