import { ProtocolViolationError } from '../errors';

/**
 * Bounds on the fields of control-plane messages, checked where they enter the coordinator:
 * a host name is not 60 MB. Identifiers that are stored, compared or logged (hosts, endpoints,
 * keys, digests) are refused when out of bounds; free text a worker reports (an error, a
 * reason) is cut to its bound, since losing its tail is better than losing the report.
 */

/** The longest value each field may have, in characters. */
export const FIELD_LIMITS = {
  /** DNS names are at most 253 characters; IPv6 literals fit too. */
  host: 253,
  endpoint: 1024,
  backend: 32,
  runId: 128,
  /** Error messages and reasons: cut, not refused. */
  text: 4096,
} as const;

/** The message size a server or client accepts: a file piece (1 MiB) and its header, with room to spare. */
export const MAX_MESSAGE_BYTES = 4 << 20;

const HOST = /^[A-Za-z0-9._:%[\]-]+$/;
const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;
const SECRET = /^[0-9a-f]{64}$/;

/** Throws ProtocolViolationError naming `field` when `value` is longer than `max` characters. */
export function checkLength(field: string, value: string, max: number): string {
  if (value.length > max) throw new ProtocolViolationError(`${field} is ${value.length} characters long; at most ${max} are allowed`);
  return value;
}

/** A host name or address: bounded, and only the characters names and addresses have (no spaces or control characters for logs to carry). */
export function checkHost(field: string, value: string): string {
  checkLength(field, value, FIELD_LIMITS.host);
  // Not echoed: a value made to look like a log line would be one.
  if (!HOST.test(value)) throw new ProtocolViolationError(`${field} is not a host name or address: only letters, digits and . _ - : % [ ] may appear`);
  return value;
}

/** A ring CURVE public key in Z85 (40 characters), or '' for none. */
export function checkRingKey(field: string, value: string): string {
  if (value !== '' && !Z85_KEY.test(value)) throw new ProtocolViolationError(`${field} is not a Z85 CURVE public key (40 characters) nor empty`);
  return value;
}

/** A session secret's form (64 hex characters), or '' (a caller that has none; the check that it is the rank's comes later). */
export function checkSession(value: string): string {
  if (value !== '' && !SECRET.test(value)) throw new ProtocolViolationError('the session secret is not 64 hex characters');
  return value;
}

/** Free text a peer reports, cut to {@link FIELD_LIMITS.text}. */
export function boundedText(value: string): string {
  return value.length > FIELD_LIMITS.text ? `${value.slice(0, FIELD_LIMITS.text)}… (${value.length - FIELD_LIMITS.text} more characters)` : value;
}
