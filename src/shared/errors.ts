/** Base class of every error this project throws on purpose; `code` is stable for callers and logs. */
export class FacefillError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Thrown when a config file, preset or CLI flag holds a value outside what the schema allows. */
export class ConfigInvalidError extends FacefillError {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
  }
}

/** Thrown when an image cannot be decoded (corrupt, truncated, or not an image at all). */
export class ImageDecodeError extends FacefillError {
  constructor(
    readonly source: string,
    reason: string,
  ) {
    super('IMAGE_DECODE', `cannot decode image ${source}: ${reason}`);
  }
}

/** Thrown when a dataset shard's bytes do not match the checksum its manifest records. */
export class ShardChecksumError extends FacefillError {
  constructor(
    readonly shard: string,
    expected: string,
    actual: string,
  ) {
    super('SHARD_CHECKSUM', `shard ${shard} is corrupt: sha256 ${actual}, manifest expects ${expected}`);
  }
}

/** Thrown when a shard, manifest or checkpoint file is malformed (bad magic, version, or length). */
export class FormatError extends FacefillError {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super('FORMAT', `${file}: ${reason}`);
  }
}

/** Thrown when a checkpoint is missing, incomplete, or does not fit the model it is loaded into. */
export class CheckpointError extends FacefillError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CHECKPOINT', message, options);
  }
}

/** Thrown when no tensor backend can be initialised, or a requested one is unavailable. */
export class BackendUnavailableError extends FacefillError {
  constructor(message: string) {
    super('BACKEND_UNAVAILABLE', message);
  }
}

/** Thrown when a gradient vector (e.g. one returned by an all-reduce) does not have one value per trainable parameter of its model. */
export class GradientSizeMismatchError extends FacefillError {
  constructor(
    readonly network: string,
    actual: number,
    expected: number,
  ) {
    super('GRADIENT_SIZE_MISMATCH', `${network} gradient has ${actual} values; the model has ${expected} trainable parameters`);
  }
}

/** Thrown when not all workers joined the rendezvous before its timeout. */
export class RendezvousTimeoutError extends FacefillError {
  constructor(message: string) {
    super('RENDEZVOUS_TIMEOUT', message);
  }
}

/** Thrown when a worker tries to join a rendezvous that is complete, closed, or already has its endpoint. */
export class RendezvousClosedError extends FacefillError {
  constructor(message: string) {
    super('RENDEZVOUS_CLOSED', message);
  }
}

/** Thrown when a transferred file's size or sha256 does not match what its sender declared. */
export class TransferChecksumError extends FacefillError {
  constructor(message: string) {
    super('TRANSFER_CHECKSUM', message);
  }
}

/** Thrown when a control-plane call names another run than the coordinator's (a worker of an old run). */
export class RunMismatchError extends FacefillError {
  constructor(expected: string, actual: string) {
    super('RUN_MISMATCH', `call for run '${actual}', but this coordinator runs '${expected}'`);
  }
}

/** Thrown when a collective's peer sends nothing within the timeout: the step fails instead of hanging. */
export class CollectiveTimeoutError extends FacefillError {
  constructor(message: string) {
    super('COLLECTIVE_TIMEOUT', message);
  }
}

/** Thrown when a collective receives a malformed or unexpected message for the current operation. */
export class CollectiveMessageError extends FacefillError {
  constructor(message: string) {
    super('COLLECTIVE_MESSAGE', message);
  }
}

/** Thrown when a user-given mask image cannot be read or holds no hole. */
export class MaskFileError extends FacefillError {
  constructor(file: string, reason: string) {
    super('MASK_FILE', `mask ${file}: ${reason}`);
  }
}

/** Thrown when a collective's transport is closed before or while an operation uses it. */
export class CollectiveClosedError extends FacefillError {
  constructor(message: string) {
    super('COLLECTIVE_CLOSED', message);
  }
}

/** Thrown when a run stops before its end: the coordinator said so, a rank failed, or the monitor stopped a collapsed run. */
export class RunStoppedError extends FacefillError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RUN_STOPPED', message, options);
  }
}

/** Thrown when the replicas' weights differ at a checkpoint: data-parallel training diverged. */
export class ReplicasDivergedError extends FacefillError {
  constructor(message: string) {
    super('REPLICAS_DIVERGED', message);
  }
}

/** Thrown when a control-plane call fails: the coordinator is unreachable, too slow, or refused it. */
export class ControlCallError extends FacefillError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONTROL_CALL', message, options);
  }
}
