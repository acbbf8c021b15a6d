import type * as tf from '@tensorflow/tfjs';
import type { RunConfig } from '../config';
import type { Logger } from '../log';
import type { ProbeResult, StepResult } from '../train/api';
import { CollapseDetector, type CollapseVerdict, collapseSample } from './collapse-detector';
import type { Probe } from './validation-probe';

/**
 * Mode-collapse watch of a training run. Every step's losses feed a {@link CollapseDetector};
 * every `monitor.probeEvery` steps the probe restores its fixed batch with the generator and
 * its diversity ratio feeds the detector too. When the detector turns collapsed,
 * `monitor.collapseAction` decides: 'warn' logs a warning (once per collapse), 'stop' ends
 * the run with a RunStoppedError, 'rollback' reloads the newest checkpoint this run
 * saved while healthy, multiplies D's learning rate by `rollbackLrFactor`, and trains on from
 * there (stopping instead when there is no such checkpoint). A replica takes no action and logs
 * nothing (onVerdict still gets its verdicts): stopping or rolling back one rank alone would
 * break the ring, so a distributed run's collapse is the coordinator's to judge and act on.
 * Steps given to the callbacks are steps completed.
 */
export interface TrainingMonitor {
  /** Measures the generator every `monitor.probeEvery` steps; null for the loss signal alone. */
  probe: Probe | null;
  /** Called with each probe's measures; the next step waits for it. */
  onProbe?(result: ProbeResult, step: number): void | Promise<void>;
  /** Called with the detector's verdict after every step. */
  onVerdict?(verdict: CollapseVerdict, step: number): void | Promise<void>;
  /** Called after a rollback, once the run is back at the checkpoint's step. */
  onRollback?(rollback: Rollback): void | Promise<void>;
}

/** A rollback to a healthy checkpoint after a collapse or a streak of non-finite steps. */
export interface Rollback {
  /** Steps completed when the fault was detected. */
  fromStep: number;
  /** The checkpoint's step, where training continues. */
  toStep: number;
  checkpoint: string;
  /** G's and D's learning rates from now on. */
  lrG: number;
  lrD: number;
  /** What the fault was. */
  reason: string;
}

/** The monitor's side of the training loop: probes on schedule and feeds the detector. */
export class CollapseWatch {
  private readonly detector: CollapseDetector;

  constructor(
    private readonly monitor: TrainingMonitor,
    private readonly config: RunConfig,
  ) {
    this.detector = new CollapseDetector(config.monitor);
  }

  /** Judges the run after `done` completed steps, of which `result` is the last. */
  async observe(result: StepResult, done: number, generator: tf.LayersModel, runConfig: RunConfig, log?: Logger): Promise<CollapseVerdict> {
    const { probeEvery } = this.config.monitor;
    let probed: ProbeResult | null = null;
    if (this.monitor.probe && probeEvery > 0 && done % probeEvery === 0) {
      probed = await this.monitor.probe.evaluate(generator);
      log?.info({ ...probed, step: done }, `probe at step ${done}`);
      await this.monitor.onProbe?.(probed, done);
    }
    const verdict = this.detector.update(collapseSample(result, runConfig.loss, done, probed?.diversityRatio ?? null));
    await this.monitor.onVerdict?.(verdict, done);
    return verdict;
  }

  reset(): void {
    this.detector.reset();
  }
}
