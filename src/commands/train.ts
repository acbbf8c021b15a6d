import { Presets, SingleBar } from 'cli-progress';
import { selectBackend } from '../shared/backend/select';
import type { RunConfig } from '../shared/config';
import { createLogger } from '../shared/log';
import type { StepResult } from '../shared/train/api';
import { runTraining, type TrainingSummary } from '../shared/train/train-loop';

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
  const bar = options.progress ? new ProgressBar(config) : null;
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

/** The cli-progress bar of a training run; redraws at most a few times a second. */
class ProgressBar {
  private readonly bar = new SingleBar(
    {
      stream: process.stderr,
      format: 'train |{bar}| step {value}/{total} | D {d} | G {g} | {ips} img/s | ETA {eta_formatted}',
      fps: 4,
      etaBuffer: 50,
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  private started = false;
  private secondsPerStep = 0;

  constructor(private readonly config: RunConfig) {}

  update(r: StepResult): void {
    // An exponential average keeps img/s readable while steps vary in duration.
    this.secondsPerStep = this.started ? 0.9 * this.secondsPerStep + 0.1 * r.seconds.total : r.seconds.total;
    const payload = {
      d: r.dLossReal === null || r.dLossFake === null ? '-' : ((r.dLossReal + r.dLossFake) / 2).toFixed(3),
      g: r.gLoss.toFixed(3),
      ips: (this.config.data.batchSize / this.secondsPerStep).toFixed(1),
    };
    if (!this.started) {
      this.bar.start(this.config.train.steps, r.step + 1, payload);
      this.started = true;
    } else {
      this.bar.update(r.step + 1, payload);
    }
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
}
