import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { ConfigInvalidError, CredentialsError } from '../../../src/shared/errors';
import { COORDINATOR_SERVER_NAME, createClientCertificate, createRunPki, type RunPki, verifyRunPki } from '../../../src/shared/security/certificates';
import { x509 } from '../../../src/shared/security/x509';
import { controlClient, serveControl, statusOutcome } from '../../_control-server';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Serves TLS with `pki`'s server pair; resolves with the port and a stop. */
async function tlsServer(pki: RunPki): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = tls.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (socket) => socket.end('hello'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, stop: () => new Promise((r) => server.close(() => r())) };
}

/** Connects and resolves with whether the server was verified, or the verification error's code. */
function connect(options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', ...options }, () => {
      resolve(socket.authorized ? 'authorized' : String(socket.authorizationError));
      socket.destroy();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function sans(certPem: string): string[] {
  const ext = new x509.X509Certificate(certPem).getExtension(x509.SubjectAlternativeNameExtension);
  return (ext?.names.toJSON() ?? []).map((n) => `${n.type}:${n.value}`);
}

test('a client pinning the run CA verifies the server by its fixed name and by IP address; one pinning another run CA is refused', async (t) => {
  const pki = await createRunPki({ hosts: [] });
  const other = await createRunPki({ hosts: [] });
  const server = await tlsServer(pki);
  t.teardown(server.stop);
  t.is(await connect({ port: server.port, ca: pki.ca.certPem, servername: COORDINATOR_SERVER_NAME }), 'authorized');
  // No servername: Node checks the certificate against the host dialled, 127.0.0.1, an IP SAN.
  t.is(await connect({ port: server.port, ca: pki.ca.certPem }), 'authorized');
  t.is(await connect({ port: server.port, ca: other.ca.certPem, servername: COORDINATOR_SERVER_NAME }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  // A name the certificate does not hold is refused even with the right CA.
  t.is(await connect({ port: server.port, ca: pki.ca.certPem, servername: 'elsewhere.example' }), 'ERR_TLS_CERT_ALTNAME_INVALID');
});

test('the server certificate names the fixed names and every host asked for, each once, IP literals as IP addresses', async (t) => {
  const pki = await createRunPki({ hosts: ['Node-7.Example.org', '10.0.0.5', '[fd00::7]', '10.0.0.5', 'localhost', '0:0:0:0:0:0:0:1', '::ffff:10.1.2.3'] });
  t.deepEqual(sans(pki.server.certPem), [
    `dns:${COORDINATOR_SERVER_NAME}`,
    'dns:localhost',
    'ip:127.0.0.1',
    'ip:::1',
    'dns:node-7.example.org',
    'ip:10.0.0.5',
    'ip:fd00::7',
    'ip:::ffff:a01:203',
  ]);
});

test('a host that is neither a DNS name nor an IP address is refused', async (t) => {
  await t.throwsAsync(createRunPki({ hosts: ['two words'] }), { instanceOf: ConfigInvalidError, message: /'two words'/ });
  await t.throwsAsync(createRunPki({ hosts: ['fe80::1%eth0'] }), { instanceOf: ConfigInvalidError, message: /zone id/ });
});

test('the CA may sign only end-entity certificates; the server certificate is for server authentication only', async (t) => {
  const pki = await createRunPki({ hosts: [], validDays: 30 });
  const ca = new x509.X509Certificate(pki.ca.certPem);
  const server = new x509.X509Certificate(pki.server.certPem);
  t.regex(ca.subject, /^CN=facefill run CA [0-9a-f]{16}$/);
  t.true(await ca.isSelfSigned());
  const caBasic = ca.getExtension(x509.BasicConstraintsExtension);
  t.true(caBasic?.ca);
  t.is(caBasic?.pathLength, 0);
  t.is(ca.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  t.false(server.getExtension(x509.BasicConstraintsExtension)?.ca);
  t.is(server.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature);
  t.deepEqual([...(server.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])], [x509.ExtendedKeyUsage.serverAuth]);
  t.is(server.issuer, ca.subject);
  t.true(await server.verify({ publicKey: ca.publicKey, signatureOnly: true }));
  t.not(server.serialNumber, ca.serialNumber);
  const days = (server.notAfter.getTime() - Date.now()) / DAY_MS;
  t.true(days > 29.9 && days <= 30, `valid for ${days} days`);
  t.true(server.notBefore.getTime() < Date.now());
  t.regex(pki.server.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
});

test('certificates are valid for ten years unless told otherwise, and two runs share no CA', async (t) => {
  const [a, b] = await Promise.all([createRunPki({ hosts: [] }), createRunPki({ hosts: [] })]);
  const days = (new x509.X509Certificate(a.ca.certPem).notAfter.getTime() - Date.now()) / DAY_MS;
  t.true(days > 3649 && days <= 3650, `valid for ${days} days`);
  t.not(new x509.X509Certificate(a.ca.certPem).subject, new x509.X509Certificate(b.ca.certPem).subject);
});

test('grpc-js serves and calls with the run PKI, pinning the CA and verifying the fixed name', async (t) => {
  const pki = await createRunPki({ hosts: [] });
  const server = await serveControl(grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(pki.server.certPem), private_key: Buffer.from(pki.server.keyPem) }]));
  t.teardown(server.stop);
  const client = controlClient(server.address, grpc.credentials.createSsl(Buffer.from(pki.ca.certPem)), { 'grpc.ssl_target_name_override': COORDINATOR_SERVER_NAME });
  t.deepEqual(await statusOutcome(client), { code: grpc.status.OK, details: '', runId: 'run-1' });
});

test('verifyRunPki accepts a PKI as created and names what is wrong with a mismatched one', async (t) => {
  const pki = await createRunPki({ hosts: [] });
  const other = await createRunPki({ hosts: [] });
  t.notThrows(() => verifyRunPki(pki, 'creds'));
  t.throws(() => verifyRunPki({ ca: pki.ca, server: other.server }, 'creds'), { instanceOf: CredentialsError, message: /^creds: the server certificate was not issued by the CA/ });
  t.throws(() => verifyRunPki({ ca: pki.ca, server: { ...pki.server, keyPem: other.server.keyPem } }, 'creds'), {
    instanceOf: CredentialsError,
    message: 'creds: the server private key does not belong to its certificate',
  });
  t.throws(() => verifyRunPki({ ca: { ...pki.ca, keyPem: pki.server.keyPem }, server: pki.server }, 'creds'), { message: /the CA private key does not belong/ });
  t.throws(() => verifyRunPki({ ca: pki.server, server: pki.server }, 'creds'), { message: /the CA certificate is not a CA/ });
  t.throws(() => verifyRunPki({ ca: { ...pki.ca, certPem: 'junk' }, server: pki.server }, 'creds'), { message: 'creds: the CA certificate is not a PEM certificate' });
  t.throws(() => verifyRunPki({ ca: pki.ca, server: { ...pki.server, keyPem: 'junk' } }, 'creds'), { message: 'creds: the server private key is not a PEM private key' });
});

test('a client certificate is issued by the given CA, for client authentication', async (t) => {
  const pki = await createRunPki({ hosts: [] });
  const client = await createClientCertificate(pki.ca, { name: 'worker-3' });
  const cert = new X509Certificate(client.certPem);
  t.true(cert.checkIssued(new X509Certificate(pki.ca.certPem)));
  t.true(cert.verify(new X509Certificate(pki.ca.certPem).publicKey));
  t.is(cert.subject, 'CN=worker-3');
  t.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
});
