import * as grpc from '@grpc/grpc-js';
import type { CoordinatorHandlers } from '../generated/facefill/v1/Coordinator';
import type { Directive as DirectiveReply } from '../generated/facefill/v1/Directive';
import type { WatchRequest__Output } from '../generated/facefill/v1/WatchRequest';
import type { RegisterReply } from '../generated/facefill/v1/RegisterReply';
import type { RegisterRequest__Output } from '../generated/facefill/v1/RegisterRequest';
import type { RunStatus } from '../generated/facefill/v1/RunStatus';
import { DEVICE_KINDS, type DeviceKind } from '../shared/backend/api';
import { BACKENDS } from '../shared/config';
import { boundedText, checkHost, checkLength, checkRingKey, checkSession, FIELD_LIMITS } from '../shared/control/field-limits';
import { toStepProgress, toStepReportIn } from '../shared/control/wire';
import { FacefillError, ProtocolViolationError, TransferStalledError } from '../shared/errors';
import { withDeadline } from '../shared/util/deadline';
import type { FilePiece } from '../shared/control/file-transfer';
import type { FileChunk, FileChunk__Output } from '../generated/facefill/v1/FileChunk';
import type { HeartbeatRequest__Output } from '../generated/facefill/v1/HeartbeatRequest';
import type { StepReport__Output } from '../generated/facefill/v1/StepReport';
import type { CheckpointPiece, ControlPlane, Directive, Heartbeat, RunView, WorkerAssignment, WorkerCondition } from './api';
import type { Member, Registration } from './rendezvous';

/** How long a stream may wait on its peer (a piece to arrive, a reader to take one) before the call ends. */
const STREAM_IDLE_MS = 60_000;

/**
 * The coordinator's gRPC service: converts wire messages to the project's types at the
 * edge (validating them once, here: every field bounded), calls the {@link ControlPlane}, and
 * maps its typed errors to gRPC status codes so a worker sees why a call was refused. The run
 * token is checked before any of this, by the server's interceptor; the session secret a
 * worker's call carries is checked by the plane.
 */
export function controlServiceHandlers(plane: ControlPlane): CoordinatorHandlers {
  return {
    Register: (call, callback) => {
      const left = new AbortController();
      call.on('cancelled', () => left.abort());
      Promise.resolve()
        .then(() => plane.register(toRegistration(call.request), left.signal))
        .then((a) => callback(null, toRegisterReply(a)), (err: unknown) => callback(toServiceError(err)));
    },
    Watch: (call) => watch(plane, call),
    Heartbeat: (call, callback) => unary(callback, () => toDirectiveReply(plane.heartbeat(toHeartbeat(call.request)))),
    ReportStep: (call, callback) => {
      Promise.resolve()
        .then(() => plane.reportStep(toStepReportIn(checkedReport(call.request))))
        .then((d) => callback(null, toDirectiveReply(d)), (err: unknown) => callback(toServiceError(err)));
    },
    Status: (_call, callback) => unary(callback, () => toRunStatus(plane.status())),
    DownloadDataset: (call) =>
      void streamPieces(call, call.request.runId, () => plane.datasetPieces(checkLength('run id', call.request.runId, FIELD_LIMITS.runId), call.request.name)),
    UploadCheckpoint: (call, callback) => {
      plane.uploadCheckpoint(checkpointPieces(call)).then(
        (receipt) => callback(null, receipt),
        (err: unknown) => callback(toServiceError(err)),
      );
    },
    DownloadCheckpoint: (call) => void streamPieces(call, '', () => plane.checkpointPieces(call.request.step)),
    Shutdown: (call, callback) => unary(callback, () => (plane.shutdown(boundedText(call.request.reason) || 'shutdown requested'), {})),
  };
}

// A worker's live link: directives go down the stream as the coordinator pushes them; the
// stream's end from the worker's side (its process died, its connection broke) is reported at once.
function watch(plane: ControlPlane, call: grpc.ServerWritableStream<WatchRequest__Output, DirectiveReply>): void {
  let open = true;
  const end = () => {
    if (open) call.end();
    open = false;
  };
  const link = { push: (d: Directive) => void (open && call.write(toDirectiveReply(d))), end };
  let lost: (why: string) => void;
  try {
    const r = call.request;
    lost = plane.watch({ runId: checkLength('run id', r.runId, FIELD_LIMITS.runId), generation: r.generation, rank: r.rank, session: checkSession(r.session) }, link);
  } catch (err) {
    open = false;
    call.emit('error', toServiceError(err));
    return;
  }
  call.on('cancelled', () => {
    open = false;
    lost('the call was cancelled');
  });
  call.on('error', (err: Error) => {
    open = false;
    lost(err.message);
  });
}

