import { chmod, mkdir, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CredentialsError } from '../errors';
import { ensureDirectory, installDirectory, temporarySibling, writeFileAtomic } from '../util/atomic-write';
import { createRunPki, type PemPair, verifyRunPki } from './certificates';
import { checkToken, newRunToken } from './run-token';

/**
 * A coordinator's credentials kept in a folder, so that a restarted coordinator (`--resume`)
 * serves with the CA and token its workers' join file names, instead of new ones that would
 * lock them out.
 */

/** The security material a coordinator serves with: its run's PKI and the run token. */
export interface CoordinatorCredentials {
  ca: PemPair;
  server: PemPair;
  token: string;
}

const CA_CERT = 'ca.pem';
const CA_KEY = 'ca.key';
const SERVER_CERT = 'server.pem';
const SERVER_KEY = 'server.key';
const TOKEN = 'token';
const FILES = [CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY, TOKEN] as const;
const SECRETS: ReadonlySet<string> = new Set([CA_KEY, SERVER_KEY, TOKEN]);

/**
 * Creates new credentials for a server reached at `hosts` in `dir` (mode 0700): ca.pem, ca.key,
 * server.pem, server.key and token, each 0600. A folder that does not exist yet is built beside
 * and renamed in, so that a crash never leaves part of one; a folder that already holds any of
 * these files is refused, since its CA may be the one workers trust.
 */
export async function createCredentials(dir: string, o: { hosts: readonly string[] }): Promise<CoordinatorCredentials> {
  const present = await presentFiles(dir);
  if (present.length > 0) throw new CredentialsError(`credentials folder ${dir} already holds ${present.join(', ')}: refusing to replace credentials workers may trust`);
  const pki = await createRunPki({ hosts: o.hosts });
  const token = newRunToken();
  const contents: Record<(typeof FILES)[number], string> = {
    [CA_CERT]: pki.ca.certPem,
    [CA_KEY]: pki.ca.keyPem,
    [SERVER_CERT]: pki.server.certPem,
    [SERVER_KEY]: pki.server.keyPem,
    [TOKEN]: `${token}\n`,
  };
  if (!(await isDirectory(dir))) {
    await ensureDirectory(dirname(dir));
    const building = temporarySibling(dir);
    try {
      await mkdir(building, { mode: 0o700 });
      for (const name of FILES) await writeFile(join(building, name), contents[name], { mode: 0o600 });
      await installDirectory(building, dir);
    } catch (err) {
      await rm(building, { recursive: true, force: true });
      throw err;
    }
  } else {
    // An existing empty folder may be a mount point, which cannot be renamed over: write in place.
    await chmod(dir, 0o700);
    for (const name of FILES) await writeFileAtomic(join(dir, name), contents[name], undefined, { mode: 0o600 });
  }
  return { ca: pki.ca, server: pki.server, token };
}

/**
 * Reads a credentials folder and checks it holds together: the server certificate was issued by
 * the CA beside it, each key belongs to its certificate, the token is well formed. A partial
 * folder is an error, not silently regenerated. It may be read-only (a Kubernetes Secret mount)
 * and its files need not be 0600 (a Secret with fsGroup mounts them 0440), but a key or token
 * file that others may read is refused. Every error is a CredentialsError naming the folder
 * and the file.
 */
export async function readCredentials(dir: string): Promise<CoordinatorCredentials> {
  if (!(await isDirectory(dir))) throw new CredentialsError(`credentials folder ${dir} does not exist or is not a folder`);
  const read = new Map<string, string>();
  const missing: string[] = [];
  for (const name of FILES) {
    const text = await readCredentialFile(dir, name);
    if (text === null) missing.push(name);
    else read.set(name, text);
  }
  if (missing.length > 0) {
    throw new CredentialsError(
      `credentials folder ${dir} is incomplete: ${missing.join(', ')} missing; restore ${missing.length === 1 ? 'it' : 'them'}, or remove the folder to create new credentials (workers then need the new join file)`,
    );
  }
  const file = (name: string): string => read.get(name) ?? '';
  const credentials = {
    ca: { certPem: file(CA_CERT), keyPem: file(CA_KEY) },
    server: { certPem: file(SERVER_CERT), keyPem: file(SERVER_KEY) },
    token: checkToken(file(TOKEN), join(dir, TOKEN)),
  };
  verifyRunPki(credentials, `credentials folder ${dir}`);
  return credentials;
}

/** {@link readCredentials} when `dir` holds any of the credential files, else {@link createCredentials}; `created` says which. */
export async function loadOrCreateCredentials(dir: string, o: { hosts: readonly string[] }): Promise<{ credentials: CoordinatorCredentials; created: boolean }> {
  if ((await presentFiles(dir)).length > 0) return { credentials: await readCredentials(dir), created: false };
  return { credentials: await createCredentials(dir, o), created: true };
}

// A listing, not a stat per name: a dangling symlink (a Secret mount gone wrong) counts as present.
async function presentFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    if (code === 'ENOTDIR') throw new CredentialsError(`credentials folder ${dir} is not a folder`);
    throw err;
  }
  return FILES.filter((name) => names.includes(name));
}

async function isDirectory(dir: string): Promise<boolean> {
  const found = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  return found?.isDirectory() ?? false;
}

// One descriptor for the mode check and the read: the file checked is the file read. Null when missing.
async function readCredentialFile(dir: string, name: string): Promise<string | null> {
  const path = join(dir, name);
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new CredentialsError(`credentials folder ${dir}: cannot open ${name}: ${err.message}`, { cause: err });
  });
  if (handle === null) return null;
  try {
    const found = await handle.stat();
    if (!found.isFile()) throw new CredentialsError(`credentials folder ${dir}: ${name} is not a regular file`);
    if (SECRETS.has(name) && (found.mode & 0o004) !== 0) {
      const mode = (found.mode & 0o777).toString(8).padStart(4, '0');
      throw new CredentialsError(`credentials folder ${dir}: ${name} has mode ${mode}, so any user may read it; run chmod 600 ${path} (for a Kubernetes Secret, defaultMode 0400)`);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
