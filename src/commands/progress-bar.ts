import { Presets, SingleBar } from 'cli-progress';
import type { RunConfig } from '../shared/config';
import type { StepResult } from '../shared/train/api';

/** The cli-progress bar of a training run on stderr; redraws at most a few times a second. */
export class TrainingProgressBar {
  private readonly bar: SingleBar;
  private started = false;
  private secondsPerStep = 0;

  constructor(
    label: string,
    private readonly config: RunConfig,
  ) {
    this.bar = new SingleBar(
      {
        stream: process.stderr,
        format: `${label} |{bar}| step {value}/{total} | D {d} | G {g} | {ips} img/s | ETA {eta_formatted}`,
        fps: 4,
        etaBuffer: 50,
        hideCursor: true,
      },
      Presets.shades_classic,
    );
  }

  /** Shows step `r` done; images/s defaults to the global batch over an average step time. */
  update(r: StepResult, imagesPerSecond?: number): void {
    // An exponential average keeps img/s readable while steps vary in duration.
    this.secondsPerStep = this.started ? 0.9 * this.secondsPerStep + 0.1 * r.seconds.total : r.seconds.total;
    const payload = {
      d: r.dLossReal === null || r.dLossFake === null ? '-' : ((r.dLossReal + r.dLossFake) / 2).toFixed(3),
      g: r.gLoss.toFixed(3),
      ips: (imagesPerSecond ?? this.config.data.batchSize / this.secondsPerStep).toFixed(1),
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
