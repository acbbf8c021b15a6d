import * as grpc from '@grpc/grpc-js';
import type { CoordinatorHandlers } from '../generated/facefill/v1/Coordinator';
import type { Directive as DirectiveReply } from '../generated/facefill/v1/Directive';
import type { WatchRequest__Output } from '../generated/facefill/v1/WatchRequest';
import type { RegisterReply } from '../generated/facefill/v1/RegisterReply';
import type { RegisterRequest__Output } from '../generated/facefill/v1/RegisterRequest';
import type { RunStatus } from '../generated/facefill/v1/RunStatus';
import { toStepProgress, toStepReportIn } from '../shared/control/wire';
import { FacefillError, ProtocolViolationError } from '../shared/errors';
import type { FilePiece } from '../shared/control/file-transfer';
import type { FileChunk, FileChunk__Output } from '../generated/facefill/v1/FileChunk';
import type { HeartbeatRequest__Output } from '../generated/facefill/v1/HeartbeatRequest';
import type { CheckpointPiece, ControlPlane, Directive, Heartbeat, RunView, WorkerAssignment, WorkerCondition } from './api';
import type { Member, Registration } from './rendezvous';

/**
 * The coordinator's gRPC service: converts wire messages to the project's types at the
 * edge (validating them once, here), calls the {@link ControlPlane}, and maps its typed
 * errors to gRPC status codes so a worker sees why a call was refused.
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
        .then(() => plane.reportStep(toStepReportIn(call.request)))
        .then((d) => callback(null, toDirectiveReply(d)), (err: unknown) => callback(toServiceError(err)));
    },
    Status: (_call, callback) => unary(callback, () => toRunStatus(plane.status())),
    DownloadDataset: (call) => void streamPieces(call, call.request.runId, () => plane.datasetPieces(call.request.runId, call.request.name)),
    UploadCheckpoint: (call, callback) => {
      plane.uploadCheckpoint(checkpointPieces(call)).then(
        (receipt) => callback(null, receipt),
        (err: unknown) => callback(toServiceError(err)),
      );
    },
    DownloadCheckpoint: (call) => void streamPieces(call, '', () => plane.checkpointPieces(call.request.step)),
    Shutdown: (call, callback) => unary(callback, () => (plane.shutdown(call.request.reason || 'shutdown requested'), {})),
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
    lost = plane.watch({ runId: call.request.runId, generation: call.request.generation, rank: call.request.rank }, link);
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

// Writes file pieces to a server stream, honouring back-pressure; a failure ends the stream with its status.
async function streamPieces(call: grpc.ServerWritableStream<unknown, FileChunk>, runId: string, pieces: () => AsyncIterable<FilePiece>): Promise<void> {
  try {
    for await (const p of pieces()) {
      const chunk: FileChunk = { runId, name: p.name, offset: p.offset, data: p.data, last: p.last, totalBytes: p.totalBytes, sha256: p.sha256 };
      if (!call.write(chunk)) await new Promise((resolve) => call.once('drain', resolve));
    }
    call.end();
  } catch (err) {
    call.emit('error', toServiceError(err));
  }
}

// An upload's chunks as checkpoint pieces; fields a piece must carry are checked here.
async function* checkpointPieces(call: AsyncIterable<FileChunk__Output>): AsyncIterable<CheckpointPiece> {
  for await (const c of call) {
    if (!Buffer.isBuffer(c.data)) throw new ProtocolViolationError(`checkpoint upload: piece of '${c.name}' has no data`);
    yield { runId: c.runId, generation: c.generation, rank: c.rank, step: c.step, name: c.name, offset: c.offset, data: c.data, last: c.last, totalBytes: c.totalBytes, sha256: c.sha256 };
  }
}

const CONDITIONS: Record<string, WorkerCondition> = { RUNNING: 'running', FINISHED: 'finished', FAILED: 'failed', LEFT: 'left' };

function toHeartbeat(h: HeartbeatRequest__Output): Heartbeat {
  // An enum value this side does not know arrives as its number.
  const condition = CONDITIONS[String(h.condition)];
  if (!condition) throw new ProtocolViolationError(`heartbeat: condition ${String(h.condition)} is not one of ${Object.keys(CONDITIONS).join(', ')}`);
  return { runId: h.runId, generation: h.generation, rank: h.rank, step: h.step, condition, error: h.error, silentPeer: h.silentPeer };
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
  if (!/^(tcp:\/\/[^:]+:\d+|ipc:\/\/.+)$/.test(r.dataEndpoint)) {
    throw new ProtocolViolationError(`register: data endpoint '${r.dataEndpoint}' is not tcp://host:port or ipc://path`);
  }
  if (!Number.isInteger(r.gpu) || r.gpu < -1) throw new ProtocolViolationError(`register: gpu ${r.gpu} is not a GPU ordinal or -1`);
  if (r.ipcEndpoint !== '' && !r.ipcEndpoint.startsWith('ipc://')) throw new ProtocolViolationError(`register: ipc endpoint '${r.ipcEndpoint}' is not ipc://path`);
  if (!Number.isSafeInteger(r.committedStep) || r.committedStep < -1) throw new ProtocolViolationError(`register: committed step ${r.committedStep} is not a step count or -1`);
  return { host: r.host, gpu: r.gpu, backend: r.backend, dataEndpoint: r.dataEndpoint, ipcEndpoint: r.ipcEndpoint, pid: r.pid, runId: r.runId, committedStep: r.committedStep };
}

const toPeer = (m: Member) => ({ rank: m.rank, host: m.host, dataEndpoint: m.dataEndpoint, ipcEndpoint: m.ipcEndpoint });

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
