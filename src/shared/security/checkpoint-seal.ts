import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CredentialsError } from '../errors';
import { SEAL_FILE } from '../train/checkpoint';
import { writeFileAtomic } from '../util/atomic-write';

/**
 * A checkpoint's integrity seal: an HMAC of its meta.json under a key only the run's holders
 * derive. meta.json lists every file with its sha256, so the seal vouches for the whole folder
 * once the checkpoint loader has checked each file against meta.json.
 */

const META_FILE = 'meta.json';
const HKDF_INFO = 'facefill checkpoint seal v1';
const HEX_SHA256 = /^[0-9a-f]{64}$/;

const SealSchema = z.object({ version: z.literal(1), metaSha256: z.string().regex(HEX_SHA256), hmacSha256: z.string().regex(HEX_SHA256) });

/**
 * The run's checkpoint-sealing key: HKDF-SHA256 of the run token's text (no salt, info
 * 'facefill checkpoint seal v1'), 32 bytes. A key of its own, so that a seal never reveals
 * anything usable as the token.
 */
export function sealKey(token: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(token, 'utf8'), Buffer.alloc(0), HKDF_INFO, 32));
}

/** Writes `dir/seal.json` = { version: 1, metaSha256, hmacSha256 }, the HMAC over meta.json's exact bytes (an atomic, fsynced write). */
export async function sealCheckpoint(dir: string, key: Buffer): Promise<void> {
  const meta = await readMeta(dir);
  const seal = { version: 1, metaSha256: sha256(meta).toString('hex'), hmacSha256: hmac(key, meta).toString('hex') };
  await writeFileAtomic(join(dir, SEAL_FILE), `${JSON.stringify(seal)}\n`);
}

/**
 * Verifies `dir/seal.json` against `dir/meta.json` in constant time. Throws a CredentialsError
 * naming the folder when the seal is missing, malformed or does not match. It does not check
 * each file against meta.json: the checkpoint loader does that.
 */
export async function verifyCheckpointSeal(dir: string, key: Buffer): Promise<void> {
  const sealText = await readFile(join(dir, SEAL_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new CredentialsError(`checkpoint ${dir} has no ${SEAL_FILE}: it was not published by this run's coordinator, or the seal was lost`);
    throw new CredentialsError(`checkpoint ${dir}: cannot read ${SEAL_FILE}: ${err.message}`, { cause: err });
  });
  const seal = parseSeal(sealText, dir);
  const meta = await readMeta(dir);
  if (!timingSafeEqual(hmac(key, meta), Buffer.from(seal.hmacSha256, 'hex'))) {
    // The sha256 is no secret: it only tells a changed meta.json from a seal made with another key.
    const changed = sha256(meta).toString('hex') !== seal.metaSha256;
    throw new CredentialsError(
      changed
        ? `checkpoint ${dir}: ${META_FILE} does not match its seal: was it changed after the coordinator published it?`
        : `checkpoint ${dir}: the seal was made with another key: the checkpoint is another run's, or was sealed with another run token`,
    );
  }
}

function parseSeal(text: string, dir: string): z.infer<typeof SealSchema> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CredentialsError(`checkpoint ${dir}: ${SEAL_FILE} is not valid JSON`);
  }
  const parsed = SealSchema.safeParse(value);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(seal)'))].join(', ');
    throw new CredentialsError(`checkpoint ${dir}: ${SEAL_FILE} is malformed (${fields}): expected { version: 1, metaSha256, hmacSha256 } with hex sha256 values`);
  }
  return parsed.data;
}

async function readMeta(dir: string): Promise<Buffer> {
  return readFile(join(dir, META_FILE)).catch((err: NodeJS.ErrnoException) => {
    throw new CredentialsError(`checkpoint ${dir}: cannot read ${META_FILE}: ${err.code === 'ENOENT' ? 'it does not exist' : err.message}`, { cause: err });
  });
}

function hmac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}
