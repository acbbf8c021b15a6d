import { rm } from 'node:fs/promises';
import type { FilePiece } from '../shared/control/file-transfer';
import { writeFilePieces } from '../shared/control/file-transfer';
import { ProtocolViolationError } from '../shared/errors';
import { CHECKPOINT_FILES, verifyCheckpoint } from '../shared/train/checkpoint';
import type { CheckpointLimits } from '../shared/train/checkpoint-limits';
import { checkpointWeightsSha256 } from '../shared/train/checkpoint-weights';
import { abortable } from '../shared/util/abortable';
import type { CheckpointPiece } from './api';

/** A checkpoint upload received whole and checked: its folder, its step and the weights digest of its bytes. */
export interface VerifiedUpload {
  step: number;
  dir: string;
  /** sha256 of its two weights.bin files, comparable with the digests ranks report. */
  weightsSha256: string;
}

/** What one upload must meet. */
export interface UploadRules {
  /** The files admitted and their largest sizes (`checkpointLimits(config)`). */
  limits: CheckpointLimits;
  /**
   * Called with the first piece, before anything is written: throws to refuse the upload (a
   * wrong caller or step, a step already merged, too little disk space).
   */
  admit: (first: CheckpointPiece) => Promise<void> | void;
  /** Aborts the upload at once, with the signal's reason (the run closed, the ring regrouped). */
  signal: AbortSignal;
}

// The files meta.json must list: all of a checkpoint's but itself.
const LISTED = CHECKPOINT_FILES.filter((f) => f !== 'meta.json');

/**
 * Receives one checkpoint upload into `dir` (a fresh folder) and checks it before anyone may
 * merge it: every piece carries the first one's header; only a checkpoint's files come, each
 * once and within its bound; meta.json lists exactly those files and names the step of the
 * header (else a header of a new step could carry a merged step's files); every file matches
 * its sha256. On any failure (a refusal, a bad piece, a bound, the sender's stream failing
 * midway, an abort) `dir` is removed before the error propagates: nothing half-received stays.
 */
export async function receiveCheckpointUpload(dir: string, pieces: AsyncIterable<CheckpointPiece>, rules: UploadRules): Promise<VerifiedUpload> {
  let header: CheckpointPiece | null = null;
  async function* checked(): AsyncIterable<FilePiece> {
    for await (const p of abortable(pieces, rules.signal)) {
      if (header === null) {
        await rules.admit(p);
        header = p;
      } else if (p.step !== header.step || p.generation !== header.generation || p.runId !== header.runId || p.rank !== header.rank) {
        throw new ProtocolViolationError(`a checkpoint upload for step ${header.step} carried a piece of step ${p.step} of generation ${p.generation}, rank ${p.rank}`);
      }
      yield p;
    }
  }
  try {
    await writeFilePieces(dir, checked(), { files: rules.limits.files, maxBytes: rules.limits.totalBytes });
    const first = header as CheckpointPiece | null;
    if (first === null) throw new ProtocolViolationError('an empty checkpoint upload');
    rules.signal.throwIfAborted();
    const { step } = await verifyCheckpoint(dir, LISTED);
    if (step !== first.step) throw new ProtocolViolationError(`the upload for step ${first.step} holds a checkpoint of step ${step} (its meta.json)`);
    const weightsSha256 = await checkpointWeightsSha256(dir);
    rules.signal.throwIfAborted();
    return { step, dir, weightsSha256 };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
