import * as grpc from '@grpc/grpc-js';
import { type RefusedCall, TOKEN_METADATA_KEY, tokenInterceptor } from '../security/token-interceptor';
import type { PemPair } from '../security/certificates';
import type { JoinInfo } from '../security/join-file';

/** How the coordinator's control-plane server is secured: not at all, or TLS plus the run token (and optionally client certificates). */
export type ServerSecurity =
  | { kind: 'insecure' }
  | {
      kind: 'tls';
      certPem: string;
      keyPem: string;
      token: string;
      /** mTLS: require client certificates issued by this CA. */
      clientCaPem?: string;
    };

/** How a control-plane client reaches the coordinator: in plaintext, or over TLS pinned to the run's CA with the run token. */
export type ClientSecurity =
  | { kind: 'insecure' }
  | {
      kind: 'tls';
      caPem: string;
      /** Verify this name instead of the address's host ('' : the host). */
      serverName: string;
      token: string;
      clientCert?: PemPair;
    };

/** Server credentials and the interceptors to install with them (the token check when TLS, telling `onRefused` of each call it refuses). */
export function serverCredentials(s: ServerSecurity, onRefused?: (call: RefusedCall) => void): { credentials: grpc.ServerCredentials; interceptors: grpc.ServerInterceptor[] } {
  if (s.kind === 'insecure') return { credentials: grpc.ServerCredentials.createInsecure(), interceptors: [] };
  const clientCa = s.clientCaPem === undefined ? null : Buffer.from(s.clientCaPem);
  const credentials = grpc.ServerCredentials.createSsl(clientCa, [{ cert_chain: Buffer.from(s.certPem), private_key: Buffer.from(s.keyPem) }], clientCa !== null);
  return { credentials, interceptors: [tokenInterceptor(s.token, onRefused)] };
}

/**
 * Channel credentials and options for a client: TLS trusting `caPem` alone (not the system's
 * CAs), the token sent with every call as call credentials, and `grpc.ssl_target_name_override`
 * when `serverName` is set, so that the certificate is checked for that name whatever address
 * is dialled. grpc-js sends call credentials over TLS only, so the token never goes out in
 * plaintext.
 */
export function clientCredentials(c: ClientSecurity): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  if (c.kind === 'insecure') return { credentials: grpc.credentials.createInsecure(), options: {} };
  const tls = grpc.credentials.createSsl(
    Buffer.from(c.caPem),
    c.clientCert === undefined ? null : Buffer.from(c.clientCert.keyPem),
    c.clientCert === undefined ? null : Buffer.from(c.clientCert.certPem),
  );
  const authorization = `Bearer ${c.token}`;
  const token = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.set(TOKEN_METADATA_KEY, authorization);
    callback(null, metadata);
  });
  const options: grpc.ChannelOptions = c.serverName === '' ? {} : { 'grpc.ssl_target_name_override': c.serverName };
  return { credentials: grpc.credentials.combineChannelCredentials(tls, token), options };
}

/** The ClientSecurity a join file's info gives (with a client certificate for mTLS, when given). */
export function clientSecurityFromJoin(join: JoinInfo, clientCert?: PemPair): ClientSecurity {
  return { kind: 'tls', caPem: join.caPem, serverName: join.serverName, token: join.token, ...(clientCert === undefined ? {} : { clientCert }) };
}
