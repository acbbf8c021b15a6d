import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import pino from 'pino';
import { coordinatorLink, coordinatorSecurity } from '../../src/commands/control-security';
import { ConfigInvalidError, CredentialsError } from '../../src/shared/errors';
import { COORDINATOR_SERVER_NAME } from '../../src/shared/security/certificates';
import { readCredentials } from '../../src/shared/security/credentials-store';
import { JOIN_FILE, readJoinFile } from '../../src/shared/security/join-file';
import { makeRunCredentials } from '../_run-credentials';

const tmp = () => mkdtempSync(join(tmpdir(), 'facefill-ctlsec-'));

/** A logger whose lines (level, message) the test reads. */
function captured() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) });
  return { log, lines };
}

test('with no flags the coordinator serves TLS with the run\'s credentials, made once and reused (a restart keeps the workers\' join file valid)', async (t) => {
  const out = tmp();
  const { log } = captured();
  const first = await coordinatorSecurity({}, { out, bind: '0.0.0.0', advertise: 'coord', log });
  const again = await coordinatorSecurity({}, { out, bind: '0.0.0.0', advertise: 'coord', log });
  t.is(first.security.kind, 'tls');
  t.deepEqual(again.trust, first.trust, 'the same CA and token');
  t.is(first.trust?.serverName, COORDINATOR_SERVER_NAME);
  t.is((await readCredentials(join(out, 'credentials'))).token, first.trust?.token ?? 'none');
});

test('--insecure warns, loudly (error level) when the coordinator listens beyond loopback; it cannot be mixed with certificates', async (t) => {
  for (const [bind, level] of [
    ['127.0.0.1', 40],
    ['0.0.0.0', 50],
  ] as const) {
    const { log, lines } = captured();
    const s = await coordinatorSecurity({ insecure: true }, { out: tmp(), bind, advertise: 'coord', log });
    t.deepEqual([s.security.kind, s.trust], ['insecure', null]);
    const said = lines.find((l) => /--insecure/.test(l.msg));
    t.is(said?.level, level, bind);
    t.regex(said?.msg ?? '', /anyone who reaches .* can stop, join or poison this run/);
  }
  const { log } = captured();
  await t.throwsAsync(coordinatorSecurity({ insecure: true, tlsCert: 'c.pem' }, { out: tmp(), bind: '0.0.0.0', advertise: 'c', log }), { instanceOf: ConfigInvalidError });
  await t.throwsAsync(coordinatorSecurity({ tlsCert: 'c.pem' }, { out: tmp(), bind: '0.0.0.0', advertise: 'c', log }), { instanceOf: ConfigInvalidError, message: /go together/ });
  await t.throwsAsync(coordinatorSecurity({ tlsCert: '/nope/c.pem', tlsKey: '/nope/k.pem', tlsCa: '/nope/ca.pem' }, { out: tmp(), bind: '0.0.0.0', advertise: 'c', log }), {
    instanceOf: CredentialsError,
    message: /cannot read \/nope\/c\.pem/,
  });
});

test('a client finds its coordinator through --join, or FACEFILL_JOIN as a path or as the JSON itself; --coordinator overrides the address only', async (t) => {
  const out = tmp();
  const made = await makeRunCredentials(out, 'coord:7700');
  const info = await readJoinFile(made.joinFile);
  const { log } = captured();
  const byFlag = await coordinatorLink({ join: made.joinFile }, log, {});
  t.is(byFlag.address, 'coord:7700');
  t.deepEqual(byFlag.security, { kind: 'tls', caPem: info.caPem, serverName: COORDINATOR_SERVER_NAME, token: info.token });
  t.is((await coordinatorLink({}, log, { FACEFILL_JOIN: made.joinFile })).address, 'coord:7700');
  const inline = await coordinatorLink({ coordinator: 'localhost:17700' }, log, { FACEFILL_JOIN: JSON.stringify({ version: 1, ...info }) });
  t.is(inline.address, 'localhost:17700');
  t.deepEqual(inline.security, byFlag.security, 'the same trust, another address');
});

test('a client without a join file, or mixing --insecure with one, is a usage error naming the way out', async (t) => {
  const { log, lines } = captured();
  await t.throwsAsync(coordinatorLink({ coordinator: 'c:1' }, log, {}), { instanceOf: ConfigInvalidError, message: /no join file: pass --join <file>/ });
  await t.throwsAsync(coordinatorLink({ insecure: true }, log, {}), { instanceOf: ConfigInvalidError, message: /--insecure needs --coordinator/ });
  const dir = tmp();
  writeFileSync(join(dir, JOIN_FILE), '{}', { mode: 0o600 });
  await t.throwsAsync(coordinatorLink({ insecure: true, coordinator: 'c:1', join: join(dir, JOIN_FILE) }, log, {}), { instanceOf: ConfigInvalidError });
  const insecure = await coordinatorLink({ insecure: true, coordinator: 'c:1' }, log, {});
  t.deepEqual(insecure, { address: 'c:1', security: { kind: 'insecure' } });
  t.true(lines.some((l) => l.level === 40 && /without TLS or a run token/.test(l.msg)));
});
