import { X509Certificate } from 'node:crypto';
import { open } from 'node:fs/promises';
import { z } from 'zod';
import { CredentialsError } from '../errors';
import { writeFileAtomic } from '../util/atomic-write';

/** The name of the join file a coordinator writes beside its run. */
export const JOIN_FILE = 'join.json';

/** The env var that holds a join file's path, or the join file's JSON itself. */
export const JOIN_ENV = 'FACEFILL_JOIN';

/** What a worker (or `facefill status`, `pull`) needs to call a run's coordinator. */
export interface JoinInfo {
  /** Where the coordinator listens: host:port. */
  address: string;
  /** The TLS name to verify (e.g. COORDINATOR_SERVER_NAME), or '' to verify the address's host. */
  serverName: string;
  /** The run's CA certificate, the only one the worker trusts for this coordinator. */
  caPem: string;
  /** The run's bearer token. */
  token: string;
}

// Each field's rule, said in words: a message built from these never quotes what the file holds.
const RULES = {
  version: 'must be 1 (the only join file version this facefill reads)',
  address: 'must be host:port (an IPv6 host in brackets)',
  serverName: "must be a TLS name (a DNS name or IP address), or '' to verify the address's host",
  caPem: 'must be a PEM certificate',
  token: 'must be a base64url run token of 22 to 512 characters',
} as const;

const JoinFileSchema = z.object({
  version: z.literal(1),
  address: z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([1-9][0-9]{0,4})$/).refine((a) => Number(a.slice(a.lastIndexOf(':') + 1)) <= 65535),
  serverName: z.string().regex(/^[A-Za-z0-9_.:-]*$/),
  caPem: z.string().includes('-----BEGIN CERTIFICATE-----'),
  token: z.string().regex(/^[A-Za-z0-9_-]{22,512}$/),
});

/** Writes a join file atomically with mode 0600: it holds the run token. */
export async function writeJoinFile(path: string, info: JoinInfo): Promise<void> {
  const file = { version: 1, address: info.address, serverName: info.serverName, caPem: info.caPem, token: info.token };
  await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`, undefined, { mode: 0o600 });
}

/**
 * Reads and validates a join file. Throws a CredentialsError naming the file and the bad field
 * (never the token), or the file's mode when others may read or write it or its group write it:
 * 0600, 0400 and 0440 (a Kubernetes Secret's defaultMode, with fsGroup) pass, 0644 does not.
 */
export async function readJoinFile(path: string): Promise<JoinInfo> {
  let text: string;
  // One descriptor for the mode check and the read: the file checked is the file read.
  const file = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new CredentialsError(`cannot open join file ${path}: ${err.code === 'ENOENT' ? 'it does not exist' : err.message}`, { cause: err });
  });
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new CredentialsError(`join file ${path} is not a regular file`);
    // Group read passes: a Kubernetes Secret mounted with fsGroup is 0440, the group being the pod's own.
    if ((stat.mode & 0o037) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      throw new CredentialsError(`join file ${path} has mode ${mode}: it holds the run token, so others must have no access and the group no write; run chmod 600 ${path}`);
    }
    text = await file.readFile('utf8');
  } finally {
    await file.close();
  }
  return parseJoinInfo(text, `join file ${path}`);
}

/** Parses a join file's text; `source` names it in errors, which name the bad field but never quote a value. */
export function parseJoinInfo(text: string, source: string): JoinInfo {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Neither the parser's message nor its error as a cause: V8 quotes the text around the fault, which may be the token.
    throw new CredentialsError(`${source} is not valid JSON`);
  }
  const parsed = JoinFileSchema.safeParse(value);
  if (!parsed.success) {
    const record = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
    if (record === null) throw new CredentialsError(`${source} must hold a JSON object`);
    const fields = [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? '')))];
    const problems = fields.map((f) => (f in RULES ? `${f} ${f in record ? RULES[f as keyof typeof RULES] : 'is missing'}` : `${f}: is not valid`));
    throw new CredentialsError(`${source}: ${problems.join('; ')}`);
  }
  const { address, serverName, caPem, token } = parsed.data;
  try {
    new X509Certificate(caPem);
  } catch {
    throw new CredentialsError(`${source}: caPem ${RULES.caPem}; this one does not parse (was it cut short?)`);
  }
  return { address, serverName, caPem, token };
}

/**
 * The join info a command uses: `--join FILE` when given, else the env var FACEFILL_JOIN — a path
 * to a join file, or the join file's JSON itself (a Kubernetes Secret key exposed as an env var)
 * — else null. An empty FACEFILL_JOIN counts as unset.
 */
export async function resolveJoin(o: { joinFile?: string; env: NodeJS.ProcessEnv }): Promise<JoinInfo | null> {
  if (o.joinFile !== undefined) return readJoinFile(o.joinFile);
  const value = o.env[JOIN_ENV]?.trim() ?? '';
  if (value === '') return null;
  // An env var has no mode to check: who may read it is the pod's or the shell's business.
  return value.startsWith('{') ? parseJoinInfo(value, `env var ${JOIN_ENV}`) : readJoinFile(value);
}
