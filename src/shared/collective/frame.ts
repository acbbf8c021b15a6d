import { CollectiveMessageError } from '../errors';
import { type ChunkTag, PHASES, WIRE_TYPES, type WireType, type WireValues, wireTypeOf } from './api';

/**
 * The collective's wire format: one message is two ZeroMQ frames, a fixed binary
 * {@link FrameHeader} and the payload's raw bytes (float32 or half values, little-endian, the
 * byte order of every supported host).
 *
 * Header layout, little-endian; every byte is checked on receipt:
 *
 *   0  u8[2] magic 'ff'          8  u32  step, low 32 bits   20  u32  chunk
 *   2  u8    version (1)        12  u32  step, high bits     24  u32  length (values)
 *   3  u8    wire type index    16  u32  round               28  u32  zero
 *   4  u8    phase index                                     32  run, UTF-8
 *   5  u8    zero
 *   6  u16   run bytes
 *
 * A fixed layout, rather than a self-describing encoding, is what lets a sender write a header
 * by patching three numbers into the bytes of its operation's first one, and a receiver read
 * one without a parser.
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

/** Bytes before the run id in a header frame. */
const FIXED_BYTES = 32;
/** The longest run id a header carries, in UTF-8 bytes. */
export const MAX_RUN_BYTES = 512;
/** The largest header frame a receiver parses (a real one is 32 bytes and the run id). */
export const MAX_HEADER_BYTES = 1024;
const MAGIC = 0x6666;
const VERSION = 1;
const HIGH_STEP = 2 ** 32;
/** Bytes per value of each wire type. */
const VALUE_BYTES: Record<WireType, number> = { f32: 4, f16: 2 };

/**
 * Writes header frames, keeping the encoded bytes of the last operation (run, step and phase)
 * so that each further message of it only patches its round, chunk and length in.
 */
export class FrameEncoder {
  private template: Buffer | null = null;
  private key: ChunkTag = { run: '', step: -1, phase: 'D', round: 0, chunk: 0 };

  /**
   * Encodes one message. The payload frame is a view of the array's memory, not a copy: the
   * caller keeps it unchanged until the peer has it (see the Transport's memory rule). Each
   * header is a new buffer, as the payload's may be held until sent. Throws RangeError for a
   * tag the header cannot carry (a run id over MAX_RUN_BYTES, a count over its field).
   */
  encode(tag: ChunkTag, payload: WireValues): [Buffer, Buffer] {
    if (tag.run !== this.key.run || tag.step !== this.key.step || tag.phase !== this.key.phase) {
      this.template = templateOf(tag);
      this.key = tag;
    }
    const template = this.template as Buffer;
    const header = Buffer.allocUnsafe(template.length);
    template.copy(header);
    header[3] = WIRE_TYPES.indexOf(wireTypeOf(payload));
    header.writeUInt32LE(checkU32(tag.round, 'round'), 16);
    header.writeUInt32LE(checkU32(tag.chunk, 'chunk'), 20);
    header.writeUInt32LE(checkU32(payload.length, 'length'), 24);
    return [header, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)];
  }
}

const shared = new FrameEncoder();

/** Encodes one message, as {@link FrameEncoder.encode} does (with a shared encoder). */
export function encodeFrame(tag: ChunkTag, payload: WireValues): [Buffer, Buffer] {
  return shared.encode(tag, payload);
}

// The header of the operation's messages, round, chunk, length and wire type left zero.
function templateOf(tag: ChunkTag): Buffer {
  const run = Buffer.from(tag.run, 'utf8');
  if (run.length > MAX_RUN_BYTES) throw new RangeError(`run id of ${run.length} UTF-8 bytes: expected at most ${MAX_RUN_BYTES}`);
  if (!Number.isSafeInteger(tag.step) || tag.step < 0) throw new RangeError(`step ${tag.step}: expected an integer >= 0`);
  const header = Buffer.alloc(FIXED_BYTES + run.length);
  header.writeUInt16LE(MAGIC, 0);
  header[2] = VERSION;
  header[4] = PHASES.indexOf(tag.phase);
  header.writeUInt16LE(run.length, 6);
  header.writeUInt32LE(tag.step % HIGH_STEP, 8);
  header.writeUInt32LE(Math.floor(tag.step / HIGH_STEP), 12);
  run.copy(header, FIXED_BYTES);
  return header;
}

