import { homedir } from 'node:os';
import { join } from 'node:path';
import { selectComputeBackend } from '../shared/backend/compute-device';
import { tfjsBackendProbe } from '../shared/backend/tfjs-probe';
import type { BackendName } from '../shared/config';
import type { Logger } from '../shared/log';
import { createRegistry, serveMetrics } from '../shared/metrics/registry';
import { processCpuSeconds } from '../shared/util/cpu-seconds';
import { localAddressTowards, runWorker, type WorkerOutcome } from '../worker/agent';
import type { CoordinatorLink } from './control-security';

/** Where workers keep downloaded datasets and rank 0's checkpoints unless told otherwise. */
export const DEFAULT_WORK_DIR = join(homedir(), '.cache', 'facefill');

/** Default port of a worker's /metrics (`facefill workers` gives the next ones to the others). */
export const DEFAULT_WORKER_METRICS_PORT = 9401;

/** What `facefill worker` needs once its flags are parsed. */
export interface WorkerCommandOptions {
  /** The coordinator's address and how to reach it securely. */
  link: CoordinatorLink;
  gpu: number;
  backend: 'auto' | BackendName;
  /** With a GPU: compute on the CPU (with a warning) rather than exit when tfjs-node-gpu cannot use it. */
  allowCpuFallback: boolean;
  workDir: string;
  data?: string;
  host?: string;
  dataPort: number;
  registerTimeoutSeconds: number;
  /** Port of this worker's /metrics (0: any free one). */
  metricsPort: number;
  /** Fault injection: this worker's D gradient is NaN at these 0-based steps. */
  nanGradientSteps?: ReadonlySet<number>;
  log: Logger;
}

/**
 * Runs `facefill worker`: one rank of the coordinator's run, until the run ends or fails. A worker
 * started for a GPU first makes sure it computes on it (see `selectComputeBackend`).
 */
export async function runWorkerCommand(o: WorkerCommandOptions): Promise<WorkerOutcome> {
  // First of all, before anything listens or registers: a worker whose GPU cannot be used says so within seconds.
  const backend = await selectComputeBackend({ preference: o.backend, gpu: o.gpu, allowCpuFallback: o.allowCpuFallback, probe: tfjsBackendProbe(o.log), log: o.log });
  // Every socket of the worker (ring, metrics) listens on the address it advertises, not on every interface.
  const host = o.host ?? (await localAddressTowards(o.link.address));
  const registry = createRegistry();
  const metrics = await serveMetrics(registry, host, o.metricsPort);
  o.log.info({ port: metrics.port }, `metrics on ${host}:${metrics.port}/metrics`);
  // SIGTERM (a scheduler, `facefill workers`) or Ctrl-C: leave the ring and tell the coordinator why.
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => abort.abort(`received ${signal}`);
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  const outcome = await runWorker({
    signal: abort.signal,
    coordinator: o.link.address,
    security: o.link.security,
    gpu: o.gpu,
    backend,
    workDir: o.workDir,
    dataDir: o.data,
    host,
    dataPort: o.dataPort,
    registerTimeoutMs: o.registerTimeoutSeconds * 1000,
    nanGradientSteps: o.nanGradientSteps,
    registry,
    log: o.log,
  }).finally(() => {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    return metrics.close();
  });
  const s = outcome.summary;
  o.log.info(
    { runId: outcome.runId, rank: outcome.rank, steps: s.stepsRun, imagesPerSecond: Number(s.imagesPerSecond.toFixed(1)), cpuSeconds: processCpuSeconds(), loopCpuSeconds: s.cpuSeconds, phaseSeconds: s.phaseSeconds },
    `rank ${outcome.rank} of ${outcome.worldSize} finished run ${outcome.runId}`,
  );
  return outcome;
}
