import { FacefillError, GrpcStatus } from '../errors';

/** Thrown by `facefill doctor --gpu I` when GPU I cannot run a worker; the message names the GPU and every reason. */
export class GpuUnusableError extends FacefillError {
  constructor(
    readonly gpu: number,
    readonly problems: readonly string[],
  ) {
    super('GPU_UNUSABLE', GrpcStatus.FAILED_PRECONDITION, `GPU ${gpu} is unusable: ${problems.join('; ')}`);
  }
}
