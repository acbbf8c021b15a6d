import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegisterReply__Output } from '../generated/facefill/v1/RegisterReply';
import type { RingAllReduceOptions, ZmqTransport } from '../shared/collective';
import type { RunConfig } from '../shared/config';
import type { ControlClient } from '../shared/control/client';
import { type DatasetPlan, toStepReport } from '../shared/control/wire';
import type { FaceSet } from '../shared/data/api';
import { loadSplit } from '../shared/data/dataset';
import { CollectiveError, CollectiveTimeoutError, ControlCallError, GrpcStatus, RunStoppedError } from '../shared/errors';
import type { CollectiveMetrics } from '../shared/metrics/collective-metrics';
import type { TrainingMetrics } from '../shared/metrics/training-metrics';
import { ValidationProbe } from '../shared/monitor/validation-probe';
import type { ProbeResult, StepResult } from '../shared/train/api';
import { checkpointLimits } from '../shared/train/checkpoint-limits';
import { sliceSize } from '../shared/train/shard-plan';
import { TrainingSession, type TrainingSummary } from '../shared/train/training-session';
import type { WorkerOptions } from './agent';
import { fetchCheckpoint, uploadCheckpoint } from './checkpoint-sync';
import { obtainDataset } from './dataset-sync';
import { HeartbeatLoop } from './heartbeat';
import { ringReplica } from './ring-replica';
import type { SessionEvent } from './ring-session';

// Short bounds for calls the training loop waits on, and a long one for bulk transfers.
const CALL_TIMEOUT_MS = 15_000;
const TRANSFER_TIMEOUT_MS = 30 * 60_000;

/** The ring this worker joined: its reply, and the transport placed in it. */
export interface JoinedRing {
  reply: RegisterReply__Output;
  config: RunConfig;
  transport: ZmqTransport;
}

/** What the worker keeps across ring generations. */
export interface Carried {
  runId: string;
  session: TrainingSession | null;
  data: { manifest: string; set: FaceSet; dir: string } | null;
  generations: number;
}

/** How a ring ended for this worker: an event for the session, or done with its summary. */
export type RingEnd = Exclude<SessionEvent, { kind: 'finished' | 'joined' | 'join-failed' }> | { kind: 'finished'; summary: TrainingSummary };

/**
 * Trains in one ring generation until it ends, however it ends: the coordinator's directive (a
 * regroup, a stop) through the live link, a heartbeat or a report's answer; a broken ring; a
 * lost coordinator; a signal; the worker's own failure (told to the coordinator first); or the
 * run's last step. Whatever ends it first closes the ring's transport, so no wait on a peer
 * outlasts it.
 */
