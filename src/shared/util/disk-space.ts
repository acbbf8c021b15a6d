import { statfs as nodeStatfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { DiskSpaceLowError } from '../errors';

/** What {@link ensureFreeSpace} reads of a file system: node's `fs.statfs` numbers, or a stand-in in tests. */
export interface FileSystemSpace {
  /** Size of a block in bytes. */
  bsize: number;
  /** Blocks in the file system. */
  blocks: number;
  /** Blocks free to an unprivileged process. */
  bavail: number;
}

/** Reads the space of the file system holding a path (node's `fs.statfs` by default). */
export type StatFs = (path: string) => Promise<FileSystemSpace>;

/** Space always left free: a full disk breaks more than the write that filled it (logs, run.json, the database of another tenant). */
export const MIN_FREE_BYTES = 256 * 2 ** 20;

/** Fraction of the file system always left free, when that is more than {@link MIN_FREE_BYTES}. */
export const MIN_FREE_FRACTION = 0.01;

/**
 * Refuses with a {@link DiskSpaceLowError} to start writing `neededBytes` into `dir` when
 * that would leave less free than max(256 MiB, 1% of the file system); `what` names the write
 * in the message. Checked before a transfer starts, so a refusal leaves nothing half-written;
 * other writers may still fill the disk meanwhile, which the write itself then reports.
 * `dir` need not exist yet: the nearest existing ancestor's file system is read.
 */
export async function ensureFreeSpace(dir: string, neededBytes: number, what: string, statfs: StatFs = nodeStatfs): Promise<void> {
  if (!Number.isFinite(neededBytes) || neededBytes < 0) throw new RangeError(`${what}: needed bytes ${neededBytes} is not a size`);
  const space = await statExisting(resolve(dir), statfs);
  const free = space.bavail * space.bsize;
  const margin = Math.max(MIN_FREE_BYTES, Math.ceil(space.blocks * space.bsize * MIN_FREE_FRACTION));
  if (free - neededBytes >= margin) return;
  throw new DiskSpaceLowError(
    `not enough disk space for ${what} in ${dir}: it needs up to ${mib(neededBytes)}, ${mib(free)} is free, and ${mib(margin)} must stay free`,
  );
}

async function statExisting(path: string, statfs: StatFs): Promise<FileSystemSpace> {
  for (let p = path; ; p = dirname(p)) {
    try {
      return await statfs(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || p === dirname(p)) throw err;
    }
  }
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB (${bytes} bytes)`;
}
