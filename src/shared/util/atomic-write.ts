import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pathExists } from './path-exists';

/**
 * Durable writes: a file or folder appears under its name whole or not at all, and once a
 * call resolves it survives a crash or power loss. Data goes under a hidden temporary sibling
 * name, is fsynced, is renamed into place, and then the containing directory is fsynced: a
 * rename is only durable once the directory entry it changed is on disk.
 *
 * Every function takes the file system as an optional last argument, so that a test can pass
 * one that records or fails calls; callers leave it out.
 */

/** The file-system calls durable writes make: node:fs/promises, or a stand-in in tests. */
export type DurableFs = Pick<typeof nodeFs, 'mkdir' | 'open' | 'readdir' | 'rename' | 'rm' | 'stat'>;

const TEMPORARY = /^\..+\.tmp-\d+-[0-9a-f]{8}$/;
const REMOVING = '.removing-';
const REPLACED = '.replaced-';
const SET_ASIDE = /^\.replaced-(.+)-[0-9a-f]{8}$/;

/** A hidden sibling of `path` for a write in progress: `<dir>/.<name>.tmp-<pid>-<random>`. */
export function temporarySibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${random()}`);
}

/**
 * Whether `name` is one an interrupted write of this module leaves behind with nothing worth
 * keeping: a {@link temporarySibling}, or a folder {@link removeDirectory} was deleting.
 */
export function isTemporaryName(name: string): boolean {
  return TEMPORARY.test(name) || name.startsWith(REMOVING);
}

/**
 * The name of the folder that {@link installDirectory} set aside as `name` to replace it, or
 * null when `name` is no such folder. A crash between setting it aside and moving the new
 * folder in leaves it as the only copy, so a cleanup puts it back when its name is free.
 */
export function setAsideOriginal(name: string): string | null {
  return SET_ASIDE.exec(name)?.[1] ?? null;
}

/**
 * Writes `data` to `path` atomically and durably (a crash leaves the old content or the new, never a mix), creating the parent folder if missing.
 * `options.mode` is the new file's permission bits (less the umask), given at creation so that a
 * secret is never readable by others, not even for the moment between a write and a chmod.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, fs: DurableFs = nodeFs, options: { mode?: number } = {}): Promise<void> {
  const dir = dirname(path);
  await ensureDirectory(dir, fs);
  const tmp = temporarySibling(path);
  try {
    const file = await fs.open(tmp, 'w', options.mode);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDirectory(dir, fs);
}

/** Flushes a directory's entries (the files created, renamed or removed in it) to disk. */
export async function fsyncDirectory(dir: string, fs: DurableFs = nodeFs): Promise<void> {
  await fsyncPath(dir, fs);
}

/** Creates `dir` and any missing parents durably: the parent of each folder it creates is fsynced. */
export async function ensureDirectory(dir: string, fs: DurableFs = nodeFs): Promise<void> {
  const first = await fs.mkdir(dir, { recursive: true });
  if (first === undefined) return;
  const top = resolve(first);
  for (let d = resolve(dir); ; d = dirname(d)) {
    await fsyncDirectory(dirname(d), fs);
    if (d === top || d === dirname(d)) return;
  }
}

/**
 * Moves a finished folder `from` (on the same file system) to `to` durably: every file and
 * folder in `from` is fsynced, the move is one rename (so `to` appears whole), and `to`'s
 * parent, created if missing, is fsynced after it. An existing `to` is set aside first and
 * deleted only once the new folder is in place; if the move fails it is put back.
 */
export async function installDirectory(from: string, to: string, fs: DurableFs = nodeFs): Promise<void> {
  await fsyncTree(from, fs);
  const parent = dirname(to);
  await ensureDirectory(parent, fs);
  const aside = (await pathExists(to, fs)) ? join(parent, `${REPLACED}${basename(to)}-${random()}`) : null;
  if (aside !== null) await fs.rename(to, aside);
  try {
    await fs.rename(from, to);
  } catch (err) {
    if (aside !== null) await fs.rename(aside, to);
    throw err;
  }
  await fsyncDirectory(parent, fs);
  if (aside !== null) await fs.rm(aside, { recursive: true, force: true });
}

/**
 * Deletes a folder so that a crash never leaves part of it under its name: it is renamed to
 * a name {@link isTemporaryName} knows, the rename made durable, and only then deleted.
 */
export async function removeDirectory(dir: string, fs: DurableFs = nodeFs): Promise<void> {
  const aside = join(dirname(dir), `${REMOVING}${basename(dir)}-${random()}`);
  await fs.rename(dir, aside);
  await fsyncDirectory(dirname(dir), fs);
  await fs.rm(aside, { recursive: true, force: true });
}

// Children first: a folder's entries are worth flushing only once what they name is on disk.
async function fsyncTree(dir: string, fs: DurableFs): Promise<void> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await fsyncTree(path, fs);
    else await fsyncPath(path, fs);
  }
  await fsyncDirectory(dir, fs);
}

// A read-only descriptor suffices: fsync flushes the inode's data whatever wrote it.
async function fsyncPath(path: string, fs: DurableFs): Promise<void> {
  const handle = await fs.open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function random(): string {
  return randomBytes(4).toString('hex');
}