// Writes file pieces to a server stream, honouring back-pressure; a failure ends the stream with
// its status. A reader that takes nothing for STREAM_IDLE_MS (or went away) ends it.
async function streamPieces(call: grpc.ServerWritableStream<unknown, FileChunk>, runId: string, pieces: () => AsyncIterable<FilePiece>): Promise<void> {
  let gone = false;
  call.on('cancelled', () => (gone = true));
  try {
    for await (const p of pieces()) {
      if (gone) return;
      const chunk: FileChunk = { runId, name: p.name, offset: p.offset, data: p.data, last: p.last, totalBytes: p.totalBytes, sha256: p.sha256 };
      if (!call.write(chunk)) await withDeadline(new Promise((resolve) => call.once('drain', resolve)), STREAM_IDLE_MS, () => idle('the reader took no piece'));
    }
    call.end();
  } catch (err) {
    call.emit('error', toServiceError(err));
  }
}

// An upload's chunks as checkpoint pieces; fields a piece must carry are checked here. A sender
// that goes away, or sends nothing for STREAM_IDLE_MS, ends the upload with an error (so its
// partial files are removed), never a wait without end.
async function* checkpointPieces(call: grpc.ServerReadableStream<FileChunk__Output, unknown>): AsyncIterable<CheckpointPiece> {
  const cancelled = new Promise<never>((_, reject) => call.once('cancelled', () => reject(new ProtocolViolationError('checkpoint upload: the sender went away mid-upload'))));
  cancelled.catch(() => undefined);
  const chunks = (call as AsyncIterable<FileChunk__Output>)[Symbol.asyncIterator]();
  for (;;) {
    const next = await withDeadline(Promise.race([chunks.next(), cancelled]), STREAM_IDLE_MS, () => idle('the upload sent no piece'));
    if (next.done) return;
    const c = next.value;
    if (!Buffer.isBuffer(c.data)) throw new ProtocolViolationError(`checkpoint upload: piece of '${checkLength('file name', c.name, 255)}' has no data`);
    yield {
      runId: checkLength('run id', c.runId, FIELD_LIMITS.runId),
      generation: c.generation,
      rank: c.rank,
      session: checkSession(c.session),
      step: c.step,
      name: checkLength('file name', c.name, 255),
      offset: c.offset,
      data: c.data,
      last: c.last,
      totalBytes: c.totalBytes,
      sha256: checkLength('sha256', c.sha256, 64),
    };
  }
}

const idle = (what: string) => new TransferStalledError(`${what} for ${STREAM_IDLE_MS / 1000} s`);

// A step report's identifying fields, bounded.
function checkedReport(r: StepReport__Output): StepReport__Output {
  checkLength('run id', r.runId, FIELD_LIMITS.runId);
  checkSession(r.session);
  for (const d of [r.checkpoint, r.sync]) if (d) checkLength('sha256', d.sha256, 64);
  if (r.progress?.skipped) r.progress.skipped = boundedText(r.progress.skipped);
  return r;
}

const CONDITIONS: Record<string, WorkerCondition> = { RUNNING: 'running', FINISHED: 'finished', FAILED: 'failed', LEFT: 'left' };

function toHeartbeat(h: HeartbeatRequest__Output): Heartbeat {
  // An enum value this side does not know arrives as its number.
  const condition = CONDITIONS[String(h.condition)];
  if (!condition) throw new ProtocolViolationError(`heartbeat: condition ${String(h.condition)} is not one of ${Object.keys(CONDITIONS).join(', ')}`);
  return {
    runId: checkLength('run id', h.runId, FIELD_LIMITS.runId),
    generation: h.generation,
    rank: h.rank,
    session: checkSession(h.session),
    step: h.step,
    condition,
    error: boundedText(h.error),
    silentPeer: h.silentPeer,
  };
}


function unary<T>(callback: grpc.sendUnaryData<T>, run: () => T): void {
  try {
    callback(null, run());
  } catch (err) {
    callback(toServiceError(err));
  }
}

