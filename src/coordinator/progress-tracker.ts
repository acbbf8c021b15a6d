import type { RunConfig } from '../shared/config';
import type { Logger } from '../shared/log';
import type { CollapseMetrics } from '../shared/metrics/collapse-metrics';
import { CollapseDetector, collapseSample } from '../shared/monitor/collapse-detector';
import type { ProbeResult, StepResult } from '../shared/train/api';
import type { CollapseView, RunView } from './api';

/** A fault the progress reports show, for the recovery policy. */
export type ProgressFault =
  | { kind: 'collapse'; step: number; reason: string }
  | { kind: 'nonfinite'; step: number; streak: number; what: string };

/**
 * What rank 0's every-step reports tell the coordinator: the latest losses and probe, the
 * run's throughput, the mode-collapse detector's verdicts, and streaks of steps skipped for
 * non-finite values. Every rank skips the same steps, so rank 0's count is the ring's.
 */
export class ProgressTracker {
  private lastReport: RunView['lastReport'] = null;
  private probe: ProbeResult | null = null;
  private readonly detector: CollapseDetector;
  private collapse: CollapseView = { collapsed: false, score: 0, reason: '', diversityRatio: null, events: 0 };
  private imagesPerSecond = 0;
  private skippedInARow = 0;

  constructor(
    private readonly config: RunConfig,
    private readonly log: Logger,
    private readonly metrics?: CollapseMetrics,
  ) {
    this.detector = new CollapseDetector(config.monitor);
  }

  /** Takes rank 0's report of step `result.step` on `worldSize` ranks; returns a fault to act on, if any. */
  follow(result: StepResult, images: number, probe: ProbeResult | null, worldSize: number, steps: number): ProgressFault | null {
    this.lastReport = { ...result, rank: 0, images };
    const done = result.step + 1;
    if (result.skipped) {
      this.skippedInARow++;
      this.log.warn({ step: done, inARow: this.skippedInARow }, `step ${done} skipped: ${result.skipped}`);
      return { kind: 'nonfinite', step: done, streak: this.skippedInARow, what: result.skipped };
    }
    this.skippedInARow = 0;
    const rate = (images * worldSize) / Math.max(result.seconds.total, 1e-9);
    this.imagesPerSecond = this.imagesPerSecond === 0 ? rate : 0.8 * this.imagesPerSecond + 0.2 * rate;
    const { gLoss, dLossReal, dLossFake, seconds } = result;
    const line = { gLoss, dLossReal, dLossFake, reduceSeconds: seconds.dReduce + seconds.gReduce, imagesPerSecond: Number(this.imagesPerSecond.toFixed(1)) };
    // Every `logEvery` steps for the operator; every step at debug level, for a bench that times each one.
    if (done % this.config.train.logEvery === 0) this.log.info(line, `step ${done}/${steps}`);
    else this.log.debug(line, `step ${done}/${steps}`);
    if (probe) this.probe = probe;
    const v = this.detector.update(collapseSample(result, this.config.loss, done, probe?.diversityRatio ?? null));
    this.collapse = { collapsed: v.collapsed, score: v.score, reason: v.reason, diversityRatio: v.diversityRatio, events: this.collapse.events + (v.event ? 1 : 0) };
    this.metrics?.update(v);
    return v.event ? { kind: 'collapse', step: done, reason: v.reason } : null;
  }

  /** Starts judging afresh (after a rollback: the detector's window and the skip streak). */
  reset(): void {
    this.detector.reset();
    this.skippedInARow = 0;
    this.collapse = { ...this.collapse, collapsed: false, score: 0, reason: '' };
  }

  /** Whether the detector judges the run collapsed now. */
  get collapsed(): boolean {
    return this.collapse.collapsed;
  }

  /** What `status` shows of the run's progress. */
  view(): Pick<RunView, 'lastReport' | 'imagesPerSecond' | 'collapse' | 'probe'> {
    return { lastReport: this.lastReport, imagesPerSecond: this.imagesPerSecond, collapse: this.collapse, probe: this.probe };
  }
}
