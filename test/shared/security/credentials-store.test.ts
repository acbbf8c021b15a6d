import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CredentialsError } from '../../../src/shared/errors';
import { createRunPki } from '../../../src/shared/security/certificates';
import { createCredentials, loadOrCreateCredentials, readCredentials } from '../../../src/shared/security/credentials-store';

const FILES = ['ca.key', 'ca.pem', 'server.key', 'server.pem', 'token'];
const tmp = (): string => mkdtempSync(join(tmpdir(), 'facefill-creds-'));

test('created credentials are five 0600 files in a 0700 folder, and read back the same', async (t) => {
  const dir = join(tmp(), 'run', 'credentials');
  const created = await createCredentials(dir, { hosts: ['node-1'] });
  t.deepEqual(readdirSync(dir).sort(), FILES);
  t.deepEqual(readdirSync(join(dir, '..')), ['credentials']);
  t.is(statSync(dir).mode & 0o777, 0o700);
  for (const name of FILES) t.is(statSync(join(dir, name)).mode & 0o777, 0o600, name);
  t.is(readFileSync(join(dir, 'token'), 'utf8'), `${created.token}\n`);
  t.deepEqual(await readCredentials(dir), created);
});

test('credentials can be created in an existing empty folder (a mount point), which becomes 0700', async (t) => {
  const dir = tmp();
  chmodSync(dir, 0o755);
  const created = await createCredentials(dir, { hosts: [] });
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.deepEqual(await readCredentials(dir), created);
});

test('loadOrCreate creates once, then reads the same CA and token back', async (t) => {
  const dir = join(tmp(), 'credentials');
  const first = await loadOrCreateCredentials(dir, { hosts: [] });
  const second = await loadOrCreateCredentials(dir, { hosts: ['ignored-now'] });
  t.true(first.created);
  t.false(second.created);
  t.deepEqual(second.credentials, first.credentials);
});

test('a partial folder is an error naming the folder and the missing files, never regenerated', async (t) => {
  const dir = join(tmp(), 'credentials');
  await createCredentials(dir, { hosts: [] });
  rmSync(join(dir, 'token'));
  rmSync(join(dir, 'ca.key'));
  const expected = { instanceOf: CredentialsError, message: new RegExp(`^credentials folder ${dir} is incomplete: ca.key, token missing`) };
  await t.throwsAsync(readCredentials(dir), expected);
  await t.throwsAsync(loadOrCreateCredentials(dir, { hosts: [] }), expected);
  t.deepEqual(readdirSync(dir).sort(), ['ca.pem', 'server.key', 'server.pem']);
  // A dangling symlink (a Secret mount gone wrong) is no reason to start afresh either.
  const other = tmp();
  symlinkSync(join(other, 'gone'), join(other, 'token'));
  await t.throwsAsync(loadOrCreateCredentials(other, { hosts: [] }), { message: /is incomplete: ca.pem, ca.key, server.pem, server.key, token missing/ });
});

test('createCredentials refuses a folder that already holds credential files', async (t) => {
  const dir = tmp();
  writeFileSync(join(dir, 'ca.pem'), 'x');
  await t.throwsAsync(createCredentials(dir, { hosts: [] }), { instanceOf: CredentialsError, message: /already holds ca.pem/ });
});

test('a read-only Secret-like mount with 0440 files is read; a key or token file others may read is refused', async (t) => {
  const dir = join(tmp(), 'credentials');
  const created = await createCredentials(dir, { hosts: [] });
  for (const name of FILES) chmodSync(join(dir, name), 0o440);
  chmodSync(dir, 0o555);
  t.teardown(() => chmodSync(dir, 0o700));
  t.deepEqual(await readCredentials(dir), created);
  chmodSync(dir, 0o700);
  chmodSync(join(dir, 'ca.pem'), 0o644);
  await t.notThrowsAsync(readCredentials(dir));
  for (const name of ['ca.key', 'server.key', 'token']) {
    chmodSync(join(dir, name), 0o444);
    await t.throwsAsync(readCredentials(dir), { instanceOf: CredentialsError, message: new RegExp(`^credentials folder ${dir}: ${name} has mode 0444.*chmod 600`) });
    chmodSync(join(dir, name), 0o400);
  }
});

test('a server certificate or key that does not belong with the CA is refused', async (t) => {
  const dir = join(tmp(), 'credentials');
  const created = await createCredentials(dir, { hosts: [] });
  const other = await createRunPki({ hosts: [] });
  writeFileSync(join(dir, 'server.pem'), other.server.certPem);
  await t.throwsAsync(readCredentials(dir), { instanceOf: CredentialsError, message: new RegExp(`^credentials folder ${dir}: the server certificate was not issued by the CA`) });
  writeFileSync(join(dir, 'server.pem'), created.server.certPem);
  writeFileSync(join(dir, 'server.key'), other.server.keyPem);
  await t.throwsAsync(readCredentials(dir), { message: /the server private key does not belong to its certificate/ });
});

test('a bad token file is refused, naming the file but not quoting it', async (t) => {
  const dir = join(tmp(), 'credentials');
  await createCredentials(dir, { hosts: [] });
  writeFileSync(join(dir, 'token'), 'short-secret\n');
  const err = await t.throwsAsync(readCredentials(dir), { instanceOf: CredentialsError, message: new RegExp(`^${join(dir, 'token')}: the run token has 12 characters`) });
  t.false(err?.message.includes('short-secret'));
});

test('a folder that does not exist, or a file where the folder should be, is named', async (t) => {
  const dir = tmp();
  await t.throwsAsync(readCredentials(join(dir, 'nope')), { instanceOf: CredentialsError, message: /does not exist or is not a folder/ });
  writeFileSync(join(dir, 'file'), '');
  await t.throwsAsync(loadOrCreateCredentials(join(dir, 'file'), { hosts: [] }), { instanceOf: CredentialsError, message: /is not a folder/ });
});
