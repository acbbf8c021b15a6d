import * as grpc from '@grpc/grpc-js';
import type { CoordinatorHandlers } from '../generated/facefill/v1/Coordinator';
import type { HeartbeatReply } from '../generated/facefill/v1/HeartbeatReply';
import type { RegisterReply } from '../generated/facefill/v1/RegisterReply';
import type { RegisterRequest__Output } from '../generated/facefill/v1/RegisterRequest';
import type { RunStatus } from '../generated/facefill/v1/RunStatus';
import type { StepReport, StepReport__Output } from '../generated/facefill/v1/StepReport';
import {
  ConfigInvalidError,
  RendezvousClosedError,
  RendezvousTimeoutError,
  RunMismatchError,
  TransferChecksumError,
} from '../shared/errors';
import type { StepResult } from '../shared/train/api';
import type { ControlPlane, Directive, RunView, WorkerAssignment } from './api';
import type { Member, Registration } from './rendezvous';

/**
 * The coordinator's gRPC service: converts wire messages to the project's types at the
 * edge (validating them once, here), calls the {@link ControlPlane}, and maps its typed
 * errors to gRPC status codes so a worker sees why a call was refused.
 */
export function controlServiceHandlers(plane: ControlPlane): CoordinatorHandlers {
  return {
    Register: (call, callback) => {
      Promise.resolve()
        .then(() => plane.register(toRegistration(call.request)))
        .then((a) => callback(null, toRegisterReply(a)), (err: unknown) => callback(toServiceError(err)));
    },
    Heartbeat: (call, callback) => unary(callback, () => toDirectiveReply(plane.heartbeat(call.request.runId, call.request.rank, call.request.step))),
    ReportStep: (call, callback) =>
      unary(callback, () => ({ action: toDirectiveReply(plane.reportStep(call.request.runId, call.request.rank, toStepResult(call.request), call.request.images)).action })),
    Status: (_call, callback) => unary(callback, () => toRunStatus(plane.status())),
    DownloadDataset: (call) => {
      void (async () => {
        try {
          for await (const p of plane.datasetPieces(call.request.runId, call.request.name)) {
            const chunk = { runId: call.request.runId, name: p.name, offset: p.offset, data: p.data, last: p.last, totalBytes: p.totalBytes, sha256: p.sha256 };
            if (!call.write(chunk)) await new Promise((resolve) => call.once('drain', resolve));
          }
          call.end();
        } catch (err) {
          call.emit('error', toServiceError(err));
        }
      })();
    },
    UploadCheckpoint: (_call, callback) => callback(unimplemented('UploadCheckpoint')),
    DownloadCheckpoint: (call) => call.emit('error', unimplemented('DownloadCheckpoint')),
    Shutdown: (call, callback) => unary(callback, () => (plane.shutdown(call.request.reason || 'shutdown requested'), {})),
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
  if (!r.host) throw new ConfigInvalidError('register: host is empty');
  if (!/^(tcp:\/\/[^:]+:\d+|ipc:\/\/.+)$/.test(r.dataEndpoint)) {
    throw new ConfigInvalidError(`register: data endpoint '${r.dataEndpoint}' is not tcp://host:port or ipc://path`);
  }
  if (!Number.isInteger(r.gpu) || r.gpu < -1) throw new ConfigInvalidError(`register: gpu ${r.gpu} is not a GPU ordinal or -1`);
  return { host: r.host, gpu: r.gpu, backend: r.backend, dataEndpoint: r.dataEndpoint, pid: r.pid };
}

const toPeer = (m: Member) => ({ rank: m.rank, host: m.host, dataEndpoint: m.dataEndpoint });

function toRegisterReply(a: WorkerAssignment): RegisterReply {
  const { plan } = a;
  return {
    runId: a.runId,
    rank: a.rank,
    worldSize: a.worldSize,
    left: toPeer(a.left),
    right: toPeer(a.right),
    peers: a.members.map(toPeer),
    configJson: JSON.stringify(a.config),
    shardPlan: {
      manifestSha256: plan.dataset.manifestSha256,
      globalBatch: plan.globalBatch,
      perRankBatch: plan.perRankBatch,
      seed: plan.seed,
      steps: plan.steps,
      files: plan.dataset.files,
    },
    startStep: a.startStep,
  };
}

function toDirectiveReply(d: Directive): HeartbeatReply {
  return d.action === 'continue' ? { action: 'CONTINUE', reason: '' } : { action: 'STOP', reason: d.reason };
}

// proto3 `optional` fields are absent when unset: absent means null (D not trained).
const orNull = (v: number | undefined): number | null => (v === undefined ? null : v);

function toStepResult(r: StepReport__Output): StepResult {
  const s = r.seconds;
  return {
    step: r.step,
    dLossReal: orNull(r.dLossReal),
    dLossFake: orNull(r.dLossFake),
    gAdversarialLoss: orNull(r.gAdversarialLoss),
    gL2Loss: r.gL2Loss,
    gLoss: r.gLoss,
    dScoreReal: orNull(r.dScoreReal),
    dScoreFake: orNull(r.dScoreFake),
    gGradNorm: r.gGradNorm,
    dGradNorm: orNull(r.dGradNorm),
    seconds: {
      data: s?.data ?? 0,
      dCompute: s?.dCompute ?? 0,
      dReduce: s?.dReduce ?? 0,
      gCompute: s?.gCompute ?? 0,
      gReduce: s?.gReduce ?? 0,
      apply: s?.apply ?? 0,
      total: s?.total ?? 0,
    },
  };
}

/** The wire form of a step report (the worker's side of {@link toStepResult}). */
export function toStepReport(runId: string, rank: number, r: StepResult, images: number): StepReport {
  const opt = (v: number | null) => (v === null ? undefined : v);
  return {
    runId,
    rank,
    step: r.step,
    dLossReal: opt(r.dLossReal),
    dLossFake: opt(r.dLossFake),
    gAdversarialLoss: opt(r.gAdversarialLoss),
    gL2Loss: r.gL2Loss,
    gLoss: r.gLoss,
    dScoreReal: opt(r.dScoreReal),
    dScoreFake: opt(r.dScoreFake),
    gGradNorm: r.gGradNorm,
    dGradNorm: opt(r.dGradNorm),
    seconds: r.seconds,
    images,
  };
}

function toRunStatus(v: RunView): RunStatus {
  return {
    runId: v.runId,
    state: v.state,
    step: v.step,
    steps: v.steps,
    workers: v.workers,
    lastReport: v.lastReport ? toStepReport(v.runId, v.lastReport.rank, v.lastReport, v.lastReport.images) : null,
    imagesPerSecond: v.imagesPerSecond,
    error: v.error,
    latestCheckpoint: v.latestCheckpoint,
  };
}

const CODES: [new (...args: never[]) => Error, grpc.status][] = [
  [RendezvousTimeoutError, grpc.status.DEADLINE_EXCEEDED],
  [RendezvousClosedError, grpc.status.FAILED_PRECONDITION],
  [RunMismatchError, grpc.status.FAILED_PRECONDITION],
  [ConfigInvalidError, grpc.status.INVALID_ARGUMENT],
  [RangeError, grpc.status.INVALID_ARGUMENT],
  [TransferChecksumError, grpc.status.DATA_LOSS],
];

/** Maps an error to a gRPC error whose status code says what kind of refusal it is and whose details carry the message. */
export function toServiceError(err: unknown): grpc.ServiceError {
  const e = err instanceof Error ? err : new Error(String(err));
  const notFound = (e as NodeJS.ErrnoException).code === 'ENOENT';
  const code = notFound ? grpc.status.NOT_FOUND : (CODES.find(([type]) => e instanceof type)?.[1] ?? grpc.status.INTERNAL);
  return serviceError(code, e.message);
}

const serviceError = (code: grpc.status, details: string): grpc.ServiceError =>
  Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });

const unimplemented = (method: string): grpc.ServiceError => serviceError(grpc.status.UNIMPLEMENTED, `${method} arrives with merged checkpoints`);
