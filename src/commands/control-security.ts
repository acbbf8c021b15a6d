import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ClientSecurity, ServerSecurity } from '../shared/control/channel-security';
import { clientSecurityFromJoin } from '../shared/control/channel-security';
import { ConfigInvalidError, CredentialsError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { COORDINATOR_SERVER_NAME, type PemPair } from '../shared/security/certificates';
import { type CoordinatorCredentials, loadOrCreateCredentials } from '../shared/security/credentials-store';
import { type JoinInfo, resolveJoin } from '../shared/security/join-file';

/** The security flags of the commands that call a coordinator (worker, workers, pull, status). */
export interface ClientSecurityFlags {
  /** A join file (the coordinator writes `<out>/join.json`); FACEFILL_JOIN when absent. */
  join?: string;
  /** The coordinator's address: overrides the join file's, and is required with `insecure`. */
  coordinator?: string;
  insecure?: boolean;
  /** A client certificate and key (PEM files), for a coordinator that requires them (`--tls-ca`). */
  tlsCert?: string;
  tlsKey?: string;
}

/** The security flags of `facefill coordinator`. */
export interface ServerSecurityFlags {
  insecure?: boolean;
  /** The run's credentials folder (default `<out>/credentials`). */
  credentials?: string;
  /** The user's own server certificate, key and client CA (PEM files): mTLS. */
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

/** Where a command finds its coordinator and how it talks to it. */
export interface CoordinatorLink {
  address: string;
  security: ClientSecurity;
}

/** The coordinator's side: its server security, and (when secure) the run's token for join files and checkpoint seals. */
export interface CoordinatorSecurity {
  security: ServerSecurity;
  /** The run token and the CA certificate workers pin, or null with --insecure. */
  trust: { token: string; caPem: string; serverName: string } | null;
}

/** How a command reaches its coordinator: a join file (flag or FACEFILL_JOIN) with TLS and the run token, or `--insecure` with `--coordinator`. */
export async function coordinatorLink(flags: ClientSecurityFlags, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<CoordinatorLink> {
  if (flags.insecure) {
    if (flags.join !== undefined) throw new ConfigInvalidError('--insecure and --join: a join file is for a secure coordinator; pass one of them');
    if (!flags.coordinator) throw new ConfigInvalidError('--insecure needs --coordinator <host:port>');
    log.warn(`--insecure: calling ${flags.coordinator} without TLS or a run token; anyone on the network can read and forge these calls`);
    return { address: flags.coordinator, security: { kind: 'insecure' } };
  }
  const joinInfo = await resolveJoin({ joinFile: flags.join, env });
  if (joinInfo === null) {
    throw new ConfigInvalidError(
      'no join file: pass --join <file> (the coordinator writes <out>/join.json) or set FACEFILL_JOIN; a coordinator started with --insecure takes --insecure --coordinator <host:port>',
    );
  }
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new ConfigInvalidError('--tls-cert and --tls-key go together');
  const clientCert = flags.tlsCert && flags.tlsKey ? await readPemPair(flags.tlsCert, flags.tlsKey) : undefined;
  return { address: flags.coordinator ?? joinInfo.address, security: clientSecurityFromJoin(joinInfo, clientCert) };
}

/**
 * The coordinator's security: with no flags, TLS with the run's own CA and a run token, both
 * kept in the credentials folder (created on the first start, reused by a restart so that the
 * workers' join file stays valid); with `--tls-cert/--tls-key/--tls-ca`, the user's certificate
 * and required client certificates (the token still checked); with `--insecure`, neither.
 */
export async function coordinatorSecurity(flags: ServerSecurityFlags, o: { out: string; bind: string; advertise: string; log: Logger }): Promise<CoordinatorSecurity> {
  const userPki = [flags.tlsCert, flags.tlsKey, flags.tlsCa];
  if (flags.insecure) {
    if (userPki.some((f) => f !== undefined)) throw new ConfigInvalidError('--insecure with --tls-cert/--tls-key/--tls-ca: pass one or the other');
    const loopback = /^(127\.|localhost$|::1$|\[::1\]$)/.test(o.bind);
    const warning = `--insecure: the control plane has no TLS and no run token: anyone who reaches ${o.bind} can stop, join or poison this run`;
    if (loopback) o.log.warn(warning);
    else o.log.error(`${'!'.repeat(8)} ${warning} (it listens beyond this host) ${'!'.repeat(8)}`);
    return { security: { kind: 'insecure' }, trust: null };
  }
  const credentials = await runCredentials(flags.credentials ?? join(o.out, 'credentials'), [o.advertise, hostname()], o.log);
  if (userPki.every((f) => f === undefined)) {
    return {
      security: { kind: 'tls', certPem: credentials.server.certPem, keyPem: credentials.server.keyPem, token: credentials.token },
      trust: { token: credentials.token, caPem: credentials.ca.certPem, serverName: COORDINATOR_SERVER_NAME },
    };
  }
  if (userPki.some((f) => f === undefined)) throw new ConfigInvalidError('--tls-cert, --tls-key and --tls-ca go together');
  const server = await readPemPair(flags.tlsCert as string, flags.tlsKey as string);
  const caPem = await readPem(flags.tlsCa as string);
  // The user's CA signs both ends: workers pin it and are verified against it; the host name is checked as usual.
  return { security: { kind: 'tls', ...server, token: credentials.token, clientCaPem: caPem }, trust: { token: credentials.token, caPem, serverName: '' } };
}

/** The join file of a coordinator reached at `address`. */
export function joinInfoFor(trust: NonNullable<CoordinatorSecurity['trust']>, address: string): JoinInfo {
  return { address, serverName: trust.serverName, caPem: trust.caPem, token: trust.token };
}

async function runCredentials(dir: string, hosts: string[], log: Logger): Promise<CoordinatorCredentials> {
  const { credentials, created } = await loadOrCreateCredentials(dir, { hosts });
  log.info({ credentials: dir }, created ? `created the run's CA, server certificate and token in ${dir}` : `using the run's credentials in ${dir}`);
  return credentials;
}

async function readPemPair(certFile: string, keyFile: string): Promise<PemPair> {
  return { certPem: await readPem(certFile), keyPem: await readPem(keyFile) };
}

async function readPem(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CredentialsError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!text.includes('-----BEGIN ')) throw new CredentialsError(`${file} is not a PEM file`);
  return text;
}
