import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { TOKEN_REFUSED_DETAILS } from '../../../src/shared/security/token-interceptor';
import { type ClientSecurity, clientCredentials, clientSecurityFromJoin, type ServerSecurity, serverCredentials } from '../../../src/shared/control/channel-security';
import { COORDINATOR_SERVER_NAME, createClientCertificate, createRunPki, type PemPair, type RunPki } from '../../../src/shared/security/certificates';
import { newRunToken } from '../../../src/shared/security/run-token';
import { type CallOutcome, controlClient, serveControl, statusOutcome, type TestControlServer } from '../../_control-server';

const TOKEN = newRunToken();
const OK: CallOutcome = { code: grpc.status.OK, details: '', runId: 'run-1' };

let pki: RunPki;
let otherPki: RunPki;
test.before(async () => {
  [pki, otherPki] = await Promise.all([createRunPki({ hosts: [] }), createRunPki({ hosts: [] })]);
});

async function serve(t: { teardown(fn: () => void): void }, security: ServerSecurity): Promise<TestControlServer> {
  const { credentials, interceptors } = serverCredentials(security);
  const server = await serveControl(credentials, interceptors);
  t.teardown(server.stop);
  return server;
}

function tlsServer(clientCaPem?: string): ServerSecurity {
  return { kind: 'tls', certPem: pki.server.certPem, keyPem: pki.server.keyPem, token: TOKEN, ...(clientCaPem === undefined ? {} : { clientCaPem }) };
}

function tlsClient(over: Partial<Extract<ClientSecurity, { kind: 'tls' }>> = {}): ClientSecurity {
  return { kind: 'tls', caPem: pki.ca.certPem, serverName: COORDINATOR_SERVER_NAME, token: TOKEN, ...over };
}

function call(server: TestControlServer, security: ClientSecurity, timeoutMs = 3000): Promise<CallOutcome> {
  const { credentials, options } = clientCredentials(security);
  return statusOutcome(controlClient(server.address, credentials, options), new grpc.Metadata(), timeoutMs);
}

test('insecure on both ends still works, with no interceptor', async (t) => {
  t.deepEqual(serverCredentials({ kind: 'insecure' }).interceptors, []);
  t.deepEqual(clientCredentials({ kind: 'insecure' }).options, {});
  const server = await serve(t, { kind: 'insecure' });
  t.deepEqual(await call(server, { kind: 'insecure' }), OK);
});

test('TLS with the right CA and token: the call goes through, by the fixed name or by the address (an IP SAN)', async (t) => {
  const server = await serve(t, tlsServer());
  t.deepEqual(clientCredentials(tlsClient()).options, { 'grpc.ssl_target_name_override': COORDINATOR_SERVER_NAME });
  t.deepEqual(await call(server, tlsClient()), OK);
  t.deepEqual(clientCredentials(tlsClient({ serverName: '' })).options, {});
  t.deepEqual(await call(server, tlsClient({ serverName: '' })), OK);
  t.is(server.handled(), 2);
});

test('TLS with a wrong token is UNAUTHENTICATED, and the handler never runs', async (t) => {
  const server = await serve(t, tlsServer());
  t.deepEqual(await call(server, tlsClient({ token: newRunToken() })), { code: grpc.status.UNAUTHENTICATED, details: TOKEN_REFUSED_DETAILS });
  t.is(server.handled(), 0);
});

test('TLS with no token (plain TLS credentials) is UNAUTHENTICATED', async (t) => {
  const server = await serve(t, tlsServer());
  const client = controlClient(server.address, grpc.credentials.createSsl(Buffer.from(pki.ca.certPem)), { 'grpc.ssl_target_name_override': COORDINATOR_SERVER_NAME });
  t.deepEqual(await statusOutcome(client), { code: grpc.status.UNAUTHENTICATED, details: TOKEN_REFUSED_DETAILS });
  t.is(server.handled(), 0);
});

test('a plaintext client cannot call the TLS server', async (t) => {
  const server = await serve(t, tlsServer());
  t.is((await call(server, { kind: 'insecure' }, 1500)).code, grpc.status.UNAVAILABLE);
  t.is(server.handled(), 0);
});

test('a client pinning another run CA refuses the server, and one checking a name the certificate lacks does too', async (t) => {
  const server = await serve(t, tlsServer());
  t.is((await call(server, tlsClient({ caPem: otherPki.ca.certPem }), 1500)).code, grpc.status.UNAVAILABLE);
  t.is((await call(server, tlsClient({ serverName: 'elsewhere.example' }), 1500)).code, grpc.status.UNAVAILABLE);
  t.is(server.handled(), 0);
});

test('mTLS: a client without a certificate, or with one from another CA, is refused; one issued by the client CA gets through', async (t) => {
  const clientCa = otherPki.ca;
  const server = await serve(t, tlsServer(clientCa.certPem));
  const good: PemPair = await createClientCertificate(clientCa, { name: 'worker-0' });
  const foreign: PemPair = await createClientCertificate(pki.ca, { name: 'worker-0' });
  t.is((await call(server, tlsClient(), 1500)).code, grpc.status.UNAVAILABLE);
  t.is((await call(server, tlsClient({ clientCert: foreign }), 1500)).code, grpc.status.UNAVAILABLE);
  t.is(server.handled(), 0);
  t.deepEqual(await call(server, tlsClient({ clientCert: good })), OK);
  // The certificate does not stand in for the token.
  t.is((await call(server, tlsClient({ clientCert: good, token: newRunToken() }))).code, grpc.status.UNAUTHENTICATED);
});

test('a join file\'s info gives TLS client security pinned to its CA, name and token', (t) => {
  const join = { address: '127.0.0.1:7070', serverName: COORDINATOR_SERVER_NAME, caPem: pki.ca.certPem, token: TOKEN };
  t.deepEqual(clientSecurityFromJoin(join), { kind: 'tls', caPem: pki.ca.certPem, serverName: COORDINATOR_SERVER_NAME, token: TOKEN });
  const cert = { certPem: 'c', keyPem: 'k' };
  t.deepEqual(clientSecurityFromJoin(join, cert), { kind: 'tls', caPem: pki.ca.certPem, serverName: COORDINATOR_SERVER_NAME, token: TOKEN, clientCert: cert });
});
