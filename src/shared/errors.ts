import { status as GrpcStatus } from '@grpc/grpc-js';

export { GrpcStatus };

/**
 * Base class of every error this project throws on purpose. `code` is stable for callers and
 * logs; `grpcStatus` is what the control plane answers when the error ends a call, so a
 * refusal says what kind it is. Errors come in families (a caller catches a family, a log
 * says which member); anything that is not a FacefillError is a bug and answers INTERNAL.
 */
export class FacefillError extends Error {
  constructor(
    readonly code: string,
    readonly grpcStatus: GrpcStatus,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

// ---- Config: a value outside what the schema or a command allows.

/** Thrown when a config file, preset or CLI flag holds a value outside what the schema allows. */
export class ConfigInvalidError extends FacefillError {
  constructor(message: string) {
    super('CONFIG_INVALID', GrpcStatus.INVALID_ARGUMENT, message);
  }
}

// ---- Data: files that are not what they claim to be.

/** Family of errors about local data: images, shards, manifests, masks and checkpoint files. */
export class DataError extends FacefillError {}

/** Thrown when an image cannot be decoded (corrupt, truncated, or not an image at all). */
export class ImageDecodeError extends DataError {
  constructor(
    readonly source: string,
    reason: string,
  ) {
    super('IMAGE_DECODE', GrpcStatus.INVALID_ARGUMENT, `cannot decode image ${source}: ${reason}`);
  }
}

/** Thrown when a dataset shard's bytes do not match the checksum its manifest records. */
export class ShardChecksumError extends DataError {
  constructor(
    readonly shard: string,
    expected: string,
    actual: string,
  ) {
    super('SHARD_CHECKSUM', GrpcStatus.DATA_LOSS, `shard ${shard} is corrupt: sha256 ${actual}, manifest expects ${expected}`);
  }
}

/** Thrown when a shard, manifest or checkpoint file is malformed (bad magic, version, or length). */
export class FormatError extends DataError {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super('FORMAT', GrpcStatus.DATA_LOSS, `${file}: ${reason}`);
  }
}

/** Thrown when a user-given mask image cannot be read or holds no hole. */
export class MaskFileError extends DataError {
  constructor(file: string, reason: string) {
    super('MASK_FILE', GrpcStatus.INVALID_ARGUMENT, `mask ${file}: ${reason}`);
  }
}

/** Thrown when a checkpoint is missing, incomplete, or does not fit the model it is loaded into. */
export class CheckpointError extends DataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CHECKPOINT', GrpcStatus.FAILED_PRECONDITION, message, options);
  }
}

/** Thrown when an uploaded checkpoint's weights do not hash to the digest every rank agreed on: the bytes are not the run's weights. */
export class CheckpointDigestMismatchError extends DataError {
  constructor(
    readonly step: number,
    readonly expected: string,
    readonly actual: string,
  ) {
    super('CHECKPOINT_DIGEST_MISMATCH', GrpcStatus.DATA_LOSS, `the uploaded checkpoint of step ${step} holds weights with sha256 ${actual}, but every rank reported ${expected}`);
  }
}

/** Thrown when a checkpoint upload names a step that is merged, older than the latest merged one, or already being uploaded: merged checkpoints are immutable. */
export class CheckpointExistsError extends DataError {
  constructor(
    readonly step: number,
    reason: string,
  ) {
    super('CHECKPOINT_EXISTS', GrpcStatus.ALREADY_EXISTS, `checkpoint upload for step ${step} refused: ${reason}`);
  }
}

/** Thrown when no tensor backend can be initialised, or a requested one is unavailable. */
export class BackendUnavailableError extends FacefillError {
  constructor(message: string) {
    super('BACKEND_UNAVAILABLE', GrpcStatus.FAILED_PRECONDITION, message);
  }
}

/**
 * Thrown when a worker started for a GPU (`--gpu I`) would not compute on it: tfjs-node-gpu did
 * not load (the process fell to another backend) or loaded without a GPU device. `gpu` is the
 * ordinal; the message names it and the likely cause (see `diagnoseGpuLoad`).
 */
