import { randomBytes } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type FilePiece, readFilePieces } from '../shared/control/file-transfer';
import { CheckpointDigestMismatchError, CheckpointError, CheckpointExistsError, CheckpointUploadClosedError, ReplicasDivergedError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { checkpointFiles, checkpointName, checkpointsDir, installCheckpoint, pointLatestCheckpoint, SEAL_FILE } from '../shared/train/checkpoint';
import type { CheckpointLimits } from '../shared/train/checkpoint-limits';
import { pruneCheckpoints } from '../shared/train/checkpoint-retention';
import { ensureFreeSpace, type StatFs } from '../shared/util/disk-space';
import { pathExists } from '../shared/util/path-exists';
import type { CheckpointPiece, CheckpointReceipt } from './api';
import { CheckpointAgreement } from './checkpoint-agreement';
import { receiveCheckpointUpload, type VerifiedUpload } from './checkpoint-upload';

/** A merged checkpoint: its step and folder, when it was merged and its size. */
export interface MergedCheckpoint {
  step: number;
  dir: string;
  atMs: number;
  bytes: number;
}

/** What a merger needs. */
export interface MergerOptions {
  outDir: string;
  /** `train.keepCheckpoints`. */
  keep: number;
  /** The files an upload may carry and their bounds: `checkpointLimits(config)`. */
  limits: CheckpointLimits;
  log: Logger;
  now: () => number;
  /**
   * Seals a verified upload's folder (writes seal.json into it) before it is published as
   * `checkpoints/step-N`, so that `latest` never names an unsealed checkpoint. None when left out.
   */
  seal?: (dir: string) => Promise<void>;
  /** Reads free disk space (tests pass a fake); node's fs.statfs by default. */
  statfs?: StatFs;
}

// An upload being received: how to stop it, and the step it claims once its first piece came.
interface ActiveUpload {
  abort: AbortController;
  step: number | null;
  settled: Promise<unknown>;
}

/**
 * The merged checkpoints of a run: rank 0 of the current ring generation uploads a checkpoint's
 * files, every rank reports the sha256 of its weights, and the checkpoint is published under
 * `checkpoints/step-NNNNNN` only when every digest agrees (else the replicas diverged) and the
 * uploaded weights hash to that digest (else the upload is not the run's weights). Older
 * checkpoints are pruned to `train.keepCheckpoints`, never the latest nor the newest one merged
 * while the run was healthy (a rollback's target). A new generation starts a new agreement
 * among its own ranks; uploads of the one before are stopped and dropped.
 *
 * Uploads are bounded: only a checkpoint's files, each once and within `limits`; one upload
 * per step at a time; none for a step at or before the latest merged one (a merged checkpoint
 * is immutable; a rollback makes the steps after its target unmerged again); none without disk
 * space to spare; none after {@link close}. A refused or failed upload leaves nothing on disk.
 */
export class CheckpointMerger {
  private agreement = new CheckpointAgreement(1);
  /** Uploads received and verified, waiting for every rank's digest. */
  private readonly received = new Map<number, VerifiedUpload>();
  private readonly active = new Set<ActiveUpload>();
  private generation = -1;
  private merged: MergedCheckpoint | null = null;
  private healthy: MergedCheckpoint | null = null;
  private closedBecause: string | null = null;
  /** Merges run one at a time, in the order they complete: `latest` only ever moves forward. */
  private merging: Promise<void> = Promise.resolve();
  /** Removals of dropped uploads still under way. */
  private cleaning: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: MergerOptions) {}

  /** The newest merged checkpoint, or null. */
  get latest(): MergedCheckpoint | null {
    return this.merged;
  }

  /** The newest checkpoint merged while the run was healthy, or null. */
  get healthyCheckpoint(): MergedCheckpoint | null {
    return this.healthy;
  }

  /** Why the merger closed, or null while it takes uploads. */
  get closedReason(): string | null {
    return this.closedBecause;
  }

  /** Takes over the checkpoints a previous coordinator of this run merged (a resume). */
  adopt(latest: MergedCheckpoint | null): void {
    this.merged = latest;
    this.healthy = latest;
  }

  /** Starts the agreement of ring `generation` among its `worldSize` ranks, stopping and dropping uploads of the ring before. */
  startGeneration(generation: number, worldSize: number): void {
    const ended = this.generation;
    this.generation = generation;
    this.agreement = new CheckpointAgreement(worldSize);
    for (const upload of this.active) upload.abort.abort(new CheckpointError(`the upload for step ${upload.step ?? '(not yet named)'} came from ring generation ${ended}, which has ended`));
    this.dropReceived();
  }

  /** Rolls the published run back to its healthy checkpoint (the latest pointer too); resolves with it. */
  async rollBack(): Promise<MergedCheckpoint> {
    const target = this.healthy;
    if (!target) throw new CheckpointError('no checkpoint was merged while the run was healthy');
    this.merged = target;
    await pointLatestCheckpoint(this.o.outDir, target.dir);
    return target;
  }

  /**
   * Records `rank`'s weights digest for `step`; resolves once the merge it completes is done.
   * `healthy` says whether the run is healthy now (a checkpoint merged while collapsed is no
   * rollback target). Throws ReplicasDivergedError when the digests differ, and
   * CheckpointDigestMismatchError when they agree but the upload waiting for them holds other
   * weights (the upload is removed). After {@link close} a digest merges nothing.
   */
  async recordDigest(step: number, rank: number, sha256: string, healthy: boolean): Promise<void> {
    const verdict = this.agreement.record(step, rank, sha256);
    if (verdict.status === 'diverged') throw new ReplicasDivergedError(verdict.reason);
    await this.tryMerge(step, healthy);
  }

  /**
   * Receives rank 0's upload for the current generation; `accept` checks the first piece against
   * the caller and the plan before anything is written. Resolves with where the checkpoint went
   * (published when the digests had agreed, else waiting for them). Refuses, leaving nothing on
   * disk: after close (CheckpointUploadClosedError); a step merged, older than the latest, or
   * already uploading or uploaded (CheckpointExistsError); too little disk space
   * (DiskSpaceLowError); a file not of a checkpoint or sent twice (ProtocolViolationError); more
   * bytes than `limits` (TransferTooLargeError); weights that are not the agreed ones
   * (CheckpointDigestMismatchError); a bad piece or checksum, or a sender that fails midway.
   */
  async receiveUpload(pieces: AsyncIterable<CheckpointPiece>, accept: (first: CheckpointPiece) => void, healthy: boolean): Promise<CheckpointReceipt> {
    this.refuseIfClosed('a checkpoint upload');
    const upload: ActiveUpload = { abort: new AbortController(), step: null, settled: Promise.resolve() };
    this.active.add(upload);
    const receiving = this.receive(upload, pieces, accept);
    upload.settled = receiving.catch(() => undefined);
    try {
      const { step } = await receiving;
      await this.tryMerge(step, healthy);
      if (this.merged?.step === step) return { step, path: this.merged.dir };
      // Closed between the upload's end and its merge: close() removed it.
      this.refuseIfClosed(`the upload for step ${step}`);
      return { step, path: this.received.get(step)?.dir ?? '' };
    } finally {
      this.active.delete(upload);
    }
  }

  /**
   * Refuses every upload from now on (the run finished or failed: call it then), stops the
   * uploads in flight and removes them and those waiting for digests; resolves once nothing of
   * them is left on disk. A merge under way completes first. Merged checkpoints stay and are
   * still served ({@link pieces}). Closing again keeps the first reason.
   */
  async close(reason: string): Promise<void> {
    this.closedBecause ??= reason;
    const closed = new CheckpointUploadClosedError(`checkpoint uploads are closed: ${this.closedBecause}`);
    for (const upload of this.active) upload.abort.abort(closed);
    await Promise.all([...this.active].map((u) => u.settled));
    await this.merging;
    this.dropReceived();
    await this.cleaning;
  }

  /** The pieces of a merged checkpoint (`step` 0: the latest), meta.json, then its seal when it has one. */
  async *pieces(step: number): AsyncIterable<FilePiece> {
    const dir = step === 0 ? this.merged?.dir : join(checkpointsDir(this.o.outDir), checkpointName(step));
    if (!dir || (step !== 0 && (this.merged === null || step > this.merged.step))) {
      throw new CheckpointError(step === 0 ? 'the run has no merged checkpoint yet' : `the run has no merged checkpoint of step ${step}`);
    }
    for (const name of await checkpointFiles(dir)) yield* readFilePieces(dir, name);
    if (await pathExists(join(dir, SEAL_FILE))) yield* readFilePieces(dir, SEAL_FILE);
  }

  // Receives one upload into a fresh hidden folder under checkpoints/ (a cleanup at start-up
  // knows `.incoming-*`), after its first piece passed the caller's and the merger's checks.
  private async receive(upload: ActiveUpload, pieces: AsyncIterable<CheckpointPiece>, accept: (first: CheckpointPiece) => void): Promise<VerifiedUpload> {
    const root = checkpointsDir(this.o.outDir);
    const dir = join(root, `.incoming-${randomBytes(4).toString('hex')}`);
    const generation = this.generation;
    const { limits } = this.o;
    const admit = async (first: CheckpointPiece): Promise<void> => {
      accept(first);
      this.claim(first.step, upload);
      await ensureFreeSpace(root, limits.totalBytes, `the upload of checkpoint step ${first.step}`, this.o.statfs);
    };
    try {
      const verified = await receiveCheckpointUpload(dir, pieces, { limits, admit, signal: upload.abort.signal });
      // Stopped after its last check (the abort could not reach it): it must not wait for digests.
      if (this.closedBecause !== null || generation !== this.generation) {
        await rm(dir, { recursive: true, force: true });
        this.refuseIfClosed(`the upload for step ${verified.step}`);
        throw new CheckpointError(`the upload for step ${verified.step} came from ring generation ${generation}, which has ended`);
      }
      this.received.set(verified.step, verified);
      return verified;
    } finally {
      // Received (the step is now reserved by `received`) or failed: either way no longer in flight.
      upload.step = null;
    }
  }

  // Reserves `step` for one upload, or refuses it: a step is uploaded once per generation, and
  // never again once merged (a rollback makes the steps after its target unmerged).
  private claim(step: number, upload: ActiveUpload): void {
    this.refuseIfClosed(`the upload for step ${step}`);
    const latest = this.merged;
    if (latest !== null && step === latest.step) throw new CheckpointExistsError(step, `it is merged already (${latest.dir}), and a merged checkpoint is immutable`);
    if (latest !== null && step < latest.step) throw new CheckpointExistsError(step, `the latest merged checkpoint is of step ${latest.step}, a later one`);
    if ([...this.active].some((u) => u !== upload && u.step === step)) throw new CheckpointExistsError(step, 'another upload for it is in progress');
    if (this.received.has(step)) throw new CheckpointExistsError(step, "it was uploaded already and waits for the ranks' digests");
    upload.step = step;
  }

  private refuseIfClosed(what: string): void {
    if (this.closedBecause !== null) throw new CheckpointUploadClosedError(`${what} is refused: checkpoint uploads are closed (${this.closedBecause})`);
  }

  private dropReceived(): void {
    const dirs = [...this.received.values()].map((u) => u.dir);
    this.received.clear();
    this.cleaning = Promise.all([this.cleaning, ...dirs.map((dir) => rm(dir, { recursive: true, force: true }))]);
  }

  // Queues the merge of `step` behind any under way; resolves (or fails) with it.
  private tryMerge(step: number, healthy: boolean): Promise<void> {
    const merge = this.merging.then(() => this.mergeNow(step, healthy));
    this.merging = merge.catch(() => undefined);
    return merge;
  }

  private async mergeNow(step: number, healthy: boolean): Promise<void> {
    const upload = this.received.get(step);
    const verdict = this.agreement.at(step);
    if (this.closedBecause !== null || !upload || verdict.status !== 'agreed') return;
    this.received.delete(step);
    if (upload.weightsSha256 !== verdict.sha256) {
      await rm(upload.dir, { recursive: true, force: true });
      throw new CheckpointDigestMismatchError(step, verdict.sha256, upload.weightsSha256);
    }
    try {
      await this.o.seal?.(upload.dir);
      const dir = await installCheckpoint(this.o.outDir, upload.dir);
      const merged = { step, dir, atMs: this.o.now(), bytes: await checkpointBytes(dir) };
      if (this.merged === null || step > this.merged.step) this.merged = merged;
      if (healthy) this.healthy = merged;
      this.agreement.settle(step);
      this.o.log.info({ step, dir, weightsSha256: verdict.sha256 }, `merged checkpoint of step ${step}: all ${this.agreement.worldSize} replicas agree, and the uploaded weights are theirs`);
      const protect = [this.merged.step, ...(this.healthy ? [this.healthy.step] : [])];
      const pruned = await pruneCheckpoints(this.o.outDir, this.o.keep, protect);
      if (pruned.length > 0) this.o.log.info({ pruned }, `pruned ${pruned.length} old checkpoints (train.keepCheckpoints=${this.o.keep})`);
    } catch (err) {
      await rm(upload.dir, { recursive: true, force: true });
      throw new CheckpointError(`the checkpoint of step ${step} could not be merged: ${(err as Error).message}`, { cause: err });
    }
  }
}

async function checkpointBytes(dir: string): Promise<number> {
  const sizes = await Promise.all((await checkpointFiles(dir)).map(async (f) => (await stat(join(dir, f))).size));
  return sizes.reduce((a, b) => a + b, 0);
}
