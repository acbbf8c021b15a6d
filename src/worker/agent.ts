import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegisterReply__Output } from '../generated/facefill/v1/RegisterReply';
import { selectBackend } from '../shared/backend/select';
import { type RingAllReduceOptions, ZmqTransport } from '../shared/collective';
import { type BackendName, type RunConfig, validateConfig } from '../shared/config';
import { ControlClient } from '../shared/control/client';
import { readFilePieces, writeFilePieces } from '../shared/control/file-transfer';
import { type DatasetPlan, toStepReport } from '../shared/control/wire';
import { loadSplit } from '../shared/data/dataset';
import { ConfigInvalidError, ProtocolViolationError, RunStoppedError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { CollectiveMetrics } from '../shared/metrics/collective-metrics';
import { TrainingMetrics } from '../shared/metrics/training-metrics';
import type { FaceSet } from '../shared/data/api';
import { ValidationProbe } from '../shared/monitor/validation-probe';
import type { ProbeResult, StepResult } from '../shared/train/api';
import { type CheckpointContent, checkpointFiles, installCheckpoint, saveCheckpoint } from '../shared/train/checkpoint';
import { type TrainingSummary, trainOnFaceSet } from '../shared/train/train-loop';
import { obtainDataset } from './dataset-sync';
import { HeartbeatLoop } from './heartbeat';
import { ringReplica } from './ring-replica';

/** How a worker joins a run. */
export interface WorkerOptions {
  /** The coordinator's control address, host:port. */
  coordinator: string;
  /** GPU ordinal this worker runs on (as CUDA_VISIBLE_DEVICES names it), -1 on CPU. */
  gpu: number;
  backend: 'auto' | BackendName;
  /** Downloaded datasets (reused across runs) and rank 0's checkpoints go here. */
  workDir: string;
  /** A local copy of the dataset (shared filesystem), used when it is the run's. */
  dataDir?: string;
  /** Address the other workers reach this one at; default: this host's address towards the coordinator. */
  host?: string;
  /** tcp port for all-reduce messages; 0 picks a free one. */
  dataPort: number;
  /** Bound on registering (the coordinator may start later, the rendezvous may take a while). */
  registerTimeoutMs: number;
  log: Logger;
  /** Where the worker's training and all-reduce metrics go (served by the caller). */
  registry?: Registry;
  /** Aborting stops the worker at once (SIGTERM); the coordinator is told why. */
  signal?: AbortSignal;
}

/** How a worker's part of a run went. */
export interface WorkerOutcome {
  runId: string;
  rank: number;
  worldSize: number;
  summary: TrainingSummary;
}

// Short bounds for calls the training loop waits on, and a long one for bulk transfers.
const CALL_TIMEOUT_MS = 15_000;
const TRANSFER_TIMEOUT_MS = 30 * 60_000;

/**
 * One rank of a synchronous data-parallel run: registers with the coordinator, gets the
 * dataset, joins the ZeroMQ ring, starts from rank 0's weights, trains its shard of every
 * global batch with gradients all-reduced, heartbeats and reports, and at checkpoints averages
 * the batch-norm statistics, reports its weights' digest and (rank 0) uploads the checkpoint.
 * Any failure (its own, a peer's, the coordinator's stop) ends it with an error naming the
 * cause; the coordinator hears of its own failures before it exits.
 */
export async function runWorker(o: WorkerOptions): Promise<WorkerOutcome> {
  const backend = await selectBackend(o.backend, o.log);
  const host = o.host ?? (await localAddressTowards(o.coordinator));
  // A rollback ends the ring: register again and resume, in a new ring, from its checkpoint.
  // The coordinator bounds how often (monitor rollbacks), and every registration is bounded.
  // Registered once: a metric family belongs to the process, whichever ring it is in.
  const metrics = o.registry ? { training: new TrainingMetrics(o.registry), collective: new CollectiveMetrics(o.registry) } : null;
  metrics?.training.setBackend(backend.name);
  for (;;) {
    const outcome = await joinRing(o, backend.name, host, metrics);
    if (outcome !== ROLLED_BACK) return outcome;
    o.log.warn('the run rolled back to an earlier checkpoint: registering again');
  }
}

const ROLLED_BACK = Symbol('rolled back');

// One ring incarnation of the run: register, train (from the start or from the rollback
// checkpoint the coordinator names), and end finished, failed, or rolled back.
async function joinRing(
  o: WorkerOptions,
  backendName: string,
  host: string,
  metrics: { training: TrainingMetrics; collective: CollectiveMetrics } | null,
): Promise<WorkerOutcome | typeof ROLLED_BACK> {
  const { log } = o;
  const listener = await ZmqTransport.listen({
    bind: [`tcp://0.0.0.0:${o.dataPort}`, `ipc://${join(tmpdir(), `facefill-${process.pid}-${randomBytes(3).toString('hex')}.sock`)}`],
    log,
  });
  const [tcpBound, ipcEndpoint] = listener.endpoints;
  const dataEndpoint = `tcp://${host}:${tcpBound.slice(tcpBound.lastIndexOf(':') + 1)}`;
  const client = new ControlClient(o.coordinator);
  let reply: RegisterReply__Output;
  try {
    log.info({ coordinator: o.coordinator, dataEndpoint }, `registering with ${o.coordinator}`);
    const registered = client.register({ host, gpu: o.gpu, backend: backendName, dataEndpoint, ipcEndpoint, pid: process.pid }, o.registerTimeoutMs);
    reply = await Promise.race([registered, abortion(o.signal)]);
  } catch (err) {
    listener.close();
    client.close();
    throw err;
  }
  const { runId, rank, worldSize, right } = reply;
  let config: RunConfig;
  try {
    config = validateConfig(JSON.parse(reply.configJson) as unknown, `the config of run ${runId}`);
    if (!right || !reply.shardPlan) throw new ProtocolViolationError(`run ${runId}: the coordinator's reply lacks the ring or the shard plan`);
  } catch (err) {
    listener.close();
    client.close();
    throw err;
  }
  const sameHost = right.host === host && config.cluster.sameHostTransport === 'ipc' && right.ipcEndpoint !== '';
  const transport = listener.place(rank, worldSize);
  transport.connect(sameHost ? right.ipcEndpoint : right.dataEndpoint);
  log.info({ runId, rank, worldSize, right: sameHost ? right.ipcEndpoint : right.dataEndpoint }, `rank ${rank} of ${worldSize} in run ${runId}`);

  let step = reply.startStep;
  let stopReason: string | null = null;
  let stoppedHere = false;
  let rolledBack = false;
  const stop = (reason: string) => {
    stopReason ??= reason;
    // Closing the ring ends a wait on a peer at once instead of at the collective timeout.
    void transport.close();
  };
  const onAbort = () => {
    stoppedHere = stopReason === null;
    stop(String(o.signal?.reason ?? 'aborted'));
  };
  // A rollback ends this ring unless something else stopped it first (heard once or twice:
  // by a report's answer and by a heartbeat).
  const rollBack = (reason: string) => {
    if (stopReason === null) rolledBack = true;
    stop(`the run rolled back: ${reason}`);
  };
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const heartbeat = new HeartbeatLoop({
    client,
    runId,
    rank,
    intervalMs: config.cluster.heartbeatSeconds * 1000,
    timeoutMs: config.cluster.heartbeatTimeoutSeconds * 1000,
    step: () => step,
    onStop: stop,
    onRollback: rollBack,
    log,
  });
  heartbeat.start();
  try {
    const plan: DatasetPlan = { manifestSha256: reply.shardPlan.manifestSha256, files: reply.shardPlan.files };
    const outDir = join(o.workDir, 'runs', runId);
    if (reply.startStep > 0) await fetchCheckpoint(client, reply.startStep, outDir);
    const dataDir = await obtainDataset({ plan, runId, client, localDir: o.dataDir, cacheDir: join(o.workDir, 'datasets'), timeoutMs: TRANSFER_TIMEOUT_MS, log });
    const set = await loadSplit(dataDir, 'train');
    // Rank 0 probes the generator on held-out faces; the result rides on its next step report.
    const probe = rank === 0 && config.monitor.probeEvery > 0 ? new ValidationProbe(await probeSet(dataDir, set), config) : null;
    let pendingProbe: ProbeResult | null = null;
    const collective: RingAllReduceOptions = {
      transport,
      run: `${runId}/0`,
      timeoutMs: config.cluster.collectiveTimeoutSeconds * 1000,
      chunkBytes: config.cluster.chunkBytes,
    };
    // A checkpoint's digest must arrive (the merge waits for it); a progress report may be
    // lost to a blip: the heartbeat timeout, not one failed call, decides the coordinator is gone.
    const report = async (result: StepResult, weightsSha256 = '') => {
      const images = reply.shardPlan?.perRankBatch ?? 0;
      // The probe rides on progress reports (the ones the collapse detector reads), not on digests.
      const probe = weightsSha256 === '' ? pendingProbe : null;
      if (probe) pendingProbe = null;
      const sent = client.reportStep(toStepReport({ runId, rank, result, images, weightsSha256, probe }), CALL_TIMEOUT_MS);
      const ack = weightsSha256 !== '' ? await sent : await sent.catch((err: Error) => (log.warn(`step report lost: ${err.message}`), null));
      // The same words as a heartbeat's stop, whichever of the two hears it first.
      if (ack?.action === 'STOP') stop(`the coordinator stopped the run: ${ack.reason}`);
      if (ack?.action === 'ROLLBACK') rollBack(ack.reason);
    };
    let last: StepResult | null = null;
    const publish = async (content: CheckpointContent, digest: string) => {
      const dir = rank === 0 ? await uploadCheckpoint(client, runId, outDir, content) : null;
      if (last) await report(last, digest);
      return dir;
    };
    const ring = ringReplica(collective, publish, config.cluster.rendezvousTimeoutSeconds * 1000);
    const training = metrics?.training;
    const replica = metrics ? { ...ring, reduce: metrics.collective.instrument(ring.reduce) } : ring;
    const summary = await trainOnFaceSet({
      config,
      set,
      manifestHash: plan.manifestSha256,
      outDir,
      resume: reply.startStep > 0,
      replica,
      monitor: probe
        ? {
            probe,
            onProbe: (r) => {
              pendingProbe = r;
              training?.validation(r.holePsnrDb, r.ssim);
            },
          }
        : undefined,
      log,
      onStep: async (result, epoch) => {
        if (stopReason) throw new RunStoppedError(stopReason);
        last = result;
        step = result.step + 1;
        training?.observe(result, epoch, config.data.batchSize / worldSize, config.data.batchSize);
        // Rank 0 reports every step: the coordinator's progress and collapse detector follow it.
        if (rank === 0 || step % config.train.logEvery === 0) await report(result);
      },
    });
    heartbeat.stop();
    const finished = await client.heartbeat({ runId, rank, step, state: 'finished', error: '' }, CALL_TIMEOUT_MS);
    return finished.action === 'ROLLBACK' ? ROLLED_BACK : { runId, rank, worldSize, summary };
  } catch (err) {
    heartbeat.stop();
    if (rolledBack) return ROLLED_BACK;
    const cause = err as Error;
    const error = stopReason ? new RunStoppedError(`rank ${rank} stopped: ${stopReason}`, { cause }) : cause;
    if (stopReason === null || stoppedHere) {
      // Tell the coordinator first, so the other ranks stop at once rather than time out. A
      // failure of a ring the run already rolled back from (say, an upload it refused) is no failure.
      const told = await client.heartbeat({ runId, rank, step, state: 'failed', error: error.message }, 5_000).catch(() => null);
      if (told?.action === 'ROLLBACK') return ROLLED_BACK;
    }
    throw error;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await transport.close();
    client.close();
  }
}

// The val split when it has faces enough for a probe, else the train split.
async function probeSet(dataDir: string, train: FaceSet): Promise<FaceSet> {
  const val = await loadSplit(dataDir, 'val');
  return val.count >= 2 ? val : train;
}

// The checkpoint a rolled-back run resumes from, downloaded (verified) into this ring's run folder.
async function fetchCheckpoint(client: ControlClient, step: number, outDir: string): Promise<void> {
  const incoming = join(outDir, `.incoming-step-${step}`);
  await writeFilePieces(incoming, client.downloadCheckpoint(step, TRANSFER_TIMEOUT_MS));
  await installCheckpoint(outDir, incoming);
}

async function uploadCheckpoint(client: ControlClient, runId: string, runDir: string, content: CheckpointContent): Promise<string> {
  const dir = await saveCheckpoint(runDir, content);
  const files = await checkpointFiles(dir);
  async function* pieces() {
    for (const name of files) yield* readFilePieces(dir, name);
  }
  await client.uploadCheckpoint({ runId, rank: 0, step: content.step }, pieces(), TRANSFER_TIMEOUT_MS);
  return dir;
}

// Rejects when `signal` aborts (never without one): a worker waiting in the rendezvous stops at once.
function abortion(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(new RunStoppedError(`stopped before the run began: ${String(signal?.reason)}`));
    if (signal?.aborted) fail();
    signal?.addEventListener('abort', fail, { once: true });
  });
}

/** The address of this host's interface that routes to the coordinator (no packet is sent). */
export async function localAddressTowards(coordinator: string): Promise<string> {
  const at = coordinator.lastIndexOf(':');
  const host = (at > 0 ? coordinator.slice(0, at) : coordinator).replace(/^\[|\]$/g, '');
  const port = at > 0 ? Number(coordinator.slice(at + 1)) : 80;
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, host, () => resolve());
    });
    return socket.address().address;
  } catch (err) {
    throw new ConfigInvalidError(`cannot find this host's address towards the coordinator ${coordinator} (${(err as Error).message}); pass --host`);
  } finally {
    socket.close();
  }
}
