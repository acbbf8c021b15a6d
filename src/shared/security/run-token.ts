import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CredentialsError } from '../errors';

/**
 * A run's bearer token: every control-plane call carries it, and the checkpoint seal's key is
 * derived from it. It is a secret, so no message of this module ever quotes one.
 */

// 128 bits is the least a guess must get through; 22 base64url characters hold 132.
const MIN_LENGTH = 22;
// A gRPC metadata value and an env var are bounded; a longer token is a mistake (a whole file pasted).
const MAX_LENGTH = 512;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A new run token: 32 random bytes, base64url (256 bits). */
export function newRunToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Whether `given` is the token, in time that does not depend on where they differ: both are
 * hashed first, so the comparison is of equal lengths and says nothing about the token's length.
 */
export function tokenMatches(expected: string, given: string | undefined | null): boolean {
  if (given === undefined || given === null) return false;
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(given, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Validates a token read from a file or env var named by `source` and returns it without the
 * surrounding whitespace a file's last newline adds: base64url, at least 22 characters (128
 * bits). Throws a CredentialsError naming `source`, never the token's value.
 */
export function checkToken(token: string, source: string): string {
  const trimmed = token.trim();
  if (trimmed.length === 0) throw new CredentialsError(`${source}: the run token is empty`);
  if (!BASE64URL.test(trimmed)) throw new CredentialsError(`${source}: the run token holds characters outside base64url (A-Z, a-z, 0-9, '-', '_')`);
  if (trimmed.length < MIN_LENGTH) throw new CredentialsError(`${source}: the run token has ${trimmed.length} characters; at least ${MIN_LENGTH} (128 bits) are needed`);
  if (trimmed.length > MAX_LENGTH) throw new CredentialsError(`${source}: the run token has ${trimmed.length} characters; at most ${MAX_LENGTH} are allowed`);
  return trimmed;
}
