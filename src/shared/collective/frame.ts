import { pack, unpack } from 'msgpackr';
import { z } from 'zod';
import { CollectiveMessageError } from '../errors';
import { type ChunkTag, PHASES, WIRE_TYPES, type WireType, type WireValues, wireTypeOf } from './api';

/**
 * The collective's wire format: one message is two ZeroMQ frames, a MessagePack-encoded
 * {@link FrameHeader} and the payload's raw bytes (float32 or half values, little-endian, the
 * byte order of every supported host).
 */

/** The header frame of one message: the chunk's tag, its values' wire type and its length in values. */
export interface FrameHeader extends ChunkTag {
  length: number;
  dtype: WireType;
}

/** A decoded, well-formed message (not yet checked against what the receiver expects). */
export interface Frame {
  header: FrameHeader;
  payload: WireValues;
}

/** The largest header frame a receiver parses; a real one is about 60 bytes. */
export const MAX_HEADER_BYTES = 1024;
/** Bytes per value of each wire type. */
const VALUE_BYTES: Record<WireType, number> = { f32: 4, f16: 2 };
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const FrameHeaderSchema = z.object({
  run: z.string().max(256),
  step: count,
  phase: z.enum(PHASES),
  round: count,
  chunk: count,
  length: count,
  dtype: z.enum(WIRE_TYPES),
});

/**
 * Encodes one message. The payload frame is a view of the array's memory, not a copy: the
 * caller keeps it unchanged until the peer has it (see the Transport's memory rule).
 */
export function encodeFrame(tag: ChunkTag, payload: WireValues): [Buffer, Buffer] {
  const header: FrameHeader = { run: tag.run, step: tag.step, phase: tag.phase, round: tag.round, chunk: tag.chunk, length: payload.length, dtype: wireTypeOf(payload) };
  return [pack(header), Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)];
}

/**
 * Decodes and validates one received message; `peer` names its sender in errors. The payload
 * is a view of the received bytes, copied only when they do not start on a boundary of their
 * value size. Throws CollectiveMessageError naming what is wrong: the frame count, an
 * undecodable or ill-typed header, or a payload whose size does not fit the header.
 */
export function decodeFrame(frames: readonly Buffer[], peer: string): Frame {
  const bad = (what: string) => new CollectiveMessageError(`${peer} sent ${what}`);
  if (frames.length !== 2) throw bad(`a message of ${frames.length} frame(s); expected 2 (header, payload)`);
  const [head, body] = frames;
  if (head.length > MAX_HEADER_BYTES) throw bad(`a header frame of ${head.length} bytes; expected at most ${MAX_HEADER_BYTES}`);
  let decoded: unknown;
  try {
    decoded = unpack(head);
  } catch (err) {
    throw bad(`a header frame that is not MessagePack (${(err as Error).message})`);
  }
  const parsed = FrameHeaderSchema.safeParse(decoded);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(header)'}: ${i.message}`).join('; ');
    throw bad(`a malformed header ${describe(decoded)}: ${issues}`);
  }
  const header = parsed.data;
  const size = VALUE_BYTES[header.dtype];
  if (body.length % size !== 0) throw bad(`a payload of ${body.length} bytes, not a whole number of ${header.dtype} values`);
  if (body.length !== header.length * size) {
    throw bad(`a payload of ${body.length} bytes, but its header says ${header.length} ${header.dtype} values (${header.length * size} bytes)`);
  }
  const aligned = body.byteOffset % size === 0 ? body : Buffer.from(body);
  const payload = header.dtype === 'f32' ? new Float32Array(aligned.buffer, aligned.byteOffset, header.length) : new Uint16Array(aligned.buffer, aligned.byteOffset, header.length);
  return { header, payload };
}

function describe(v: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    // BigInt fields (uint64 in MessagePack) cannot be JSON-encoded.
    text = String(v);
  }
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
