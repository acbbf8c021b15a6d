import { FormatError } from '../errors';
import type { FaceLabels } from './api';

/**
 * The dataset shard file (`<split>-NNNNN.ffs`). All integers are unsigned little-endian;
 * offsets are in bytes.
 *
 * ```
 * header, 16 bytes
 *   0    4    magic "FFSH" (ASCII)
 *   4    2    format version, 1
 *   6    2    image side S in pixels
 *   8    4    record count N
 *   12   4    reserved, 0
 * then N records back to back; offsets from the start of each record
 *   0    32   sha256 of the source file's bytes (the image's identity), raw
 *   32   1    age in years 0..254, 255 = unknown
 *   33   1    gender: 0 male, 1 female, 255 = unknown
 *   34   1    race: 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others, 255 = unknown
 *   35   1    reserved, 0
 *   36   2    name length L in bytes (a longer name is cut to 65535 bytes)
 *   38   L    source file name, UTF-8
 *   38+L S*S  grayscale pixels, row-major, 0 black .. 255 white
 * nothing after the last record
 * ```
 *
 * A file of N records with names of L1..LN bytes is 16 + sum(38 + Li + S*S) bytes long.
 * Integrity is checked by the sha256 of the whole file recorded in the manifest; this
 * module checks structure (magic, version, lengths, label ranges) so that a shard cut
 * short, padded or garbled is a {@link FormatError} rather than garbage pixels.
 */

/** One image as stored in a shard. */
export interface ShardRecord {
  sha256: string;
  labels: FaceLabels;
  name: string;
  pixels: Uint8Array;
}

const MAGIC = 'FFSH';
const VERSION = 1;
const HEADER_BYTES = 16;
const UNKNOWN = 255;

/** Serialises records of side `size` into one shard file. */
export function encodeShard(size: number, records: readonly ShardRecord[]): Buffer {
  const names = records.map((r) => Buffer.from(r.name, 'utf8').subarray(0, 0xffff));
  const total = HEADER_BYTES + records.reduce((n, _r, i) => n + 38 + names[i].length + size * size, 0);
  const buf = Buffer.alloc(total);
  buf.write(MAGIC, 0, 'latin1');
  buf.writeUInt16LE(VERSION, 4);
  buf.writeUInt16LE(size, 6);
  buf.writeUInt32LE(records.length, 8);
  let o = HEADER_BYTES;
  records.forEach((r, i) => {
    if (r.pixels.length !== size * size) throw new RangeError(`record ${r.name} has ${r.pixels.length} pixels, expected ${size * size}`);
    o += buf.write(r.sha256, o, 'hex');
    buf[o++] = r.labels.age ?? UNKNOWN;
    buf[o++] = r.labels.gender ?? UNKNOWN;
    buf[o++] = r.labels.race ?? UNKNOWN;
    buf[o++] = 0;
    buf.writeUInt16LE(names[i].length, o);
    o += 2;
    o += names[i].copy(buf, o);
    buf.set(r.pixels, o);
    o += r.pixels.length;
  });
  return buf;
}

/** Parses a shard file; `file` names it in errors. */
export function decodeShard(buf: Buffer, file: string): { size: number; records: ShardRecord[] } {
  if (buf.length < HEADER_BYTES || buf.toString('latin1', 0, 4) !== MAGIC) throw new FormatError(file, 'not a facefill shard (bad magic)');
  const version = buf.readUInt16LE(4);
  if (version !== VERSION) throw new FormatError(file, `shard format version ${version}, this build reads ${VERSION}`);
  const size = buf.readUInt16LE(6);
  const count = buf.readUInt32LE(8);
  const records: ShardRecord[] = [];
  let o = HEADER_BYTES;
  const need = (n: number, what: string) => {
    if (o + n > buf.length) throw new FormatError(file, `truncated in record ${records.length} of ${count} (${what})`);
  };
  for (let i = 0; i < count; i++) {
    need(38, 'record header');
    const sha256 = buf.toString('hex', o, o + 32);
    const label = (offset: number, max: number, what: string): number | null => {
      const v = buf[o + offset];
      if (v === UNKNOWN) return null;
      if (v > max) throw new FormatError(file, `record ${records.length} has ${what} ${v}, expected 0..${max} or ${UNKNOWN}`);
      return v;
    };
    const labels = { age: label(32, UNKNOWN - 1, 'age'), gender: label(33, 1, 'gender'), race: label(34, 4, 'race') };
    const nameLength = buf.readUInt16LE(o + 36);
    o += 38;
    need(nameLength + size * size, 'name and pixels');
    const name = buf.toString('utf8', o, o + nameLength);
    o += nameLength;
    const pixels = new Uint8Array(buf.buffer, buf.byteOffset + o, size * size);
    o += size * size;
    records.push({ sha256, labels, name, pixels });
  }
  if (o !== buf.length) throw new FormatError(file, `${buf.length - o} unexpected bytes after ${count} records`);
  return { size, records };
}
