import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControlClient } from '../shared/control/client';
import { readFilePieces, writeFilePieces } from '../shared/control/file-transfer';
import { type CheckpointContent, checkpointFiles, checkpointsDir, installCheckpoint, saveCheckpoint } from '../shared/train/checkpoint';
import { pruneCheckpoints } from '../shared/train/checkpoint-retention';

/** Who uploads a checkpoint: rank 0 of one ring generation of one run, with its session secret. */
export interface Uploader {
  runId: string;
  generation: number;
  session: string;
}

/**
 * Downloads the merged checkpoint of `step` (verified piece by piece) into the worker's run
 * folder `runDir`, as the folder's latest checkpoint: what a ring starts from after a rollback
 * or when no worker holds a state.
 */
export async function fetchCheckpoint(client: ControlClient, step: number, runDir: string, timeoutMs: number): Promise<void> {
  // Under checkpoints/, where a cleanup of the run folder finds what a crash left half-written.
  const incoming = join(checkpointsDir(runDir), `.incoming-step-${step}`);
  await rm(incoming, { recursive: true, force: true });
  await writeFilePieces(incoming, client.downloadCheckpoint(step, timeoutMs));
  await installCheckpoint(runDir, incoming);
}

/**
 * Saves rank 0's checkpoint in the worker's run folder and uploads its files to the coordinator,
 * which merges it once every rank's digest agrees; resolves with the folder. Only the newest
 * local copy is kept: the coordinator keeps the run's checkpoints.
 */
export async function uploadCheckpoint(client: ControlClient, who: Uploader, runDir: string, content: CheckpointContent, timeoutMs: number): Promise<string> {
  const dir = await saveCheckpoint(runDir, content);
  const files = await checkpointFiles(dir);
  async function* pieces() {
    for (const name of files) yield* readFilePieces(dir, name);
  }
  await client.uploadCheckpoint({ ...who, rank: 0, step: content.step }, pieces(), timeoutMs);
  await pruneCheckpoints(runDir, 1, []);
  return dir;
}
