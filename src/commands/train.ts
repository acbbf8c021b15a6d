import { selectBackend } from '../shared/backend/select';
import type { RunConfig } from '../shared/config';
import type { FaceSet } from '../shared/data/api';
import { loadSplit } from '../shared/data/dataset';
import { manifestHash } from '../shared/data/manifest';
import { createLogger, type Logger } from '../shared/log';
import { CollapseMetrics } from '../shared/metrics/collapse-metrics';
import { RecoveryMetrics } from '../shared/metrics/recovery-metrics';
import { createRegistry, type MetricsServer, serveMetrics } from '../shared/metrics/registry';
import { TrainingMetrics } from '../shared/metrics/training-metrics';
import { ValidationProbe } from '../shared/monitor/validation-probe';
import { type TrainingSummary, trainOnFaceSet } from '../shared/train/train-loop';
import { processCpuSeconds } from '../shared/util/cpu-seconds';
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
  /** Serve Prometheus metrics at :port/metrics while training (0: any free port); none when unset. */
  metricsPort?: number;
}

/**
 * Runs `facefill train`: selects the tensor backend, trains (single process) with a
 * progress bar or periodic log lines on stderr, watched for mode collapse (the validation
 * probe on the val split, `monitor.collapseAction` on a collapse), optionally serving
 * /metrics, and prints where the checkpoint is.
 */
export async function runTrain(options: TrainCommandOptions): Promise<TrainingSummary> {
  const { config } = options;
  const log = createLogger('train');
  const backend = await selectBackend(config.backend, log);
  const set = await loadSplit(options.data, 'train');
  const probe = await probeFor(options.data, set, config, log);
  const metrics = options.metricsPort === undefined ? null : await startMetrics(options.metricsPort, backend.name, log);
  const bar = options.progress ? new TrainingProgressBar('train', config) : null;
  let summary: TrainingSummary;
  try {
    summary = await trainOnFaceSet({
      config,
      set,
      manifestHash: await manifestHash(options.data),
      outDir: options.out,
      resume: options.resume,
      // With a bar, per-step info lines would tear it; warnings (a collapse) and errors still show.
      log: bar ? log.child({}, { level: 'warn' }) : log,
      onStep: (r, epoch) => {
        bar?.update(r);
        metrics?.training.observe(r, epoch, config.data.batchSize, config.data.batchSize);
      },
      monitor: {
        probe,
        onProbe: (r) => metrics?.training.validation(r.holePsnrDb, r.ssim),
        onVerdict: (v) => metrics?.collapse.update(v),
      },
      recoveryMetrics: metrics?.recovery,
    });
  } finally {
    bar?.stop();
    await metrics?.server.close();
  }
  log.info(
    { steps: summary.stepsRun, seconds: Number(summary.seconds.toFixed(1)), imagesPerSecond: Number(summary.imagesPerSecond.toFixed(1)), cpuSeconds: processCpuSeconds(), loopCpuSeconds: summary.cpuSeconds, phaseSeconds: summary.phaseSeconds },
    `trained steps ${summary.startStep}..${summary.endStep}`,
  );
  console.log(summary.checkpoint ? `checkpoint: ${summary.checkpoint}` : 'no checkpoint written');
  return summary;
}

// The probe restores held-out faces: the val split, or the train split when val has too few.
// None when probing is off, or when the image size is wrong (the training loop reports that).
async function probeFor(dataDir: string, train: FaceSet, config: RunConfig, log: Logger): Promise<ValidationProbe | null> {
  if (config.monitor.probeEvery === 0 || train.size !== config.data.imageSize) return null;
  const val = await loadSplit(dataDir, 'val');
  const set = val.count >= 2 ? val : train;
  if (set.count < 2) {
    log.warn({ val: val.count, train: train.count }, 'too few faces for the validation probe; watching the losses only');
    return null;
  }
  if (set === train) log.warn({ val: val.count }, 'the val split has fewer than 2 faces; the validation probe uses train faces');
  return new ValidationProbe(set, config);
}

interface TrainMetricsEndpoint {
  training: TrainingMetrics;
  collapse: CollapseMetrics;
  recovery: RecoveryMetrics;
  server: MetricsServer;
}

async function startMetrics(port: number, backend: string, log: Logger): Promise<TrainMetricsEndpoint> {
  const registry = createRegistry();
  const training = new TrainingMetrics(registry);
  const collapse = new CollapseMetrics(registry);
  const recovery = new RecoveryMetrics(registry);
  training.setBackend(backend);
  const server = await serveMetrics(registry, '0.0.0.0', port);
  log.info({ port: server.port }, `metrics on :${server.port}/metrics`);
  return { training, collapse, recovery, server };
}
