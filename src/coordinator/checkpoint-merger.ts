import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type FilePiece, readFilePieces, writeFilePieces } from '../shared/control/file-transfer';
import { CheckpointError, ProtocolViolationError, ReplicasDivergedError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { checkpointFiles, checkpointName, checkpointsDir, installCheckpoint, pointLatestCheckpoint } from '../shared/train/checkpoint';
import { pruneCheckpoints } from '../shared/train/checkpoint-retention';
import type { CheckpointPiece, CheckpointReceipt } from './api';
import { CheckpointAgreement } from './checkpoint-agreement';

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
  log: Logger;
  now: () => number;
}

/**
 * The merged checkpoints of a run: rank 0 of the current ring generation uploads a checkpoint's
 * files, every rank reports the sha256 of its weights, and the checkpoint is published under
 * `checkpoints/step-NNNNNN` only when every digest agrees (else the replicas diverged). Older
 * checkpoints are pruned to `train.keepCheckpoints`, never the latest nor the newest one merged
 * while the run was healthy (a rollback's target). A new generation starts a new agreement
 * among its own ranks; uploads of the one before are dropped.
 */
export class CheckpointMerger {
  private agreement = new CheckpointAgreement(1);
  private readonly uploads = new Map<number, string>();
  private generation = -1;
  private merged: MergedCheckpoint | null = null;
  private healthy: MergedCheckpoint | null = null;

  constructor(private readonly o: MergerOptions) {}

  /** The newest merged checkpoint, or null. */
  get latest(): MergedCheckpoint | null {
    return this.merged;
  }

  /** The newest checkpoint merged while the run was healthy, or null. */
  get healthyCheckpoint(): MergedCheckpoint | null {
    return this.healthy;
  }

  /** Takes over the checkpoints a previous coordinator of this run merged (a resume). */
  adopt(latest: MergedCheckpoint | null): void {
    this.merged = latest;
    this.healthy = latest;
  }

  /** Starts the agreement of ring `generation` among its `worldSize` ranks, dropping uploads of the ring before. */
  startGeneration(generation: number, worldSize: number): void {
    this.generation = generation;
    this.agreement = new CheckpointAgreement(worldSize);
    for (const dir of this.uploads.values()) void rm(dir, { recursive: true, force: true });
    this.uploads.clear();
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
   * rollback target). Throws ReplicasDivergedError when the digests differ.
   */
  async recordDigest(step: number, rank: number, sha256: string, healthy: boolean): Promise<void> {
    const verdict = this.agreement.record(step, rank, sha256);
    if (verdict.status === 'diverged') throw new ReplicasDivergedError(verdict.reason);
    await this.tryMerge(step, healthy);
  }

  /** Receives rank 0's upload for the current generation (pieces checked against the caller and the plan by `accept`). */
  async receiveUpload(pieces: AsyncIterable<CheckpointPiece>, accept: (first: CheckpointPiece) => void, healthy: boolean): Promise<CheckpointReceipt> {
    const incoming = join(checkpointsDir(this.o.outDir), `.incoming-${randomBytes(4).toString('hex')}`);
    let header: CheckpointPiece | null = null;
    const generation = this.generation;
    async function* checked(): AsyncIterable<FilePiece> {
      for await (const p of pieces) {
        if (header === null) {
          accept(p);
          header = p;
        } else if (p.step !== header.step || p.generation !== header.generation || p.runId !== header.runId) {
          throw new ProtocolViolationError(`a checkpoint upload for step ${header.step} carried a piece of step ${p.step} of generation ${p.generation}`);
        }
        yield p;
      }
    }
    try {
      await mkdir(incoming, { recursive: true });
      await writeFilePieces(incoming, checked());
      if (header === null) throw new ProtocolViolationError('an empty checkpoint upload');
    } catch (err) {
      await rm(incoming, { recursive: true, force: true });
      throw err;
    }
    const step = (header as CheckpointPiece).step;
    if (generation !== this.generation) {
      // The ring regrouped while the files came in: its checkpoint is no longer wanted.
      await rm(incoming, { recursive: true, force: true });
      throw new CheckpointError(`the upload for step ${step} came from ring generation ${generation}, which has ended`);
    }
    const old = this.uploads.get(step);
    if (old) await rm(old, { recursive: true, force: true });
    this.uploads.set(step, incoming);
    await this.tryMerge(step, healthy);
    return { step, path: this.merged?.step === step ? this.merged.dir : incoming };
  }

  /** The pieces of a merged checkpoint (`step` 0: the latest), meta.json last. */
  async *pieces(step: number): AsyncIterable<FilePiece> {
    const dir = step === 0 ? this.merged?.dir : join(checkpointsDir(this.o.outDir), checkpointName(step));
    if (!dir || (step !== 0 && (this.merged === null || step > this.merged.step))) {
      throw new CheckpointError(step === 0 ? 'the run has no merged checkpoint yet' : `the run has no merged checkpoint of step ${step}`);
    }
    for (const name of await checkpointFiles(dir)) yield* readFilePieces(dir, name);
  }

  private async tryMerge(step: number, healthy: boolean): Promise<void> {
    const upload = this.uploads.get(step);
    const verdict = this.agreement.at(step);
    if (!upload || verdict.status !== 'agreed') return;
    this.uploads.delete(step);
    try {
      const dir = await installCheckpoint(this.o.outDir, upload);
      const merged = { step, dir, atMs: this.o.now(), bytes: await checkpointBytes(dir) };
      if (this.merged === null || step > this.merged.step) this.merged = merged;
      if (healthy) this.healthy = merged;
      this.agreement.settle(step);
      this.o.log.info({ step, dir, weightsSha256: verdict.sha256 }, `merged checkpoint of step ${step}: all ${this.agreement.worldSize} replicas agree`);
      const protect = [this.merged.step, ...(this.healthy ? [this.healthy.step] : [])];
      const pruned = await pruneCheckpoints(this.o.outDir, this.o.keep, protect);
      if (pruned.length > 0) this.o.log.info({ pruned }, `pruned ${pruned.length} old checkpoints (train.keepCheckpoints=${this.o.keep})`);
    } catch (err) {
      await rm(upload, { recursive: true, force: true });
      throw new CheckpointError(`the checkpoint of step ${step} could not be merged: ${(err as Error).message}`, { cause: err });
    }
  }
}

async function checkpointBytes(dir: string): Promise<number> {
  const sizes = await Promise.all((await checkpointFiles(dir)).map(async (f) => (await stat(join(dir, f))).size));
  return sizes.reduce((a, b) => a + b, 0);
}