function toRegistration(r: RegisterRequest__Output): Registration {
  if (!r.host) throw new ProtocolViolationError('register: host is empty');
  checkHost('register: host', r.host);
  checkLength('register: data endpoint', r.dataEndpoint, FIELD_LIMITS.endpoint);
  checkLength('register: ipc endpoint', r.ipcEndpoint, FIELD_LIMITS.endpoint);
  checkLength('register: backend', r.backend, FIELD_LIMITS.backend);
  // Both become metric labels and are compared across a ring: only the values a worker can have
  // (quoted in the refusal, so that a control character cannot forge a log line).
  if (!(BACKENDS as readonly string[]).includes(r.backend)) throw new ProtocolViolationError(`register: backend ${JSON.stringify(r.backend)} is not one of ${BACKENDS.join(', ')}`);
  checkLength('register: device', r.device, FIELD_LIMITS.backend);
  if (!isDeviceKind(r.device)) throw new ProtocolViolationError(`register: device ${JSON.stringify(r.device)} is not one of ${DEVICE_KINDS.join(', ')}`);
  checkLength('register: run id', r.runId, FIELD_LIMITS.runId);
  checkRingKey('register: ring public key', r.ringPublicKey);
  if (!/^(tcp:\/\/[^:]+:\d+|ipc:\/\/.+)$/.test(r.dataEndpoint)) {
    throw new ProtocolViolationError(`register: data endpoint '${r.dataEndpoint}' is not tcp://host:port or ipc://path`);
  }
  if (!Number.isInteger(r.gpu) || r.gpu < -1) throw new ProtocolViolationError(`register: gpu ${r.gpu} is not a GPU ordinal or -1`);
  if (r.ipcEndpoint !== '' && !r.ipcEndpoint.startsWith('ipc://')) throw new ProtocolViolationError(`register: ipc endpoint '${r.ipcEndpoint}' is not ipc://path`);
  if (!Number.isSafeInteger(r.committedStep) || r.committedStep < -1) throw new ProtocolViolationError(`register: committed step ${r.committedStep} is not a step count or -1`);
  return {
    host: r.host,
    gpu: r.gpu,
    backend: r.backend,
    device: r.device,
    dataEndpoint: r.dataEndpoint,
    ipcEndpoint: r.ipcEndpoint,
    pid: r.pid,
    runId: r.runId,
    committedStep: r.committedStep,
    ringPublicKey: r.ringPublicKey,
  };
}

const isDeviceKind = (value: string): value is DeviceKind => (DEVICE_KINDS as readonly string[]).includes(value);

const toPeer = (m: Member) => ({ rank: m.rank, host: m.host, dataEndpoint: m.dataEndpoint, ipcEndpoint: m.ipcEndpoint, ringPublicKey: m.ringPublicKey });

function toRegisterReply(a: WorkerAssignment): RegisterReply {
  const { plan } = a;
  return {
    runId: a.runId,
    generation: a.generation,
    rank: a.rank,
    worldSize: a.worldSize,
    left: toPeer(a.left),
    right: toPeer(a.right),
    peers: a.members.map(toPeer),
    configJson: JSON.stringify(a.config),
    shardPlan: {
      manifestSha256: plan.dataset.manifestSha256,
      globalBatch: plan.globalBatch,
      seed: plan.seed,
      steps: plan.steps,
      files: plan.dataset.files,
    },
    startStep: a.startStep,
    checkpointStep: a.checkpointStep ?? 0,
    startupTimeoutMs: a.startupTimeoutMs,
    session: a.session,
  };
}

function toDirectiveReply(d: Directive): DirectiveReply {
  return d.action === 'continue' ? { action: 'CONTINUE', reason: '' } : { action: d.action === 'stop' ? 'STOP' : 'REGROUP', reason: d.reason };
}

function toRunStatus(v: RunView): RunStatus {
  return {
    runId: v.runId,
    state: v.state,
    generation: v.generation,
    recoveries: v.recoveries,
    step: v.step,
    steps: v.steps,
    workers: v.workers,
    lastReport: v.lastReport ? toStepProgress(v.lastReport, v.lastReport.images, null) : null,
    lastReportStep: v.lastReport ? v.lastReport.step + 1 : 0,
    imagesPerSecond: v.imagesPerSecond,
    error: v.error,
    latestCheckpoint: v.latestCheckpoint,
    collapse: { ...v.collapse, diversityRatio: v.collapse.diversityRatio ?? undefined },
    probe: v.probe ?? undefined,
    ringEncryption: v.ringEncryption,
  };
}

/**
 * Maps an error to a gRPC error whose status code says what kind of refusal it is (each
 * FacefillError carries its own) and whose details carry the message. Anything else is a bug
 * of the coordinator, never the caller's fault: INTERNAL.
 */
export function toServiceError(err: unknown): grpc.ServiceError {
  const e = err instanceof Error ? err : new Error(String(err));
  const notFound = (e as NodeJS.ErrnoException).code === 'ENOENT';
  const code = e instanceof FacefillError ? e.grpcStatus : notFound ? grpc.status.NOT_FOUND : grpc.status.INTERNAL;
  return serviceError(code, e.message);
}

const serviceError = (code: grpc.status, details: string): grpc.ServiceError =>
  Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