export class GpuUnavailableError extends FacefillError {
  constructor(
    readonly gpu: number,
    message: string,
  ) {
    super('GPU_UNAVAILABLE', GrpcStatus.FAILED_PRECONDITION, message);
  }
}

/** Thrown when writing `neededBytes` more would leave less free disk space than the margin a host must keep. */
export class DiskSpaceLowError extends FacefillError {
  constructor(message: string) {
    super('DISK_SPACE_LOW', GrpcStatus.RESOURCE_EXHAUSTED, message);
  }
}

// ---- Training: a step that cannot go on.

/** Thrown when a gradient vector (e.g. one returned by an all-reduce) does not have one value per trainable parameter of its model. */
export class GradientSizeMismatchError extends FacefillError {
  constructor(
    readonly network: string,
    actual: number,
    expected: number,
  ) {
    super('GRADIENT_SIZE_MISMATCH', GrpcStatus.INTERNAL, `${network} gradient has ${actual} values; the model has ${expected} trainable parameters`);
  }
}

/** Thrown when too many consecutive steps were skipped for non-finite values and no rollback is left to take. */
export class NonFiniteTrainingError extends FacefillError {
  constructor(message: string) {
    super('NON_FINITE', GrpcStatus.ABORTED, message);
  }
}

// ---- Rendezvous: joining a run.

/** Family of errors about joining a run's ring. */
export class RendezvousError extends FacefillError {}

/** Thrown when not all workers joined the rendezvous before its timeout. */
export class RendezvousTimeoutError extends RendezvousError {
  constructor(message: string) {
    super('RENDEZVOUS_TIMEOUT', GrpcStatus.DEADLINE_EXCEEDED, message);
  }
}

/** Thrown when a worker tries to join a rendezvous that is complete, closed, or already has its endpoint. */
export class RendezvousClosedError extends RendezvousError {
  constructor(message: string) {
    super('RENDEZVOUS_CLOSED', GrpcStatus.FAILED_PRECONDITION, message);
  }
}

/** Thrown when a worker's backend or device differs from its ring's and `cluster.allowMixedBackends` is off: a ring runs at its slowest member's pace. */
export class RendezvousBackendMismatchError extends RendezvousError {
  constructor(message: string) {
    super('RENDEZVOUS_BACKEND_MISMATCH', GrpcStatus.FAILED_PRECONDITION, message);
  }
}

// ---- Protocol: a peer's message that breaks the control plane's rules.

/** Family of errors about a message a peer sent: malformed, out of place, or not its to send. */
export class ProtocolError extends FacefillError {}

/** Thrown when a control-plane message is malformed or breaks the protocol (a bad field, a call out of turn). */
export class ProtocolViolationError extends ProtocolError {
  constructor(message: string) {
    super('PROTOCOL_VIOLATION', GrpcStatus.INVALID_ARGUMENT, message);
  }
}

/** Thrown when a control-plane call names another run than the coordinator's (a worker of an old run). */
export class RunMismatchError extends ProtocolError {
  constructor(expected: string, actual: string) {
    super('RUN_MISMATCH', GrpcStatus.FAILED_PRECONDITION, `call for run '${actual}', but this coordinator runs '${expected}'`);
  }
}

/** Thrown when a file transfer's peer sends or takes nothing for too long: the stream ends instead of waiting forever. */
export class TransferStalledError extends ProtocolError {
  constructor(message: string) {
    super('TRANSFER_STALLED', GrpcStatus.DEADLINE_EXCEEDED, message);
  }
}

/** Thrown when a transferred file's size or sha256 does not match what its sender declared. */
export class TransferChecksumError extends ProtocolError {
  constructor(message: string) {
    super('TRANSFER_CHECKSUM', GrpcStatus.DATA_LOSS, message);
  }
}

