import * as grpc from '@grpc/grpc-js';
import type { CheckpointAck__Output } from '../../generated/facefill/v1/CheckpointAck';
import type { CoordinatorClient } from '../../generated/facefill/v1/Coordinator';
import type { FileChunk, FileChunk__Output } from '../../generated/facefill/v1/FileChunk';
import type { Directive__Output } from '../../generated/facefill/v1/Directive';
import type { WatchRequest } from '../../generated/facefill/v1/WatchRequest';
import type { HeartbeatRequest } from '../../generated/facefill/v1/HeartbeatRequest';
import type { RegisterReply__Output } from '../../generated/facefill/v1/RegisterReply';
import type { RegisterRequest } from '../../generated/facefill/v1/RegisterRequest';
import type { RunStatus__Output } from '../../generated/facefill/v1/RunStatus';
import type { StepReport } from '../../generated/facefill/v1/StepReport';
import { ControlCallError } from '../errors';
import { type ClientSecurity, clientCredentials } from './channel-security';
import { MAX_MESSAGE_BYTES } from './field-limits';
import type { FilePiece } from './file-transfer';
import { loadControlProto } from './proto';

// Calls made while the coordinator may still be starting wait for it (until their deadline)
// instead of failing at once.
function waitForReady(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.setOptions({ waitForReady: true });
  return metadata;
}

/**
 * The coordinator's client, for workers and for `facefill pull`/`status`: promise-based, every
 * call with a deadline (nothing waits forever on a coordinator that vanished), and every
 * failure a ControlCallError naming the coordinator, the call and the gRPC status.
 */
export class ControlClient {
  private readonly client: CoordinatorClient;

  constructor(
    readonly address: string,
    security: ClientSecurity,
  ) {
    const v1 = loadControlProto();
    const { credentials, options } = clientCredentials(security);
    // Generous keepalives: a stalled TCP link is noticed, not waited on.
    this.client = new v1.Coordinator(address, credentials, {
      ...options,
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.keepalive_time_ms': 20_000,
      'grpc.keepalive_timeout_ms': 10_000,
    });
  }

  /** Joins the run; waits (up to `timeoutMs`) for the coordinator to come up and for the rendezvous. */
  register(request: RegisterRequest, timeoutMs: number): Promise<RegisterReply__Output> {
    return this.unary('Register', timeoutMs, (opts, cb) => this.client.Register(request, waitForReady(), opts, cb));
  }

  heartbeat(request: HeartbeatRequest, timeoutMs: number): Promise<Directive__Output> {
    return this.unary('Heartbeat', timeoutMs, (opts, cb) => this.client.Heartbeat(request, opts, cb));
  }

  reportStep(report: StepReport, timeoutMs: number): Promise<Directive__Output> {
    return this.unary('ReportStep', timeoutMs, (opts, cb) => this.client.ReportStep(report, opts, cb));
  }

  /**
   * Opens this worker's live link for its ring generation: every directive the coordinator
   * pushes goes to `onDirective`; `ended` resolves with why the link ended (the coordinator
   * closed it, or it broke). It has no deadline: it lasts as long as the ring.
   */
  watch(request: WatchRequest, onDirective: (d: Directive__Output) => void): { ended: Promise<string>; close: () => void } {
    const stream = this.client.Watch(request);
    stream.on('data', (d: Directive__Output) => onDirective(d));
    const ended = new Promise<string>((resolve) => {
      stream.on('end', () => resolve('the coordinator ended the link'));
      stream.on('error', (err: grpc.ServiceError) => resolve(this.failure('Watch', err).message));
    });
    return { ended, close: () => stream.cancel() };
  }

  status(timeoutMs: number): Promise<RunStatus__Output> {
    return this.unary('Status', timeoutMs, (opts, cb) => this.client.Status({}, waitForReady(), opts, cb));
  }

  shutdown(reason: string, timeoutMs: number): Promise<void> {
    return this.unary('Shutdown', timeoutMs, (opts, cb) => this.client.Shutdown({ reason }, opts, cb)).then(() => undefined);
  }

