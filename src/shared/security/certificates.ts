import { createPrivateKey, randomBytes, webcrypto, X509Certificate as NodeCertificate } from 'node:crypto';
import { isIP } from 'node:net';
import { ConfigInvalidError, CredentialsError } from '../errors';
import { x509 } from './x509';

/** The DNS name every coordinator certificate holds, so that a worker can verify it whatever address it dials. */
export const COORDINATOR_SERVER_NAME = 'facefill-coordinator';

/** A certificate and its private key, both PEM; `keyPem` is PKCS#8. */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** A run's private PKI: the CA workers pin, and the coordinator's server certificate it issued. */
export interface RunPki {
  ca: PemPair;
  server: PemPair;
}

// ECDSA P-256: key generation takes milliseconds where RSA in pure JS would take seconds.
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' };
const DEFAULT_VALID_DAYS = 3650;
const DAY_MS = 24 * 60 * 60 * 1000;
// A worker whose clock is a little behind the coordinator's must still accept a certificate just issued.
const BACKDATE_MS = 60 * 60 * 1000;
const ALWAYS_NAMED = [COORDINATOR_SERVER_NAME, 'localhost', '127.0.0.1', '::1'];

/**
 * Creates a run's private PKI: a self-signed CA that can sign only end-entity certificates, and
 * the coordinator's server certificate, named {@link COORDINATOR_SERVER_NAME}, localhost, the
 * loopback addresses and every one of `hosts` (DNS names or IP literals, v4 or v6).
 * `validDays` defaults to ten years: a run can be resumed long after it started, and the CA
 * is trusted by this run's workers only.
 */
export async function createRunPki(o: { hosts: readonly string[]; validDays?: number }): Promise<RunPki> {
  const validDays = o.validDays ?? DEFAULT_VALID_DAYS;
  if (!Number.isFinite(validDays) || validDays <= 0) throw new ConfigInvalidError(`certificate validity must be a positive number of days, got ${validDays}`);
  const names = subjectAltNames(o.hosts);
  const notBefore = new Date(Date.now() - BACKDATE_MS);
  const notAfter = new Date(Date.now() + validDays * DAY_MS);

  const caKeys = await generateKeys();
  const caName = `CN=facefill run CA ${randomBytes(8).toString('hex')}`;
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: caName,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const ca = { certPem: caCert.toString('pem'), keyPem: await privateKeyPem(caKeys.privateKey) };

  const serverKeys = await generateKeys();
  const serverCert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${COORDINATOR_SERVER_NAME}`,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(serverKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return { ca, server: { certPem: serverCert.toString('pem'), keyPem: await privateKeyPem(serverKeys.privateKey) } };
}

/**
 * Issues a client certificate (for mutual TLS) named `name`, signed by `ca` (a run's CA, or
 * another CA the coordinator is told to trust for clients).
 */
export async function createClientCertificate(ca: PemPair, o: { name: string; validDays?: number }): Promise<PemPair> {
  const validDays = o.validDays ?? DEFAULT_VALID_DAYS;
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), KEY_ALGORITHM, false, ['sign']);
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: new x509.Name([{ CN: [o.name] }]),
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - BACKDATE_MS),
    notAfter: new Date(Date.now() + validDays * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/**
 * Checks that `pki` is usable: both certificates parse and are in their validity period, the CA
 * is a CA, the server certificate was issued by it, and each private key belongs to its
 * certificate. Throws a CredentialsError naming `source` (where the PKI was read from) otherwise.
 */
export function verifyRunPki(pki: RunPki, source: string): void {
  const ca = parseCertificate(pki.ca.certPem, `${source}: the CA certificate`);
  const server = parseCertificate(pki.server.certPem, `${source}: the server certificate`);
  if (!ca.ca) throw new CredentialsError(`${source}: the CA certificate is not a CA (basicConstraints CA:false)`);
  if (!server.checkIssued(ca) || !server.verify(ca.publicKey)) {
    throw new CredentialsError(`${source}: the server certificate was not issued by the CA beside it (issuer '${server.issuer}', CA '${ca.subject}')`);
  }
  checkKeyPair(ca, pki.ca.keyPem, `${source}: the CA private key`);
  checkKeyPair(server, pki.server.keyPem, `${source}: the server private key`);
  const now = Date.now();
  for (const [what, cert] of [['CA', ca], ['server', server]] as const) {
    if (Date.parse(cert.validTo) < now) throw new CredentialsError(`${source}: the ${what} certificate expired on ${cert.validTo}`);
    if (Date.parse(cert.validFrom) > now) throw new CredentialsError(`${source}: the ${what} certificate is not valid before ${cert.validFrom} (is this machine's clock right?)`);
  }
}

/** The SANs of a server certificate: the fixed names first, then `hosts`, each once. */
function subjectAltNames(hosts: readonly string[]): x509.JsonGeneralNames {
  const seen = new Set<string>();
  const names: x509.JsonGeneralNames = [];
  for (const host of [...ALWAYS_NAMED, ...hosts]) {
    const name = generalName(host);
    const key = `${name.type}:${name.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    names.push(name);
  }
  return names;
}

function generalName(host: string): x509.JsonGeneralName {
  const bare = host.trim().replace(/^\[(.*)\]$/, '$1');
  const family = isIP(bare);
  if (family === 4) return { type: 'ip', value: bare };
  if (family === 6) return { type: 'ip', value: canonicalIPv6(host, bare) };
  if (!/^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(bare)) {
    throw new ConfigInvalidError(`coordinator host '${host}' is neither a DNS name nor an IP address`);
  }
  // DNS names compare case-insensitively; one spelling keeps the SAN list free of duplicates.
  return { type: 'dns', value: bare.toLowerCase() };
}

// The WHATWG URL parser writes an IPv6 address in its compressed form (and IPv4-mapped forms as
// hex groups, which the certificate library's parser needs); a zone id has no place in a certificate.
function canonicalIPv6(host: string, bare: string): string {
  if (bare.includes('%')) throw new ConfigInvalidError(`coordinator host '${host}' has a zone id, which a certificate cannot name`);
  return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
}

function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

// 16 random bytes, positive (top bit clear) and minimally encoded (next bit set), as RFC 5280 asks.
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x40;
  return bytes.toString('hex');
}

function parseCertificate(pem: string, what: string): NodeCertificate {
  try {
    return new NodeCertificate(pem);
  } catch (err) {
    throw new CredentialsError(`${what} is not a PEM certificate`, { cause: err });
  }
}

function checkKeyPair(cert: NodeCertificate, keyPem: string, what: string): void {
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    // No cause: the error of a key that fails to parse may quote the key's bytes.
    throw new CredentialsError(`${what} is not a PEM private key`);
  }
  if (!matches) throw new CredentialsError(`${what} does not belong to its certificate`);
}