/** Thrown when a transfer carries more bytes, in one file or in all, than its receiver admits. */
export class TransferTooLargeError extends ProtocolError {
  constructor(message: string) {
    super('TRANSFER_TOO_LARGE', GrpcStatus.RESOURCE_EXHAUSTED, message);
  }
}

// ---- Authentication: who may call, and as whom.

/** Family of errors about a caller's credentials on the control plane. */
export class AuthError extends FacefillError {}

/** Thrown when a control-plane call carries no run token, or a wrong one. */
export class UnauthenticatedError extends AuthError {
  constructor(message: string) {
    super('UNAUTHENTICATED', GrpcStatus.UNAUTHENTICATED, message);
  }
}

/** Thrown when a caller with the run's token speaks for a rank whose session secret it does not hold. */
export class PermissionDeniedError extends AuthError {
  constructor(message: string) {
    super('PERMISSION_DENIED', GrpcStatus.PERMISSION_DENIED, message);
  }
}

/** Thrown when security material (a join file, certificates, a checkpoint seal) is missing, malformed or does not verify. */
export class CredentialsError extends AuthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CREDENTIALS', GrpcStatus.FAILED_PRECONDITION, message, options);
  }
}

// ---- Run state: the run as a whole cannot go on.

/** Family of errors about the state of a run as a whole. */
export class RunStateError extends FacefillError {}

/** Thrown when a call needs a run state the run is not in (e.g. ranks asked for before the rendezvous completes). */
export class RunNotReadyError extends RunStateError {
  constructor(message: string) {
    super('RUN_NOT_READY', GrpcStatus.UNAVAILABLE, message);
  }
}

/** Thrown when a run stops before its end: the coordinator said so, a rank failed, or the monitor stopped a collapsed run. */
export class RunStoppedError extends RunStateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RUN_STOPPED', GrpcStatus.ABORTED, message, options);
  }
}

/** Thrown when the replicas' weights differ at a checkpoint: data-parallel training diverged. */
export class ReplicasDivergedError extends RunStateError {
  constructor(message: string) {
    super('REPLICAS_DIVERGED', GrpcStatus.DATA_LOSS, message);
  }
}

/** Thrown when a checkpoint upload arrives, or is still in flight, after the run's merges closed (the run finished or failed). */
export class CheckpointUploadClosedError extends RunStateError {
  constructor(message: string) {
    super('CHECKPOINT_UPLOAD_CLOSED', GrpcStatus.FAILED_PRECONDITION, message);
  }
}

// ---- Collective: the ring between workers.

/** Family of errors of the gradient collective (a peer silent, a bad message, the ring closed). */
export class CollectiveError extends FacefillError {}

/** Thrown when a collective's peer sends nothing (or takes nothing) within the timeout: the step fails instead of hanging. `peer` is that neighbour's rank. */
export class CollectiveTimeoutError extends CollectiveError {
  constructor(
    message: string,
    readonly peer: number,
  ) {
    super('COLLECTIVE_TIMEOUT', GrpcStatus.DEADLINE_EXCEEDED, message);
  }
}

/** Thrown when a collective receives a malformed or unexpected message for the current operation. */
export class CollectiveMessageError extends CollectiveError {
  constructor(message: string) {
    super('COLLECTIVE_MESSAGE', GrpcStatus.DATA_LOSS, message);
  }
}

/** Thrown when a collective's transport is closed before or while an operation uses it. */
export class CollectiveClosedError extends CollectiveError {
  constructor(message: string) {
    super('COLLECTIVE_CLOSED', GrpcStatus.ABORTED, message);
  }
}

// ---- Control calls, as their caller sees them.

/** Thrown when a control-plane call fails: the coordinator is unreachable, too slow, or refused it; `status` is the answer's code. */
export class ControlCallError extends FacefillError {
  constructor(
    message: string,
    readonly status: GrpcStatus,
    options?: { cause?: unknown },
  ) {
    super('CONTROL_CALL', GrpcStatus.UNAVAILABLE, message, options);
  }
}
