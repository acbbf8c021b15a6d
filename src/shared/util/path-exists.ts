import * as nodeFs from 'node:fs/promises';

/**
 * Whether something exists at `path`. Only "no such entry" answers no (including a parent
 * that is a file); any other failure, such as a permission denied, is thrown, so that a
 * caller never takes an unreadable folder for an empty one.
 */
export async function pathExists(path: string, fs: Pick<typeof nodeFs, 'stat'> = nodeFs): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}
