import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { decodeGray, encodePng } from '../../../src/shared/data/image-codec';
import { loadMaskFile } from '../../../src/shared/data/mask-file';
import { meanFillInpainter } from '../../../src/shared/eval/baselines';
import { renderGrid } from '../../../src/shared/eval/grid';
import type { Inpainter } from '../../../src/shared/eval/inpainter';
import { restoreFiles } from '../../../src/shared/eval/restore-files';

const tmp = () => mkdtempSync(join(tmpdir(), 'facefill-restore-'));
const identity: Inpainter = { name: 'identity', inpaint: async (images) => Float32Array.from(images) };
const gray = (size: number, seed: number) => Uint8Array.from({ length: size * size }, (_, i) => (i * seed + 7) % 256);

test('a folder is restored file by file under the same names; a corrupt or non-square file fails alone', async (t) => {
  const dir = tmp();
  const input = join(dir, 'in');
  mkdirSync(input);
  writeFileSync(join(input, 'a.png'), await encodePng(gray(64, 3), 64, 64));
  writeFileSync(join(input, 'b.jpg'), await sharp(Buffer.alloc(200 * 200 * 3, 90), { raw: { width: 200, height: 200, channels: 3 } }).jpeg().toBuffer());
  writeFileSync(join(input, 'c.jpg'), Buffer.from('garbage'));
  writeFileSync(join(input, 'd.png'), await encodePng(gray(40, 5), 40, 20));
  const out = join(dir, 'out');
  const result = await restoreFiles({ input, out, mask: { kind: 'eyes', seed: 1 }, inpainter: meanFillInpainter(), size: 64 });
  t.deepEqual(readdirSync(out).sort(), ['a.png', 'b.jpg']);
  t.deepEqual(result.failed.map((f) => f.file.split('/').pop()), ['c.jpg', 'd.png']);
  t.regex(result.failed[0].error, /c\.jpg/);
  t.regex(result.failed[1].error, /40x20.*square/);
  const meta = await sharp(join(out, 'b.jpg')).metadata();
  t.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 64, 64, 1]);
});

test('a 64x64 gray input is not resampled: with an identity inpainter the output equals the input', async (t) => {
  const dir = tmp();
  const pixels = gray(64, 11);
  writeFileSync(join(dir, 'face.png'), await encodePng(pixels, 64, 64));
  const out = join(dir, 'restored.png');
  const result = await restoreFiles({ input: join(dir, 'face.png'), out, mask: { kind: 'box', seed: 2 }, inpainter: identity, size: 64 });
  t.deepEqual(result.failed, []);
  t.deepEqual(Array.from(await decodeGray(await sharp(out).toBuffer(), 64, out)), Array.from(pixels));
});

test('a missing input is reported, not thrown', async (t) => {
  const dir = tmp();
  const result = await restoreFiles({ input: join(dir, 'nope.png'), out: join(dir, 'o.png'), mask: { kind: 'eyes', seed: 1 }, inpainter: identity, size: 64 });
  t.is(result.failed.length, 1);
  t.regex(result.failed[0].error, /nope\.png/);
  t.false(existsSync(join(dir, 'o.png')));
});

test('mask PNGs: white is hole, any size is resized, an empty mask is refused', async (t) => {
  const dir = tmp();
  const m = new Uint8Array(100 * 100);
  for (let y = 0; y < 50; y++) m.fill(255, y * 100, y * 100 + 100);
  writeFileSync(join(dir, 'upper.png'), await encodePng(m, 100, 100));
  const mask = await loadMaskFile(join(dir, 'upper.png'), 64);
  t.is(mask.reduce((a, b) => a + b, 0), 64 * 32);
  t.is(mask[0], 1);
  t.is(mask[64 * 63], 0);
  writeFileSync(join(dir, 'empty.png'), await encodePng(new Uint8Array(100), 10, 10));
  await t.throwsAsync(loadMaskFile(join(dir, 'empty.png'), 64), { message: /no hole/ });
  await t.throwsAsync(loadMaskFile(join(dir, 'missing.png'), 64), { message: /missing\.png.*ENOENT/ });
});

test('the grid is a PNG of three cells per row', async (t) => {
  const image = Float32Array.from(gray(16, 3), (v) => v / 255);
  const mask = Uint8Array.from({ length: 256 }, (_, i) => (i < 128 ? 1 : 0));
  const png = await renderGrid([{ image, mask, restored: image }, { image, mask, restored: image }], 16, 2);
  const meta = await sharp(png).metadata();
  t.is(meta.width, 3 * 32 + 4 * 2);
  t.is(meta.height, 2 * 32 + 3 * 2);
});
