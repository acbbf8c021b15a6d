import { createHmac, hkdfSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CredentialsError } from '../../../src/shared/errors';
import { sealCheckpoint, sealKey, verifyCheckpointSeal } from '../../../src/shared/security/checkpoint-seal';
import { SEAL_FILE } from '../../../src/shared/train/checkpoint';
import { newRunToken } from '../../../src/shared/security/run-token';

const META = '{"format":"facefill-checkpoint","version":1,"step":500,"files":[]}\n';

function checkpoint(meta = META): string {
  const dir = mkdtempSync(join(tmpdir(), 'facefill-seal-'));
  writeFileSync(join(dir, 'meta.json'), meta);
  return dir;
}

test('the sealing key is HKDF-SHA256 of the token with the seal info, 32 bytes, one per token', (t) => {
  const token = newRunToken();
  const key = sealKey(token);
  t.is(key.length, 32);
  t.deepEqual(key, Buffer.from(hkdfSync('sha256', token, '', 'facefill checkpoint seal v1', 32)));
  t.deepEqual(sealKey(token), key);
  t.notDeepEqual(sealKey(newRunToken()), key);
  t.false(key.toString('base64url').includes(token.slice(0, 8)));
});

test('a sealed checkpoint verifies; the seal is the HMAC of meta.json\'s exact bytes', async (t) => {
  const dir = checkpoint();
  const key = sealKey(newRunToken());
  await sealCheckpoint(dir, key);
  t.deepEqual(readdirSync(dir).sort(), ['meta.json', SEAL_FILE]);
  const seal = JSON.parse(readFileSync(join(dir, SEAL_FILE), 'utf8'));
  t.is(seal.version, 1);
  t.is(seal.hmacSha256, createHmac('sha256', key).update(META).digest('hex'));
  await t.notThrowsAsync(verifyCheckpointSeal(dir, key));
});

test('a meta.json changed after sealing, even by one byte of whitespace, is refused', async (t) => {
  const dir = checkpoint();
  const key = sealKey(newRunToken());
  await sealCheckpoint(dir, key);
  writeFileSync(join(dir, 'meta.json'), META.replace('\n', ' \n'));
  await t.throwsAsync(verifyCheckpointSeal(dir, key), { instanceOf: CredentialsError, message: `checkpoint ${dir}: meta.json does not match its seal: was it changed after the coordinator published it?` });
});

test('a seal made with another run\'s key is refused as such', async (t) => {
  const dir = checkpoint();
  await sealCheckpoint(dir, sealKey(newRunToken()));
  await t.throwsAsync(verifyCheckpointSeal(dir, sealKey(newRunToken())), { instanceOf: CredentialsError, message: /the seal was made with another key/ });
});

test('a missing or malformed seal, or a missing meta.json, is refused naming the folder', async (t) => {
  const dir = checkpoint();
  const key = sealKey(newRunToken());
  await t.throwsAsync(verifyCheckpointSeal(dir, key), { instanceOf: CredentialsError, message: new RegExp(`^checkpoint ${dir} has no seal.json`) });
  writeFileSync(join(dir, SEAL_FILE), '{not json');
  await t.throwsAsync(verifyCheckpointSeal(dir, key), { instanceOf: CredentialsError, message: `checkpoint ${dir}: seal.json is not valid JSON` });
  writeFileSync(join(dir, SEAL_FILE), JSON.stringify({ version: 1, metaSha256: 'ab', hmacSha256: 'x'.repeat(64) }));
  await t.throwsAsync(verifyCheckpointSeal(dir, key), { instanceOf: CredentialsError, message: /seal.json is malformed \(metaSha256, hmacSha256\)/ });
  await sealCheckpoint(dir, key);
  rmSync(join(dir, 'meta.json'));
  await t.throwsAsync(verifyCheckpointSeal(dir, key), { instanceOf: CredentialsError, message: `checkpoint ${dir}: cannot read meta.json: it does not exist` });
  await t.throwsAsync(sealCheckpoint(dir, key), { instanceOf: CredentialsError });
});