  /** One dataset file's pieces; the whole download must end within `timeoutMs`. */
  downloadDataset(runId: string, name: string, timeoutMs: number): AsyncIterable<FilePiece> {
    return this.pieces('DownloadDataset', () => this.client.DownloadDataset({ runId, name }, { deadline: Date.now() + timeoutMs }));
  }

  /** A merged checkpoint's pieces (`step` 0: the latest), meta.json last. */
  downloadCheckpoint(step: number, timeoutMs: number): AsyncIterable<FilePiece> {
    return this.pieces('DownloadCheckpoint', () => this.client.DownloadCheckpoint({ step }, waitForReady(), { deadline: Date.now() + timeoutMs }));
  }

  /** Uploads a checkpoint's pieces as rank `rank` (holding `session`) of ring `generation` of run `runId`, at `step`. */
  async uploadCheckpoint(header: { runId: string; generation: number; rank: number; session: string; step: number }, pieces: AsyncIterable<FilePiece>, timeoutMs: number): Promise<CheckpointAck__Output> {
    let call: grpc.ClientWritableStream<FileChunk> | undefined;
    const done = this.unary<CheckpointAck__Output>('UploadCheckpoint', timeoutMs, (opts, cb) => {
      call = this.client.UploadCheckpoint(opts, cb);
      return call;
    });
    const stream = call as unknown as grpc.ClientWritableStream<FileChunk>;
    // The coordinator may answer (refuse) before it has read every piece: its answer ends the
    // upload too, so no write waits for a drain that will not come, and no refusal goes unheard.
    let answered = false;
    const answer = done.then(
      () => void (answered = true),
      () => void (answered = true),
    );
    try {
      for await (const p of pieces) {
        if (answered) break;
        const chunk: FileChunk = { ...header, name: p.name, offset: p.offset, data: p.data, last: p.last, totalBytes: p.totalBytes, sha256: p.sha256 };
        if (!stream.write(chunk)) await Promise.race([new Promise((resolve) => stream.once('drain', resolve)), answer]);
      }
      stream.end();
    } catch (err) {
      stream.cancel();
      await done.catch(() => undefined);
      throw err;
    }
    return done;
  }

  close(): void {
    this.client.close();
  }

  private unary<T>(method: string, timeoutMs: number, start: (opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, value?: T) => void) => unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      start({ deadline: Date.now() + timeoutMs }, (err, value) => (err ? reject(this.failure(method, err, timeoutMs)) : resolve(value as T)));
    });
  }

  private async *pieces(method: string, open: () => grpc.ClientReadableStream<FileChunk__Output>): AsyncIterable<FilePiece> {
    const stream = open();
    try {
      for await (const c of stream as AsyncIterable<FileChunk__Output>) {
        yield { name: c.name, offset: c.offset, data: Buffer.from(c.data), last: c.last, totalBytes: c.totalBytes, sha256: c.sha256 };
      }
    } catch (err) {
      throw this.failure(method, err as grpc.ServiceError);
    } finally {
      stream.cancel();
    }
  }

  private failure(method: string, err: grpc.ServiceError, timeoutMs?: number): ControlCallError {
    const status = grpc.status[err.code] ?? String(err.code);
    const hint =
      err.code === grpc.status.DEADLINE_EXCEEDED && timeoutMs !== undefined
        ? ` (no answer within ${(timeoutMs / 1000).toFixed(1)} s)`
        : err.code === grpc.status.UNAVAILABLE
          ? ' (is the coordinator running and reachable?)'
          : '';
    // grpc-js appends its internal timings to a deadline's details: the hint says it better.
    const details = err.code === grpc.status.DEADLINE_EXCEEDED ? 'deadline exceeded' : err.details || err.message;
    return new ControlCallError(`coordinator ${this.address}: ${method} failed: ${status}: ${details}${hint}`, err.code, { cause: err });
  }
}
