import { selectBackend } from '../shared/backend/select';
import type { RunConfig } from '../shared/config';
import { createLogger } from '../shared/log';
import { runTraining, type TrainingSummary } from '../shared/train/train-loop';
import { TrainingProgressBar } from './progress-bar';

/** What `facefill train` needs once its flags are parsed. */
export interface TrainCommandOptions {
  config: RunConfig;
  /** Ingested dataset folder. */
  data: string;
  /** Run folder (checkpoints go to `<out>/checkpoints/`). */
  out: string;
  /** Continue from the run folder's latest checkpoint. */
  resume: boolean;
  /** Show a progress bar on stderr (step, D and G losses, img/s) instead of per-step log lines. */
  progress: boolean;
}

/**
 * Runs `facefill train`: selects the tensor backend, trains (single process) with a
 * progress bar or periodic log lines on stderr, and prints where the checkpoint is.
 */
export async function runTrain(options: TrainCommandOptions): Promise<TrainingSummary> {
  const { config } = options;
  const log = createLogger('train');
  await selectBackend(config.backend, log);
  const bar = options.progress ? new TrainingProgressBar('train', config) : null;
  let summary: TrainingSummary;
  try {
    summary = await runTraining({
      config,
      dataDir: options.data,
      outDir: options.out,
      resume: options.resume,
      // With a bar, per-step info lines would tear it; warnings and errors still show.
      log: bar ? log.child({}, { level: 'warn' }) : log,
      onStep: bar ? (r) => bar.update(r) : undefined,
    });
  } finally {
    bar?.stop();
  }
  log.info(
    { steps: summary.stepsRun, seconds: Number(summary.seconds.toFixed(1)), imagesPerSecond: Number(summary.imagesPerSecond.toFixed(1)) },
    `trained steps ${summary.startStep}..${summary.endStep}`,
  );
  console.log(summary.checkpoint ? `checkpoint: ${summary.checkpoint}` : 'no checkpoint written');
  return summary;
}
