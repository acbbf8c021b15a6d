import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigInvalidError } from '../errors';

/**
 * A private directory for one process's ipc ring sockets. A Unix socket file is reachable by
 * whoever can open its path, and libzmq creates it with the umask's mode, so the sockets live
 * in a directory only this user can enter (mkdtemp makes it 0700) instead of in /tmp itself.
 * The directory is removed on {@link close} and, if still there, when the process exits.
 */
export class IpcDirectory {
  private closed = false;

  private constructor(
    /** The directory's absolute path. */
    readonly path: string,
  ) {}

  /** Creates a fresh directory `<os.tmpdir()>/<prefix>XXXXXX`, mode 0700. */
  static create(prefix = 'facefill-ring-'): IpcDirectory {
    const dir = new IpcDirectory(mkdtempSync(join(tmpdir(), prefix)));
    OPEN.add(dir);
    if (!exitHooked) {
      process.on('exit', removeOpenDirectories);
      exitHooked = true;
    }
    return dir;
  }

  /**
   * The ipc endpoint of a socket file named `name` in this directory. Throws ConfigInvalidError
   * when `name` is not a plain file name or the path is too long for a Unix socket.
   */
  endpoint(name: string): string {
    if (this.closed) throw new Error(`the ipc directory ${this.path} is closed`);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name) || /^\.\.?$/.test(name)) {
      throw new ConfigInvalidError(`ipc socket name '${name}': expected 1 to 64 letters, digits, '.', '_' or '-'`);
    }
    const path = join(this.path, name);
    const bytes = Buffer.byteLength(path);
    if (bytes > MAX_SOCKET_PATH_BYTES) {
      throw new ConfigInvalidError(`ipc socket path ${path} is ${bytes} bytes; a Unix socket path holds at most ${MAX_SOCKET_PATH_BYTES} (set TMPDIR to a shorter directory)`);
    }
    return `ipc://${path}`;
  }

  /** Removes the directory and every socket file in it. Idempotent; safe in an exit handler. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    OPEN.delete(this);
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** Longest Unix socket path on Linux: sun_path's 108 bytes, less the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

// The directories not yet closed, removed by one exit hook (exit handlers must be synchronous).
const OPEN = new Set<IpcDirectory>();
let exitHooked = false;

function removeOpenDirectories(): void {
  for (const dir of OPEN) dir.close();
}
