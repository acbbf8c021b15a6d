import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { type FilePiece, readFilePieces, writeFilePieces } from '../../../src/shared/control/file-transfer';
import { ProtocolViolationError, TransferChecksumError } from '../../../src/shared/errors';
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
