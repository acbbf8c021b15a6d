import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CredentialsError } from '../../../src/shared/errors';
import { COORDINATOR_SERVER_NAME, createRunPki } from '../../../src/shared/security/certificates';
import { JOIN_FILE, type JoinInfo, parseJoinInfo, readJoinFile, resolveJoin, writeJoinFile } from '../../../src/shared/security/join-file';
import { newRunToken } from '../../../src/shared/security/run-token';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'facefill-join-'));

let caPem = '';
test.before(async () => {
  caPem = (await createRunPki({ hosts: [] })).ca.certPem;
});

function info(over: Partial<JoinInfo> = {}): JoinInfo {
  return { address: '10.0.0.5:7070', serverName: COORDINATOR_SERVER_NAME, caPem, token: newRunToken(), ...over };
}

function text(over: Record<string, unknown> = {}, join: JoinInfo = info()): string {
  return JSON.stringify({ version: 1, ...join, ...over });
}

test('a join file written is read back the same, is mode 0600 and leaves no temporary file', async (t) => {
  const dir = tmp();
  const path = join(dir, JOIN_FILE);
  const written = info();
  await writeJoinFile(path, written);
  t.is(statSync(path).mode & 0o777, 0o600);
  t.deepEqual(readdirSync(dir), [JOIN_FILE]);
  t.is(JSON.parse(readFileSync(path, 'utf8')).version, 1);
  t.deepEqual(await readJoinFile(path), written);
});

test('rewriting a join file that was loosened makes it 0600 again', async (t) => {
  const path = join(tmp(), JOIN_FILE);
  writeFileSync(path, 'old');
  chmodSync(path, 0o644);
  await writeJoinFile(path, info());
  t.is(statSync(path).mode & 0o777, 0o600);
});

test('a join file that others may read, or its group write, is refused with its mode and the fix; 0400 and 0440 (a Secret mount, with fsGroup) pass', async (t) => {
  const path = join(tmp(), JOIN_FILE);
  await writeJoinFile(path, info());
  for (const mode of [0o644, 0o604, 0o660, 0o620, 0o602]) {
    chmodSync(path, mode);
    const err = await t.throwsAsync(readJoinFile(path), { instanceOf: CredentialsError });
    t.true(err?.message.includes(`mode 0${mode.toString(8)}`), err?.message);
    t.true(err?.message.includes(`chmod 600 ${path}`), err?.message);
  }
  for (const mode of [0o400, 0o440]) {
    chmodSync(path, mode);
    await t.notThrowsAsync(readJoinFile(path));
  }
});

test('a missing join file is a CredentialsError naming it', async (t) => {
  const path = join(tmp(), 'nope.json');
  await t.throwsAsync(readJoinFile(path), { instanceOf: CredentialsError, message: `cannot open join file ${path}: it does not exist` });
});

test('a bad join file names the file and each bad field, and never quotes the token', async (t) => {
  const token = newRunToken();
  const good = info({ token });
  const cases: Array<[string, RegExp]> = [
    [text({ version: 2 }, good), /^src: version must be 1/],
    [text({ address: 'nohost' }, good), /^src: address must be host:port/],
    [text({ address: 'h:99999' }, good), /^src: address must be host:port/],
    [text({ serverName: 'a b' }, good), /^src: serverName must be a TLS name/],
    [text({ caPem: 'hello' }, good), /^src: caPem must be a PEM certificate$/],
    [text({ caPem: good.caPem.slice(0, 200) + '\n-----END CERTIFICATE-----\n' }, good), /^src: caPem must be a PEM certificate; this one does not parse/],
    [text({ token: token.slice(0, 20) }, good), /^src: token must be a base64url run token/],
    [text({ token: `${token}!` }, good), /^src: token must be a base64url run token/],
    [text({ token: 42 }, good), /^src: token must be a base64url run token/],
    [JSON.stringify({ version: 1, address: good.address, serverName: '', caPem }), /^src: token is missing$/],
    [text({ address: 1, token: 'x' }, good), /^src: address must be host:port.*; token must be/],
    [`{"token": "${token}", oops}`, /^src is not valid JSON$/],
    ['[1]', /^src must hold a JSON object$/],
  ];
  for (const [body, message] of cases) {
    const err = t.throws(() => parseJoinInfo(body, 'src'), { instanceOf: CredentialsError, message });
    t.false(err?.message.includes(token.slice(0, 12)), `${err?.message} quotes the token`);
    t.is(err?.cause, undefined);
  }
});

test('accepted addresses: a name, an IPv4 and a bracketed IPv6 host with a port; serverName may be empty', (t) => {
  for (const address of ['coordinator.default.svc:7070', '10.0.0.5:1', '[fd00::5]:65535', 'localhost:7070']) {
    t.is(parseJoinInfo(text({ address, serverName: '' }), 'src').address, address);
  }
});

test('resolveJoin: --join first, else FACEFILL_JOIN as a path or as the JSON itself, else null', async (t) => {
  const dir = tmp();
  const fromFile = info({ address: 'file:1' });
  const fromEnvPath = info({ address: 'envpath:2' });
  const fromEnvJson = info({ address: 'envjson:3' });
  await writeJoinFile(join(dir, 'a.json'), fromFile);
  await writeJoinFile(join(dir, 'b.json'), fromEnvPath);
  t.deepEqual(await resolveJoin({ joinFile: join(dir, 'a.json'), env: { FACEFILL_JOIN: join(dir, 'b.json') } }), fromFile);
  t.deepEqual(await resolveJoin({ env: { FACEFILL_JOIN: join(dir, 'b.json') } }), fromEnvPath);
  t.deepEqual(await resolveJoin({ env: { FACEFILL_JOIN: `\n  ${text({}, fromEnvJson)}\n` } }), fromEnvJson);
  t.is(await resolveJoin({ env: {} }), null);
  t.is(await resolveJoin({ env: { FACEFILL_JOIN: ' ' } }), null);
  await t.throwsAsync(resolveJoin({ env: { FACEFILL_JOIN: '{"version":1}' } }), { instanceOf: CredentialsError, message: /^env var FACEFILL_JOIN: address is missing/ });
});
