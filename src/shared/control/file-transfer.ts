import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ProtocolViolationError, TransferChecksumError, TransferTooLargeError } from '../errors';
import { resolveUnder } from '../util/safe-path';

/**
 * One piece of a file in transit (dataset shards to workers, checkpoints to and from the
 * coordinator). A file is sent as pieces in offset order; its last piece carries the total
 * size and sha256, which the receiver checks before the file appears under its name.
 */
export interface FilePiece {
  /** Path relative to the folder being transferred, with forward slashes. */
  name: string;
  offset: number;
  data: Buffer;
  last: boolean;
  /** Set on the last piece. */
  totalBytes: number;
  /** Hex sha256 of the whole file; set on the last piece. */
  sha256: string;
}

/** A file received whole and verified. */
export interface ReceivedFile {
  name: string;
  bytes: number;
  sha256: string;
}

/** Reads `root/name` as pieces of at most `pieceBytes`, hashing as it goes. */
export async function* readFilePieces(root: string, name: string, pieceBytes = 1 << 20): AsyncGenerator<FilePiece> {
  const path = resolveUnder(root, name);
  const size = (await stat(path)).size;
  const hash = createHash('sha256');
  let offset = 0;
  if (size === 0) {
    yield { name, offset: 0, data: Buffer.alloc(0), last: true, totalBytes: 0, sha256: hash.digest('hex') };
    return;
  }
  for await (const chunk of createReadStream(path, { highWaterMark: pieceBytes })) {
    const data = chunk as Buffer;
    hash.update(data);
    const last = offset + data.length >= size;
    yield { name, offset, data, last, totalBytes: last ? size : 0, sha256: last ? hash.digest('hex') : '' };
    offset += data.length;
  }
}

/** What a receiver admits of a piece stream, beyond well-formed pieces. */
export interface TransferBounds {
  /** Most bytes of all files together; unbounded when left out. */
  maxBytes?: number;
  /** The only file names admitted, each with its largest size in bytes; any name when left out. */
  files?: ReadonlyMap<string, number>;
}

/**
 * Writes the files of a piece stream under `root`, each into a temporary file that is
 * fsynced and renamed into place only when its size and sha256 match what the sender
 * declared (the caller fsyncs the folders, e.g. by installing them durably). A gap,
 * an overlap, a mismatch, or a stream that ends mid-file is a {@link TransferChecksumError}
 * naming the file; an unsafe name, a name sent twice or one `bounds.files` does not list, a
 * ProtocolViolationError; more bytes than `bounds` admit, a {@link TransferTooLargeError}
 * raised before they are written. Nothing unverified is left under its name, and a stream
 * that fails (the sender's iterator throwing too) leaves no partial file; files received
 * whole before the failure stay, for the caller to keep or remove.
 */
export async function writeFilePieces(root: string, pieces: AsyncIterable<FilePiece>, bounds: TransferBounds = {}): Promise<ReceivedFile[]> {
  const received: ReceivedFile[] = [];
  const started = new Set<string>();
  let total = 0;
  let current: { name: string; tmp: string; file: Awaited<ReturnType<typeof open>>; hash: ReturnType<typeof createHash>; bytes: number } | null = null;
  try {
    for await (const piece of pieces) {
      if (current === null) {
        const target = resolveUnder(root, piece.name);
        admitName(piece.name, started, bounds);
        await mkdir(dirname(target), { recursive: true });
        const tmp = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
        current = { name: piece.name, tmp, file: await open(tmp, 'w'), hash: createHash('sha256'), bytes: 0 };
      }
      if (piece.name !== current.name) throw new TransferChecksumError(`${current.name}: the stream moved on to ${piece.name} before the file's last piece`);
      if (piece.offset !== current.bytes) throw new TransferChecksumError(`${current.name}: piece at offset ${piece.offset}, expected ${current.bytes}`);
      admitBytes(current.name, current.bytes + piece.data.length, total + piece.data.length, bounds);
      await current.file.write(piece.data);
      current.hash.update(piece.data);
      current.bytes += piece.data.length;
      total += piece.data.length;
      if (!piece.last) continue;
      // Flushed before it gets its name: a crash must not leave a short file that looks received.
      await current.file.sync();
      await current.file.close();
      const sha256 = current.hash.digest('hex');
      if (current.bytes !== piece.totalBytes || sha256 !== piece.sha256) {
        throw new TransferChecksumError(
          `${current.name}: received ${current.bytes} bytes with sha256 ${sha256}, the sender declared ${piece.totalBytes} bytes with sha256 ${piece.sha256}`,
        );
      }
      await rename(current.tmp, resolveUnder(root, current.name));
      received.push({ name: current.name, bytes: current.bytes, sha256 });
      current = null;
    }
    if (current !== null) throw new TransferChecksumError(`${current.name}: the stream ended after ${current.bytes} bytes, before the file's last piece`);
    return received;
  } finally {
    if (current !== null) {
      await current.file.close().catch(() => undefined);
      await rm(current.tmp, { force: true });
    }
  }
}

// A file may come once, and only under a name the receiver expects.
function admitName(name: string, started: Set<string>, bounds: TransferBounds): void {
  if (started.has(name)) throw new ProtocolViolationError(`'${name}' was sent twice in one transfer: each file comes once`);
  if (bounds.files !== undefined && !bounds.files.has(name)) {
    throw new ProtocolViolationError(`'${name}' is not a file this transfer admits (expected one of ${[...bounds.files.keys()].join(', ')})`);
  }
  started.add(name);
}

function admitBytes(name: string, fileBytes: number, totalBytes: number, bounds: TransferBounds): void {
  const fileMax = bounds.files?.get(name);
  if (fileMax !== undefined && fileBytes > fileMax) throw new TransferTooLargeError(`${name}: ${fileBytes} bytes and counting, but this transfer admits at most ${fileMax} bytes for it`);
  if (bounds.maxBytes !== undefined && totalBytes > bounds.maxBytes) {
    throw new TransferTooLargeError(`${name}: the transfer reached ${totalBytes} bytes, more than the ${bounds.maxBytes} bytes it admits in all`);
  }
}
