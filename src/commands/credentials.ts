import { join } from 'node:path';
import { ConfigInvalidError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { COORDINATOR_SERVER_NAME } from '../shared/security/certificates';
import { createCredentials } from '../shared/security/credentials-store';
import { JOIN_FILE, writeJoinFile } from '../shared/security/join-file';

/** What `facefill credentials` needs. */
export interface CredentialsOptions {
  out: string;
  /** host:port the workers will reach the coordinator at. */
  address: string;
  /** More names or addresses for the server certificate. */
  san: readonly string[];
  log: Logger;
}

/**
 * `facefill credentials`: creates a run's credentials before its coordinator starts, for
 * deployments that hand them out themselves (a Kubernetes Secret, a shared folder): the CA,
 * the server certificate, the run token, and `join.json` for the workers. The coordinator
 * takes the folder with `--credentials`.
 */
export async function runCredentials(o: CredentialsOptions): Promise<void> {
  const at = o.address.lastIndexOf(':');
  const host = o.address.slice(0, at).replace(/^\[|\]$/g, '');
  if (at <= 0 || !/^\d{1,5}$/.test(o.address.slice(at + 1))) throw new ConfigInvalidError(`--address ${o.address}: expected host:port`);
  const credentials = await createCredentials(o.out, { hosts: [host, ...o.san] });
  const joinFile = join(o.out, JOIN_FILE);
  await writeJoinFile(joinFile, { address: o.address, serverName: COORDINATOR_SERVER_NAME, caPem: credentials.ca.certPem, token: credentials.token });
  o.log.info({ out: o.out }, `wrote the run's credentials to ${o.out}; start the coordinator with --credentials ${o.out} and the workers with --join ${joinFile}`);
}
