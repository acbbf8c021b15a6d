import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControlClient } from '../shared/control/client';
import { readFilePieces, writeFilePieces } from '../shared/control/file-transfer';
import { type CheckpointContent, CHECKPOINT_FILES, checkpointFiles, checkpointsDir, installCheckpoint, SEAL_FILE, saveCheckpoint } from '../shared/train/checkpoint';
import { type CheckpointLimits, checkpointLimits } from '../shared/train/checkpoint-limits';
import { pruneCheckpoints } from '../shared/train/checkpoint-retention';
import { ensureFreeSpace, type StatFs } from '../shared/util/disk-space';

/** Who uploads a checkpoint: rank 0 of one ring generation of one run, with its session secret. */
export interface Uploader {
  runId: string;
  generation: number;
  session: string;
}

/** Bounds of a checkpoint download. */
export interface DownloadBounds {
  /** The files and sizes admitted: `checkpointLimits(config, true)` (sealed). Without it, any size of a checkpoint's files and its seal. */
  limits?: CheckpointLimits;
  /** Reads free disk space (tests pass a fake); node's fs.statfs by default. */
  statfs?: StatFs;
}

// Without the run's limits: the names of a sealed checkpoint, each of any size.
const ANY_SIZE: CheckpointLimits = { files: new Map([...CHECKPOINT_FILES, SEAL_FILE].map((f) => [f, Number.POSITIVE_INFINITY])), totalBytes: 0 };

/**
 * Downloads the merged checkpoint of `step` (verified piece by piece) into the worker's run
 * folder `runDir`, as the folder's latest checkpoint: what a ring starts from after a rollback
 * or when no worker holds a state. Only a checkpoint's files and its seal are admitted, each
 * once and within `bounds.limits`; a download is refused (DiskSpaceLowError) when it would leave
 * the disk too full, and one that fails leaves nothing behind.
 */
export async function fetchCheckpoint(client: Pick<ControlClient, 'downloadCheckpoint'>, step: number, runDir: string, timeoutMs: number, bounds: DownloadBounds = {}): Promise<void> {
  const limits = bounds.limits ?? ANY_SIZE;
  await ensureFreeSpace(checkpointsDir(runDir), limits.totalBytes, `the download of checkpoint step ${step}`, bounds.statfs);
  // Under checkpoints/, where a cleanup of the run folder finds what a crash left half-written.
  const incoming = join(checkpointsDir(runDir), `.incoming-step-${step}`);
  await rm(incoming, { recursive: true, force: true });
  try {
    await writeFilePieces(incoming, client.downloadCheckpoint(step, timeoutMs), { files: limits.files, maxBytes: bounds.limits?.totalBytes });
    await installCheckpoint(runDir, incoming);
  } catch (err) {
    await rm(incoming, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Saves rank 0's checkpoint in the worker's run folder and uploads its files to the coordinator,
 * which merges it once every rank's digest agrees; resolves with the folder. Only the newest
 * local copy is kept: the coordinator keeps the run's checkpoints. Refused (DiskSpaceLowError)
 * before anything is written when a checkpoint of this size would leave the disk too full.
 */
export async function uploadCheckpoint(
  client: Pick<ControlClient, 'uploadCheckpoint'>,
  who: Uploader,
  runDir: string,
  content: CheckpointContent,
  timeoutMs: number,
  statfs?: StatFs,
): Promise<string> {
  await ensureFreeSpace(runDir, checkpointLimits(content.config).totalBytes, `the checkpoint of step ${content.step}`, statfs);
  const dir = await saveCheckpoint(runDir, content);
  const files = await checkpointFiles(dir);
  async function* pieces() {
    for (const name of files) yield* readFilePieces(dir, name);
  }
  await client.uploadCheckpoint({ ...who, rank: 0, step: content.step }, pieces(), timeoutMs);
  await pruneCheckpoints(runDir, 1, []);
  return dir;
}
