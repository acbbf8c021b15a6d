import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { type FilePiece, readFilePieces, writeFilePieces } from '../../../src/shared/control/file-transfer';
import { ProtocolViolationError, TransferChecksumError, TransferTooLargeError } from '../../../src/shared/errors';
import { Rng } from '../../../src/shared/util/rng';

const tmp = () => mkdtempSync(join(tmpdir(), 'facefill-transfer-'));
const rng = new Rng(8);
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => rng.int(0, 255)));

async function collect(root: string, names: string[], pieceBytes: number): Promise<FilePiece[]> {
  const out: FilePiece[] = [];
  for (const name of names) for await (const p of readFilePieces(root, name, pieceBytes)) out.push(p);
  return out;
}

async function* from(pieces: FilePiece[]): AsyncGenerator<FilePiece> {
  yield* pieces;
}

test('files of any size, in subfolders, arrive byte-exact with their sha256', async (t) => {
  const src = tmp();
  mkdirSync(join(src, 'generator'));
  const files: Record<string, Buffer> = { 'empty.bin': Buffer.alloc(0), 'small.json': bytes(10), 'generator/weights.bin': bytes(10_007) };
  for (const [name, data] of Object.entries(files)) writeFileSync(join(src, name), data);
  const dst = tmp();
  const received = await writeFilePieces(dst, from(await collect(src, Object.keys(files), 1000)));
  t.deepEqual(received.map((r) => r.name), Object.keys(files));
  for (const [name, data] of Object.entries(files)) t.deepEqual(readFileSync(join(dst, name)), data);
});

test('a corrupted piece, a gap, a truncated stream or an unsafe name is refused and leaves nothing behind', async (t) => {
  const src = tmp();
  writeFileSync(join(src, 'shard.ffs'), bytes(5000));
  const pieces = await collect(src, ['shard.ffs'], 1000);
  const cases: [string, FilePiece[], RegExp, typeof TransferChecksumError | typeof ProtocolViolationError][] = [
    ['flipped byte', pieces.map((p, i) => (i === 2 ? { ...p, data: Buffer.from(p.data.map((b, j) => (j === 0 ? b ^ 1 : b))) } : p)), /sha256/, TransferChecksumError],
    ['gap', pieces.filter((_p, i) => i !== 1), /offset 2000, expected 1000/, TransferChecksumError],
    ['truncated', pieces.slice(0, 3), /ended after 3000 bytes/, TransferChecksumError],
    ['unsafe name', pieces.map((p) => ({ ...p, name: '../escape.ffs' })), /unsafe file name/, ProtocolViolationError],
    ['backslash name', pieces.map((p) => ({ ...p, name: 'x\\..' })), /unsafe file name .*backslash/, ProtocolViolationError],
  ];
  for (const [what, list, message, instanceOf] of cases) {
    const dst = tmp();
    await t.throwsAsync(writeFilePieces(dst, from(list)), { instanceOf, message }, what);
    t.deepEqual(readdirSync(dst), [], `${what} left files behind`);
  }
  t.false(existsSync(join(src, '..', 'escape.ffs')));
});

test('a name sent twice in one stream is refused, even when both copies are whole', async (t) => {
  const src = tmp();
  writeFileSync(join(src, 'state.json'), bytes(100));
  const once = await collect(src, ['state.json'], 64);
  const dst = tmp();
  await t.throwsAsync(writeFilePieces(dst, from([...once, ...once])), { instanceOf: ProtocolViolationError, message: /'state\.json' was sent twice/ });
});

test('only the names the receiver lists are admitted, each up to its size, and the total up to maxBytes; nothing over a bound is written', async (t) => {
  const src = tmp();
  const files: Record<string, Buffer> = { 'a.bin': bytes(3000), 'b.bin': bytes(3000), 'other.bin': bytes(10) };
  for (const [name, data] of Object.entries(files)) writeFileSync(join(src, name), data);
  const both = await collect(src, ['a.bin', 'b.bin'], 1000);
  const limits = new Map([
    ['a.bin', 3000],
    ['b.bin', 3000],
  ]);
  const fits = tmp();
  t.deepEqual((await writeFilePieces(fits, from(both), { files: limits, maxBytes: 6000 })).map((f) => f.bytes), [3000, 3000]);

  const unknown = tmp();
  await t.throwsAsync(writeFilePieces(unknown, from(await collect(src, ['other.bin'], 1000)), { files: limits }), {
    instanceOf: ProtocolViolationError,
    message: /'other\.bin' is not a file this transfer admits \(expected one of a\.bin, b\.bin\)/,
  });
  t.deepEqual(readdirSync(unknown), []);

  const fileBound = tmp();
  await t.throwsAsync(writeFilePieces(fileBound, from(both), { files: new Map([...limits, ['a.bin', 2500]]) }), {
    instanceOf: TransferTooLargeError,
    message: /a\.bin: 3000 bytes and counting, but this transfer admits at most 2500 bytes/,
  });
  t.deepEqual(readdirSync(fileBound), [], 'the piece over the bound was never written, and the partial file is gone');

  const totalBound = tmp();
  await t.throwsAsync(writeFilePieces(totalBound, from(both), { maxBytes: 5500 }), { instanceOf: TransferTooLargeError, message: /reached 6000 bytes, more than the 5500 bytes/ });
  t.deepEqual(readdirSync(totalBound), ['a.bin'], 'the file received whole stays for the caller; the one cut off is gone');
});

test('a sender that fails mid-file (its iterator throws) leaves no partial file', async (t) => {
  const src = tmp();
  writeFileSync(join(src, 'weights.bin'), bytes(5000));
  const pieces = await collect(src, ['weights.bin'], 1000);
  async function* vanishing(): AsyncGenerator<FilePiece> {
    yield* pieces.slice(0, 2);
    throw new Error('the sender went away');
  }
  const dst = tmp();
  await t.throwsAsync(writeFilePieces(dst, vanishing()), { message: 'the sender went away' });
  t.deepEqual(readdirSync(dst), []);
});
