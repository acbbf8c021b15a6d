import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RunView } from '../coordinator/api';
import { Coordinator } from '../coordinator/coordinator';
import { planDataset } from '../coordinator/dataset-plan';
import { startControlServer } from '../coordinator/server';
import { CollapseMetrics } from '../shared/metrics/collapse-metrics';
import { RecoveryMetrics } from '../shared/metrics/recovery-metrics';
import { createRegistry, serveMetrics } from '../shared/metrics/registry';
import { registerRunMetrics } from '../shared/metrics/run-metrics';
import type { RunConfig } from '../shared/config';
import type { Logger } from '../shared/log';
import { sealKey } from '../shared/security/checkpoint-seal';
import { JOIN_FILE, writeJoinFile } from '../shared/security/join-file';
import { processCpuSeconds } from '../shared/util/cpu-seconds';
import { coordinatorSecurity, joinInfoFor, type ServerSecurityFlags } from './control-security';
import { TrainingProgressBar } from './progress-bar';

/** Default port of the coordinator's /metrics. */
export const DEFAULT_COORDINATOR_METRICS_PORT = 9400;

/** What `facefill coordinator` needs once its flags are parsed. */
export interface CoordinatorCommandOptions {
  config: RunConfig;
  /** Ingested dataset folder to serve. */
  data: string;
  workers: number;
  /** Control-plane address to listen on, host:port (port 0: any free port). */
  listen: string;
  /** The host workers reach this coordinator at: written in the join file (and the certificate). */
  advertise: string;
  /** TLS and the run token (the default), the user's PKI, or --insecure. */
  security: ServerSecurityFlags;
  /** Where Prometheus scrapes /metrics (port 0: any free port). */
  metrics: { host: string; port: number };
  /** Run folder: merged checkpoints and run.json. */
  out: string;
  /** Continue the run recorded in `out`. */
  resume?: boolean;
  /** Exit once the run finished instead of serving `pull` and `status` until stopped. */
  exitWhenDone: boolean;
  /** How long a failed run's coordinator keeps answering (workers' heartbeats, status, /metrics scrapes) before it exits. */
  failureLingerSeconds: number;
  progress: boolean;
  log: Logger;
  /** Told the port once listening (tests and the demo use it with port 0). */
  onListening?: (port: number, runId: string) => void;
}

/**
 * Runs the coordinator of one run: serves the control plane, waits for the workers, shows the
 * run's progress, and ends with the run. A failed run exits non-zero after the workers had a
 * chance to hear that they must stop. A finished one keeps serving (`facefill pull`,
 * `status`) until SIGINT/SIGTERM or a Shutdown call, unless `exitWhenDone`.
 */
export async function runCoordinator(o: CoordinatorCommandOptions): Promise<RunView> {
  const { config, log } = o;
  const dataset = await planDataset(o.data);
  const registry = createRegistry();
  const collapseMetrics = new CollapseMetrics(registry);
  const recoveryMetrics = new RecoveryMetrics(registry);
  if (config.cluster.ringEncryption === 'none') log.warn('cluster.ringEncryption is none: the workers\' ring is plaintext; only for a fabric no one else can reach');
  const listenHost = o.listen.slice(0, o.listen.lastIndexOf(':'));
  const { security, trust } = await coordinatorSecurity(o.security, { out: o.out, bind: listenHost, advertise: o.advertise, log });
  const coordinator = new Coordinator({
    config,
    datasetDir: o.data,
    dataset,
    worldSize: o.workers,
    outDir: o.out,
    resume: o.resume,
    log,
    collapseMetrics,
    recoveryMetrics,
    sealKey: trust ? sealKey(trust.token) : null,
  });
  registerRunMetrics(registry, () => coordinator.metricsSnapshot());
  const metrics = await serveMetrics(registry, o.metrics.host, o.metrics.port);
  const server = await startControlServer(coordinator, o.listen, security, log).catch(async (err: unknown) => {
    await metrics.close();
    throw err;
  });
  const onSignal = (signal: NodeJS.Signals) => coordinator.shutdown(`received ${signal}`);
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  const bar = o.progress ? new TrainingProgressBar('cluster', config) : null;
  const display = bar
    ? setInterval(() => {
        const v = coordinator.status();
        if (v.lastReport) bar.update(v.lastReport, v.imagesPerSecond);
      }, 500)
    : null;
  try {
    await coordinator.start();
    const address = `${o.advertise}:${server.port}`;
    const joinFile = join(o.out, JOIN_FILE);
    if (trust) await writeJoinFile(joinFile, joinInfoFor(trust, address));
    o.onListening?.(server.port, coordinator.runId);
    const command = trust ? `facefill worker --join ${joinFile}` : `facefill worker --insecure --coordinator ${address}`;
    log.info({ runId: coordinator.runId, port: server.port, metricsPort: metrics.port, out: o.out }, `listening on port ${server.port}; start ${o.workers} worker(s) with: ${command}`);
    const view = await coordinator.done;
    if (display) clearInterval(display);
    bar?.stop();
    if (view.state === 'failed') {
      // Workers learn of the failure from their next heartbeat, Prometheus from its next
      // scrape: keep answering for a while.
      await sleep(Math.max(2 * config.cluster.heartbeatSeconds * 1000 + 500, o.failureLingerSeconds * 1000));
      return view;
    }
    const checkpoint = join(o.out, view.latestCheckpoint);
    log.info({ checkpoint, imagesPerSecond: Number(view.imagesPerSecond.toFixed(1)), cpuSeconds: processCpuSeconds() }, `run ${view.runId} finished: ${checkpoint}`);
    if (!o.exitWhenDone) {
      log.info(`serving the merged checkpoint on port ${server.port} (facefill pull); Ctrl-C to stop`);
      await coordinator.shutdownRequested;
    }
    return view;
  } finally {
    if (display) clearInterval(display);
    bar?.stop();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    coordinator.close();
    await server.close();
    await metrics.close();
  }
}