function checkU32(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value >= HIGH_STEP) throw new RangeError(`${field} ${value}: expected an integer in [0, 2^32)`);
  return value;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// The last run id decoded and its bytes: a ring's messages all carry the same one, so most
// receipts compare a few bytes instead of decoding them.
let lastRun = { bytes: Buffer.alloc(0), text: '' };

/**
 * Decodes and validates one received message; `peer` names its sender in errors. The payload
 * is a view of the received bytes, copied only when they do not start on a boundary of their
 * value size. Throws CollectiveMessageError naming what is wrong: the frame count, a header
 * of the wrong size, magic or version, a field out of its range, a run id that is not UTF-8,
 * or a payload whose size does not fit the header.
 */
export function decodeFrame(frames: readonly Buffer[], peer: string): Frame {
  const bad = (what: string) => new CollectiveMessageError(`${peer} sent ${what}`);
  if (frames.length !== 2) throw bad(`a message of ${frames.length} frame(s); expected 2 (header, payload)`);
  const [head, body] = frames;
  if (head.length > MAX_HEADER_BYTES) throw bad(`a header frame of ${head.length} bytes; expected at most ${MAX_HEADER_BYTES}`);
  if (head.length < FIXED_BYTES) throw bad(`a header frame of ${head.length} bytes; expected at least ${FIXED_BYTES}`);
  if (head.readUInt16LE(0) !== MAGIC) throw bad(`a header frame that is not a ring header (magic 0x${head.readUInt16LE(0).toString(16)})`);
  if (head[2] !== VERSION) throw bad(`a header of wire version ${head[2]}; this rank speaks version ${VERSION}`);
  const runBytes = head.readUInt16LE(6);
  if (head.length !== FIXED_BYTES + runBytes) throw bad(`a header frame of ${head.length} bytes for a run id of ${runBytes} bytes; expected ${FIXED_BYTES + runBytes}`);
  const issues: string[] = [];
  const dtype = WIRE_TYPES[head[3]];
  if (dtype === undefined) issues.push(`wire type index ${head[3]} (expected 0..${WIRE_TYPES.length - 1})`);
  const phase = PHASES[head[4]];
  if (phase === undefined) issues.push(`phase index ${head[4]} (expected 0..${PHASES.length - 1})`);
  if (head[5] !== 0 || head.readUInt32LE(28) !== 0) issues.push('reserved bytes not zero');
  const high = head.readUInt32LE(12);
  if (high >= 2 ** 21) issues.push(`step high bits ${high} (the step must be a safe integer)`);
  if (runBytes > MAX_RUN_BYTES) issues.push(`a run id of ${runBytes} bytes (expected at most ${MAX_RUN_BYTES})`);
  const run = issues.length === 0 ? decodeRun(head.subarray(FIXED_BYTES)) : '';
  if (run === null) issues.push('a run id that is not UTF-8');
  if (issues.length > 0 || run === null) throw bad(`a malformed header: ${issues.join('; ')}`);
  const header: FrameHeader = {
    run,
    step: high * HIGH_STEP + head.readUInt32LE(8),
    phase,
    round: head.readUInt32LE(16),
    chunk: head.readUInt32LE(20),
    length: head.readUInt32LE(24),
    dtype,
  };
  const size = VALUE_BYTES[dtype];
  if (body.length % size !== 0) throw bad(`a payload of ${body.length} bytes, not a whole number of ${dtype} values`);
  if (body.length !== header.length * size) {
    throw bad(`a payload of ${body.length} bytes, but its header says ${header.length} ${dtype} values (${header.length * size} bytes)`);
  }
  const aligned = body.byteOffset % size === 0 ? body : Buffer.from(body);
  const payload = dtype === 'f32' ? new Float32Array(aligned.buffer, aligned.byteOffset, header.length) : new Uint16Array(aligned.buffer, aligned.byteOffset, header.length);
  return { header, payload };
}

// The run id in `bytes`, or null when they are not UTF-8.
function decodeRun(bytes: Buffer): string | null {
  if (bytes.equals(lastRun.bytes)) return lastRun.text;
  try {
    lastRun = { bytes: Buffer.from(bytes), text: utf8.decode(bytes) };
    return lastRun.text;
  } catch {
    return null;
  }
}
