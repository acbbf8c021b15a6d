import { pack, unpack } from 'msgpackr';
import { CollectiveMessageError } from '../errors';
import type { RingHeader, RingMessage } from './api';

/**
 * The all-reduce wire format: two ZeroMQ frames, a msgpack-encoded {@link RingHeader} and the
 * raw little-endian float32 payload. The payload is copied once on encode (the sender reuses
 * its buffer in later rounds) and viewed without a copy on decode when it is 4-byte aligned.
 */
export function encodeFrames(m: RingMessage): [Buffer, Buffer] {
  const p = m.payload;
  return [pack(m.header), Buffer.from(Buffer.from(p.buffer, p.byteOffset, p.byteLength))];
}

/** Parses and validates the frames of one message; anything malformed is a CollectiveMessageError naming `from`. */
export function decodeFrames(frames: Buffer[], from: string): RingMessage {
  if (frames.length !== 2) throw new CollectiveMessageError(`${from} sent ${frames.length} frames, expected 2 (header, payload)`);
  let header: unknown;
  try {
    header = unpack(frames[0]);
  } catch (err) {
    throw new CollectiveMessageError(`${from} sent a header that is not msgpack: ${(err as Error).message}`);
  }
  const h = checkHeader(header, from);
  const bytes = frames[1];
  if (bytes.length !== h.length * 4) {
    throw new CollectiveMessageError(`${from} sent ${bytes.length} payload bytes, its header says ${h.length} float32 values (${h.length * 4} bytes)`);
  }
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : Buffer.from(bytes);
  return { header: h, payload: new Float32Array(aligned.buffer, aligned.byteOffset, h.length) };
}

function checkHeader(v: unknown, from: string): RingHeader {
  const h = v as Partial<Record<keyof RingHeader, unknown>> | null;
  const nat = (x: unknown) => Number.isInteger(x) && (x as number) >= 0;
  if (h === null || typeof h !== 'object' || typeof h.run !== 'string' || (h.phase !== 'D' && h.phase !== 'G') || ![h.step, h.round, h.chunk, h.length].every(nat)) {
    throw new CollectiveMessageError(`${from} sent a malformed header ${JSON.stringify(v)}; expected {run, step, phase: D|G, round, chunk, length}`);
  }
  return h as RingHeader;
}