export async function trainInRing(
  o: WorkerOptions,
  client: ControlClient,
  ring: JoinedRing,
  carried: Carried,
  metrics: { training: TrainingMetrics; collective: CollectiveMetrics } | null,
): Promise<RingEnd> {
  const { reply, config, transport } = ring;
  const { log } = o;
  const runId = reply.runId;
  const generation = Number(reply.generation);
  const rank = reply.rank;
  const who = { runId, generation, rank, session: reply.session };
  // The first word on why this ring ends wins; closing the transport ends any wait on a peer at once.
  let ending: RingEnd | null = null;
  const endRing = (e: RingEnd) => {
    ending ??= e;
    void transport.close();
  };
  const onDirective = (action: 'stop' | 'regroup', reason: string) =>
    endRing(action === 'stop' ? { kind: 'stop', reason: `the coordinator stopped the run: ${reason}` } : { kind: 'ring-ended', reason: `ring generation ${generation} ended: ${reason}`, nowMs: Date.now() });
  const onAbort = () => endRing({ kind: 'aborted', reason: String(o.signal?.reason ?? 'aborted') });
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  // Every answer of the coordinator (a pushed directive, a report's reply) is heard the same way.
  const hear = (d: { action: string; reason: string }): void => {
    if (d.action !== 'CONTINUE') onDirective(d.action === 'STOP' ? 'stop' : 'regroup', d.reason);
  };
  const watch = client.watch(who, hear);
  void watch.ended.then((why) => endRing({ kind: 'coordinator-lost', reason: `the live link to the coordinator ended: ${why}`, nowMs: Date.now() }));
  let step = Number(reply.startStep);
  const heartbeat = new HeartbeatLoop({
    client,
    ...who,
    intervalMs: config.cluster.heartbeatSeconds * 1000,
    timeoutMs: config.cluster.heartbeatTimeoutSeconds * 1000,
    step: () => step,
    onDirective,
    onLost: (reason) => endRing({ kind: 'coordinator-lost', reason, nowMs: Date.now() }),
    log,
  });
  heartbeat.start();
  try {
    const plan: DatasetPlan = { manifestSha256: reply.shardPlan?.manifestSha256 ?? '', files: reply.shardPlan?.files ?? [] };
    const data = await datasetOf(o, client, runId, plan, carried);
    const session = await sessionFor(o, client, reply, config, data, carried);
    const probe = rank === 0 && config.monitor.probeEvery > 0 ? new ValidationProbe(await probeSet(data.dir, data.set), config) : null;
    let pendingProbe: ProbeResult | null = null;
    const collective: RingAllReduceOptions = {
      transport,
      run: `${runId}/g${generation}`,
      timeoutMs: config.cluster.collectiveTimeoutSeconds * 1000,
      chunkBytes: config.cluster.chunkBytes,
      compression: config.cluster.compression,
    };
    // A digest must arrive (a merge or the ring's start waits for it); a progress report may be
    // lost to a blip: the heartbeat timeout, not one failed call, decides the coordinator is gone.
    const progress = async (result: StepResult, images: number) => {
      const probed = pendingProbe;
      pendingProbe = null;
      const sent = client.reportStep(toStepReport({ ...who, stepsDone: result.step + 1, kind: 'progress', result, images, probe: probed }), CALL_TIMEOUT_MS);
      const ack = await sent.catch((err: Error) => (log.warn(`step report lost: ${err.message}`), null));
      if (ack) hear(ack);
    };
    const digest = async (kind: 'checkpoint' | 'sync', stepsDone: number, sha256: string, timeoutMs: number) =>
      hear(await client.reportStep(toStepReport({ ...who, stepsDone, kind, sha256 }), timeoutMs));
    const runDir = join(o.workDir, 'runs', runId);
    const replica = ringReplica(
      collective,
      {
        publish: async (content, sha256) => {
          const dir = rank === 0 ? await uploadCheckpoint(client, who, runDir, content, TRANSFER_TIMEOUT_MS) : null;
          await digest('checkpoint', content.step, sha256, CALL_TIMEOUT_MS);
          return dir;
        },
        synced: (steps, sha256) => digest('sync', steps, sha256, Number(reply.startupTimeoutMs)),
      },
      Number(reply.startupTimeoutMs),
    );
    const images = (r: number) => sliceSize(config.data.batchSize, reply.worldSize, r);
    const summary = await session.train({
      replica: metrics ? { ...replica, reduce: metrics.collective.instrument(replica.reduce) } : replica,
      monitor: probe
        ? {
            probe,
            onProbe: (r) => {
              pendingProbe = r;
              metrics?.training.validation(r.holePsnrDb, r.ssim);
            },
          }
        : undefined,
      onStep: async (result, epoch) => {
        if (ending) throw new RunStoppedError('this ring has ended');
        step = result.step + 1;
        metrics?.training.observe(result, epoch, images(rank), config.data.batchSize);
        // Rank 0 reports every step: the coordinator's progress, stall and collapse watch follow it.
        if (rank === 0 || step % config.train.logEvery === 0) await progress(result, images(rank));
      },
    });
    heartbeat.stop();
    const finished = await client.heartbeat({ ...who, step, condition: 'FINISHED', error: '' }, CALL_TIMEOUT_MS);
    if (finished.action === 'REGROUP') return { kind: 'ring-ended', reason: finished.reason, nowMs: Date.now() };
    return { kind: 'finished', summary };
  } catch (err) {
    heartbeat.stop();
    if (ending) return ending;
    if (err instanceof CollectiveError) {
      // Say which neighbour went silent before leaving: the coordinator learns which link broke.
      const silentPeer = err instanceof CollectiveTimeoutError ? err.peer : -1;
      await client.heartbeat({ ...who, step, condition: 'LEFT', error: err.message, silentPeer }, CALL_TIMEOUT_MS).catch(() => null);
      return { kind: 'ring-ended', reason: `the ring broke: ${err.message}`, nowMs: Date.now() };
    }
    if (err instanceof ControlCallError && isTransient(err.status)) return { kind: 'coordinator-lost', reason: err.message, nowMs: Date.now() };
    const error = (err as Error).message;
    // Tell the coordinator first, so the other ranks regroup at once rather than time out.
    await client.heartbeat({ ...who, step, condition: 'FAILED', error }, 5_000).catch(() => null);
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    watch.close();
    await transport.close();
  }
}

// The run's dataset in memory, loaded once per manifest and kept across rings.
async function datasetOf(o: WorkerOptions, client: ControlClient, runId: string, plan: DatasetPlan, carried: Carried): Promise<{ set: FaceSet; dir: string; manifest: string }> {
  if (carried.data?.manifest === plan.manifestSha256) return carried.data;
  const dir = await obtainDataset({ plan, runId, client, localDir: o.dataDir, cacheDir: join(o.workDir, 'datasets'), timeoutMs: TRANSFER_TIMEOUT_MS, log: o.log });
  carried.data = { manifest: plan.manifestSha256, set: await loadSplit(dir, 'train'), dir };
  return carried.data;
}

// The training session this ring trains: the one kept from the ring before, or (rank 0 told to
// start from a merged checkpoint, or a worker new to the run) one opened afresh.
async function sessionFor(
  o: WorkerOptions,
  client: ControlClient,
  reply: RegisterReply__Output,
  config: RunConfig,
  data: { set: FaceSet; manifest: string },
  carried: Carried,
): Promise<TrainingSession> {
  const checkpoint = Number(reply.checkpointStep);
  const fromCheckpoint = checkpoint > 0 && reply.rank === 0;
  if (carried.session && !fromCheckpoint) {
    await carried.session.reconfigure(config);
    return carried.session;
  }
  carried.session?.dispose();
  carried.session = null;
  // The worker's run folder only stages uploads; a fresh session starts from a clean one.
  const runDir = join(o.workDir, 'runs', reply.runId);
  await rm(runDir, { recursive: true, force: true });
  if (fromCheckpoint) await fetchCheckpoint(client, checkpoint, runDir, TRANSFER_TIMEOUT_MS, { limits: checkpointLimits(config, true) });
  carried.session = await TrainingSession.open({ config, set: data.set, manifestHash: data.manifest, outDir: runDir, resume: fromCheckpoint, nanGradientSteps: o.nanGradientSteps, log: o.log });
  return carried.session;
}

// The val split when it has faces enough for a probe, else the train split.
async function probeSet(dataDir: string, train: FaceSet): Promise<FaceSet> {
  const val = await loadSplit(dataDir, 'val');
  return val.count >= 2 ? val : train;
}


/** Whether a failed call's status means the coordinator could not be reached in time (worth retrying). */
export const isTransient = (status: GrpcStatus): boolean => status === GrpcStatus.UNAVAILABLE || status === GrpcStatus.DEADLINE_EXCEEDED || status === GrpcStatus.CANCELLED;
