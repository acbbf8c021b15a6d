import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import type { ComputeBackend } from '../shared/backend/api';
import { IpcDirectory, newRingKeys, ZmqTransport } from '../shared/collective';
import { MAX_CHUNK_BYTES, type RunConfig, validateConfig } from '../shared/config';
import type { ClientSecurity } from '../shared/control/channel-security';
import { ControlClient } from '../shared/control/client';
import { ConfigInvalidError, ControlCallError, GrpcStatus, ProtocolViolationError, RunStoppedError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { CollectiveMetrics } from '../shared/metrics/collective-metrics';
import { TrainingMetrics } from '../shared/metrics/training-metrics';
import type { TrainingSummary } from '../shared/train/training-session';
import { type SessionEvent, type SessionState, startSession, step as nextState } from './ring-session';
import { type Carried, isTransient, type JoinedRing, trainInRing } from './ring-training';

/** How a worker joins a run. */
export interface WorkerOptions {
  /** The coordinator's control address, host:port. */
  coordinator: string;
  /** TLS pinned to the run's CA and the run token (or insecure). */
  security: ClientSecurity;
  /** GPU ordinal this worker runs on (as CUDA_VISIBLE_DEVICES names it), -1 on CPU. */
  gpu: number;
  /** The tensor backend, already active, and the device it computes on (see `selectComputeBackend`). */
  backend: ComputeBackend;
  /** Downloaded datasets (reused across runs) and rank 0's checkpoints go here. */
  workDir: string;
  /** A local copy of the dataset (shared filesystem), used when it is the run's. */
  dataDir?: string;
  /** Address the other workers reach this one at; default: this host's address towards the coordinator. */
  host?: string;
  /** tcp port for all-reduce messages; 0 picks a free one. */
  dataPort: number;
  /** Bound on the first registration (the coordinator may start later, the rendezvous may take a while). */
  registerTimeoutMs: number;
  log: Logger;
  /** Where the worker's training and all-reduce metrics go (served by the caller). */
  registry?: Registry;
  /** Aborting stops the worker at once (SIGTERM); the coordinator is told why. */
  signal?: AbortSignal;
  /** Fault injection for tests and chaos runs: this worker's D gradient is NaN at these 0-based steps. */
  nanGradientSteps?: ReadonlySet<number>;
}

/** How a worker's part of a run went. */
export interface WorkerOutcome {
  runId: string;
  rank: number;
  worldSize: number;
  /** Ring generations this worker trained in. */
  generations: number;
  summary: TrainingSummary;
}

// Retries of a registration after the coordinator was lost: quick at first, then every 2 s.
const BACKOFF = { backoffMs: 250, maxBackoffMs: 2_000 };

/**
 * One worker of an elastic synchronous data-parallel run, generation after generation (the
 * {@link SessionState} machine): registers (with the state it holds, if any), gets the dataset,
 * joins the ZeroMQ ring, starts from the most advanced state of the ring (rank 0 broadcasts it),
 * trains its slice of every global batch with gradients all-reduced, heartbeats and reports,
 * and at checkpoints averages the batch-norm statistics, reports its weights' digest and (rank 0)
 * uploads the checkpoint. When the ring ends under it (a regroup, a vanished peer, a lost
 * coordinator) it restores its last committed step and joins the next ring; it ends finished,
 * stopped, or failed with an error naming the cause.
 */
export async function runWorker(o: WorkerOptions): Promise<WorkerOutcome> {
  const { backend } = o;
  const host = o.host ?? (await localAddressTowards(o.coordinator));
  // Registered once: a metric family belongs to the process, whichever ring it is in.
  const metrics = o.registry ? { training: new TrainingMetrics(o.registry), collective: new CollectiveMetrics(o.registry) } : null;
  metrics?.training.setBackend(backend.name);
  const client = new ControlClient(o.coordinator, o.security);
  const carried: Carried = { runId: '', session: null, data: null, generations: 0 };
  // The ring's socket files, in a directory only this user may enter; removed when the worker ends.
  const ipc = IpcDirectory.create();
  let listens = 0;
  const sockets = { ipc, socketName: () => `ring-${++listens}.sock` };
  let state: SessionState = startSession();
  let last: { outcome: WorkerOutcome } | null = null;
  let registerTimeoutMs = o.registerTimeoutMs;
  let config: RunConfig | null = null;
  const apply = (event: SessionEvent) => {
    const rules = { reconnectMs: (config?.cluster.reconnectSeconds ?? 0) * 1000, ...BACKOFF };
    const next = nextState(state, event, rules);
    state = next.state;
    return next.action;
  };
  try {
    for (;;) {
      let ring: JoinedRing;
      try {
        ring = await joinRing(o, client, { host, backend: backend.name, device: backend.device, sockets, known: config }, carried, registerTimeoutMs);
      } catch (err) {
        const action = apply(joinFailure(err));
        if (action.kind === 'exit') throw ended(state, err);
        if (action.kind === 'register') {
          registerTimeoutMs = remaining(state) ?? o.registerTimeoutMs;
          await sleep(action.delayMs, undefined, { signal: o.signal }).catch(() => undefined);
        }
        continue;
      }
      config = ring.config;
      carried.generations++;
      apply({ kind: 'joined', generation: Number(ring.reply.generation), rank: ring.reply.rank });
      const end = await trainInRing(o, client, ring, carried, metrics);
      if (end.kind === 'finished') last = { outcome: { runId: carried.runId, rank: ring.reply.rank, worldSize: ring.reply.worldSize, generations: carried.generations, summary: end.summary } };
      const action = apply(end.kind === 'finished' ? { kind: 'finished' } : end);
      if (action.kind === 'exit') {
        if (last && state.phase === 'finished') return last.outcome;
        throw ended(state, null);
      }
      if (action.kind === 'register') {
        o.log.warn({ generation: ring.reply.generation }, `${'reason' in end ? end.reason : 'the ring ended'}: registering again`);
        if (action.restore && carried.session) await carried.session.restore();
        registerTimeoutMs = remaining(state) ?? o.registerTimeoutMs;
      }
    }
  } finally {
    carried.session?.dispose();
    client.close();
    ipc.close();
  }
}

/** What a worker knows when it joins a ring: where it listens, and the run's config from its last ring (null before the first). */
interface JoinContext {
  host: string;
  backend: string;
  device: string;
  sockets: { ipc: IpcDirectory; socketName: () => string };
  known: RunConfig | null;
}

// Registers for the next ring (binding this worker's ring sockets first, so it can say where it
// listens, on its advertised address only, and with a fresh CURVE keypair when the run's ring is
// encrypted) and places it in the ring the coordinator forms.
async function joinRing(o: WorkerOptions, client: ControlClient, at: JoinContext, carried: Carried, timeoutMs: number): Promise<JoinedRing> {
  if (o.signal?.aborted) throw new RunStoppedError(`stopped before joining a ring: ${String(o.signal.reason)}`);
  const { host, backend, known } = at;
  // The security mode and the frame bound are fixed when a socket binds: before its first ring a
  // worker asks the coordinator how the run's ring is secured, and bounds frames by the largest chunk.
  const encryption = known ? known.cluster.ringEncryption : await unlessAborted(ringEncryptionOf(client, timeoutMs), o.signal);
  if (encryption === 'none' && known === null) o.log.warn('cluster.ringEncryption is none: the ring is plaintext, and anyone who reaches a ring port can read or inject gradients');
  const listener = await ZmqTransport.listen({
    bind: [`tcp://${host}:${o.dataPort}`, at.sockets.ipc.endpoint(at.sockets.socketName())],
    keys: encryption === 'curve' ? newRingKeys() : null,
    maxMessageBytes: known?.cluster.chunkBytes ?? MAX_CHUNK_BYTES,
    log: o.log,
  });
  const [tcpBound, ipcEndpoint] = listener.endpoints;
  const dataEndpoint = `tcp://${host}:${tcpBound.slice(tcpBound.lastIndexOf(':') + 1)}`;
  try {
    o.log.info({ coordinator: o.coordinator, dataEndpoint, committedStep: carried.session?.committedStep ?? -1 }, `registering with ${o.coordinator}`);
    const registered = client.register(
      {
        host,
        gpu: o.gpu,
        backend,
        device: at.device,
        dataEndpoint,
        ipcEndpoint,
        pid: process.pid,
        runId: carried.runId,
        committedStep: carried.session ? carried.session.committedStep : -1,
        ringPublicKey: listener.publicKey ?? '',
      },
      timeoutMs,
    );
    const reply = await unlessAborted(registered, o.signal);
    const config = validateConfig(JSON.parse(reply.configJson) as unknown, `the config of run ${reply.runId}`);
    const { left, right } = reply;
    if (!left || !right || !reply.shardPlan) throw new ProtocolViolationError(`run ${reply.runId}: the coordinator's reply lacks the ring or the shard plan`);
    if (carried.runId !== '' && carried.runId !== reply.runId) {
      // Another run: a state of the old one means nothing there.
      carried.session?.dispose();
      carried.session = null;
    }
    carried.runId = reply.runId;
    const sameHost = right.host === host && config.cluster.sameHostTransport === 'ipc' && right.ipcEndpoint !== '';
    const keyed = listener.publicKey !== null;
    const transport = listener.place(reply.rank, reply.worldSize, keyed ? { leftPublicKey: left.ringPublicKey } : {});
    transport.connect(sameHost ? right.ipcEndpoint : right.dataEndpoint, keyed ? right.ringPublicKey : undefined);
    o.log.info({ runId: reply.runId, generation: reply.generation, rank: reply.rank, worldSize: reply.worldSize, startStep: reply.startStep }, `rank ${reply.rank} of ${reply.worldSize} in ring generation ${reply.generation} of run ${reply.runId}`);
    return { reply, config, transport };
  } catch (err) {
    listener.close();
    throw err;
  }
}

// A registration's failure as the session sees it: transient when the coordinator could not be reached in time.
function joinFailure(err: unknown): SessionEvent {
  if (err instanceof RunStoppedError) return { kind: 'aborted', reason: err.message };
  // The run is over (finished or failed): nothing to join, and nothing a restart could change.
  if (err instanceof ControlCallError && err.status === GrpcStatus.ABORTED) return { kind: 'stop', reason: err.message };
  const transient = err instanceof ControlCallError && isTransient(err.status);
  return { kind: 'join-failed', error: (err as Error).message, transient, nowMs: Date.now() };
}

// What is left of the reconnect window, as the next registration's bound.
function remaining(s: SessionState): number | null {
  return s.phase === 'joining' && s.reconnectUntilMs !== null ? Math.max(1_000, s.reconnectUntilMs - Date.now()) : null;
}

// The error a session that did not finish ends with: stopped runs exit 3, failures 1.
function ended(s: SessionState, cause: unknown): Error {
  if (s.phase === 'stopped') return new RunStoppedError(s.reason, { cause });
  if (s.phase === 'failed') return cause instanceof Error && cause.message === s.error ? cause : new Error(s.error, { cause });
  return new Error(`the worker ended in phase ${s.phase}`);
}

// `work`, unless `signal` aborts first: a worker waiting for the coordinator or the rendezvous stops at once.
async function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  const stopped = () => new RunStoppedError(`stopped before the run began: ${String(signal.reason)}`);
  if (signal.aborted) {
    work.catch(() => undefined);
    throw stopped();
  }
  // The abort listener goes with the wait, so that a worker's many joins do not pile listeners up.
  const settled = new AbortController();
  try {
    return await Promise.race([
      work,
      once(signal, 'abort', { signal: settled.signal }).then((): never => {
        throw stopped();
      }),
    ]);
  } finally {
    settled.abort();
  }
}

// How the run's ring is secured, as the coordinator says: a worker binds its first ring socket for it.
async function ringEncryptionOf(client: ControlClient, timeoutMs: number): Promise<RunConfig['cluster']['ringEncryption']> {
  const { ringEncryption } = await client.status(timeoutMs);
  if (ringEncryption !== 'curve' && ringEncryption !== 'none') throw new ProtocolViolationError(`the coordinator names no ring encryption this worker knows ('${ringEncryption}')`);
  return ringEncryption;
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
