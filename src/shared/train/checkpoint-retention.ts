import { basename, join } from 'node:path';
import { removeDirectory } from '../util/atomic-write';
import { checkpointName, checkpointsDir, checkpointStep, latestCheckpoint, listCheckpointSteps } from './checkpoint';

/**
 * Checkpoint retention (`train.keepCheckpoints`): the policy as a pure function, and the
 * pruning of a run folder that carries it out.
 */

/**
 * The checkpoint steps to delete, oldest first, so that the `keep` newest of `steps` remain
 * plus every protected step (the latest merged checkpoint, a rollback target): a protected
 * step among the newest counts as one of the `keep`, an older one is kept on top of them.
 * `keep` 0 keeps everything. `steps` may come in any order; protected steps that are not
 * among them are ignored.
 */
export function checkpointsToPrune(steps: readonly number[], keep: number, protectedSteps: Iterable<number>): number[] {
  if (keep === 0) return [];
  const guarded = new Set(protectedSteps);
  const newestFirst = [...new Set(steps)].sort((a, b) => b - a);
  return newestFirst
    .slice(keep)
    .filter((step) => !guarded.has(step))
    .reverse();
}

/**
 * Deletes the checkpoint folders of the run in `outDir` that {@link checkpointsToPrune}
 * picks and resolves with their paths, oldest first. The checkpoint the `latest` pointer
 * names is protected as well, whatever the caller passes, so {@link latestCheckpoint} keeps
 * working; a pointer that cannot be read is a CheckpointError and nothing is deleted. Each
 * folder is deleted via a temporary name, so a crash never leaves half a checkpoint under a
 * `step-NNNNNN` name (`removeCheckpointLeftovers` removes the rest). Do not run it while a
 * checkpoint it may pick is being read, e.g. sent to a worker.
 */
export async function pruneCheckpoints(outDir: string, keep: number, protectedSteps: Iterable<number>): Promise<string[]> {
  const latest = await latestCheckpoint(outDir);
  const guarded = new Set(protectedSteps);
  const latestStep = latest === null ? null : checkpointStep(basename(latest));
  if (latestStep !== null) guarded.add(latestStep);
  const deleted: string[] = [];
  for (const step of checkpointsToPrune(await listCheckpointSteps(outDir), keep, guarded)) {
    const dir = join(checkpointsDir(outDir), checkpointName(step));
    await removeDirectory(dir);
    deleted.push(dir);
  }
  return deleted;
}
