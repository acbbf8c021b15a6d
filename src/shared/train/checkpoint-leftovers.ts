import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory, isTemporaryName, setAsideOriginal } from '../util/atomic-write';
import { pathExists } from '../util/path-exists';
import { checkpointsDir } from './checkpoint';

/**
 * What {@link removeCheckpointLeftovers} did, by path: the caller logs it.
 */
export interface CheckpointLeftovers {
  /** Temporary files and folders deleted. */
  removed: string[];
  /** Checkpoint folders a crash had left set aside, moved back under their names. */
  restored: string[];
}

// Names of writes in progress that are not atomic-write's own (see isTemporaryName):
// the coordinator receives an upload into `.incoming-<random>` and a worker downloads into
// `.incoming-step-<n>`; writeFilePieces receives a file as `.<name>.partial-<pid>`.
const TRANSFER_LEFTOVERS = [/^\.incoming-/, /^\..+\.partial-\d+$/];

/**
 * Cleans what interrupted writes left in the checkpoints folder of the run in `outDir`:
 * temporary checkpoint folders and pointer files, unfinished uploads and downloads, and
 * folders being deleted are removed; a checkpoint folder set aside to be replaced is moved
 * back when nothing took its name. A `step-NNNNNN` folder or the `latest` pointer is never
 * touched. Call it while nothing writes into the folder (e.g. when a coordinator starts):
 * a write in progress looks like a leftover.
 */
export async function removeCheckpointLeftovers(outDir: string): Promise<CheckpointLeftovers> {
  const root = checkpointsDir(outDir);
  const done: CheckpointLeftovers = { removed: [], restored: [] };
  let names: string[];
  try {
    names = await readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return done;
    throw err;
  }
  for (const name of names) {
    const path = join(root, name);
    const original = setAsideOriginal(name);
    if (original !== null && !(await pathExists(join(root, original)))) {
      await rename(path, join(root, original));
      done.restored.push(join(root, original));
    } else if (original !== null || isTemporaryName(name) || TRANSFER_LEFTOVERS.some((p) => p.test(name))) {
      await rm(path, { recursive: true, force: true });
      done.removed.push(path);
    }
  }
  if (done.restored.length > 0) await fsyncDirectory(root);
  return done;
}
