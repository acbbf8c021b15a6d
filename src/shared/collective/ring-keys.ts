import { curveKeyPair } from 'zeromq';
import { ConfigInvalidError } from '../errors';
import { decodeZ85 } from './z85';

/**
 * A rank's CURVE keypair for one ring generation, both keys Z85 strings of 40 characters. The
 * rank's receiving socket serves CURVE with the secret key, and its sending socket presents
 * the same keypair to the right neighbour, so the one public key the coordinator hands around
 * is both what the left neighbour connects to and what the right neighbour admits.
 */
export interface RingKeys {
  publicKey: string;
  secretKey: string;
}

/** Makes a fresh keypair; a worker makes one for each ring it listens for, so an old ring's keys open nothing. */
export function newRingKeys(): RingKeys {
  return curveKeyPair();
}

/**
 * Decodes a CURVE key given as Z85 into its 32 bytes. Throws ConfigInvalidError naming `what`
 * when it is not one (a key is 40 Z85 characters).
 */
export function decodeRingKey(key: string, what: string): Buffer {
  const bytes = decodeZ85(key);
  if (bytes === null || bytes.length !== 32) {
    const shown = key.length > 48 ? `${key.slice(0, 48)}...` : key;
    throw new ConfigInvalidError(`${what} '${shown}' is not a CURVE key: expected 40 Z85 characters`);
  }
  return bytes;
}
