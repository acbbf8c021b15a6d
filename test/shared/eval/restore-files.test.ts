import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import sharp from 'sharp';
import { selectBackend } from '../../../src/shared/backend/select';
import { UTKFACE_EYES_BOX } from '../../../src/shared/data/eyes-box';
import { decodeGray, encodePng } from '../../../src/shared/data/image-codec';
import { loadMaskFile } from '../../../src/shared/data/mask-file';
import { drawSyntheticFace } from '../../../src/shared/data/synthetic-face';
import { meanFillInpainter } from '../../../src/shared/eval/baselines';
import { generatorInpainter } from '../../../src/shared/eval/generator-inpainter';
import { renderGrid } from '../../../src/shared/eval/grid';
import type { Inpainter } from '../../../src/shared/eval/inpainter';
import { restoreFiles } from '../../../src/shared/eval/restore-files';
import { imageFileIo, type RestoreIo } from '../../../src/shared/eval/restore-io';
import { buildGenerator } from '../../../src/shared/model';
import { tinyConfig } from '../train/_tiny';

const tmp = () => mkdtempSync(join(tmpdir(), 'facefill-restore-'));
const identity: Inpainter = { name: 'identity', inpaint: async (images) => Float32Array.from(images) };
const gray = (size: number, seed: number) => Uint8Array.from({ length: size * size }, (_, i) => (i * seed + 7) % 256);

test('a folder is restored under the same names; a corrupt or non-square file fails alone', async (t) => {
  const dir = tmp();
  const input = join(dir, 'in');
  mkdirSync(input);
  writeFileSync(join(input, 'a.png'), await encodePng(gray(64, 3), 64, 64));
  writeFileSync(join(input, 'b.jpg'), await sharp(Buffer.alloc(200 * 200 * 3, 90), { raw: { width: 200, height: 200, channels: 3 } }).jpeg().toBuffer());
  writeFileSync(join(input, 'c.jpg'), Buffer.from('garbage'));
  writeFileSync(join(input, 'd.png'), await encodePng(gray(40, 5), 40, 20));
  const out = join(dir, 'out');
  const result = await restoreFiles({ input, out, mask: { kind: 'eyes', seed: 1, eyes: UTKFACE_EYES_BOX }, inpainter: meanFillInpainter(), size: 64 });
  t.deepEqual(readdirSync(out).sort(), ['a.png', 'b.jpg']);
  t.deepEqual(result.failed.map((f) => f.file.split('/').pop()), ['c.jpg', 'd.png']);
  t.regex(result.failed[0].error, /c\.jpg/);
  t.regex(result.failed[1].error, /40x20.*square/);
  const meta = await sharp(join(out, 'b.jpg')).metadata();
  t.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 64, 64, 1]);
});

test('a single file is restored; a 64x64 gray input is not resampled: with an identity inpainter the output equals the input', async (t) => {
  const dir = tmp();
  const pixels = gray(64, 11);
  writeFileSync(join(dir, 'face.png'), await encodePng(pixels, 64, 64));
  const out = join(dir, 'restored.png');
  const result = await restoreFiles({ input: join(dir, 'face.png'), out, mask: { kind: 'box', seed: 2, eyes: UTKFACE_EYES_BOX }, inpainter: identity, size: 64 });
  t.deepEqual(result.failed, []);
  t.deepEqual(Array.from(await decodeGray(await sharp(out).toBuffer(), 64, out)), Array.from(pixels));
});

test('a missing input is reported, not thrown', async (t) => {
  const dir = tmp();
  const result = await restoreFiles({ input: join(dir, 'nope.png'), out: join(dir, 'o.png'), mask: { kind: 'eyes', seed: 1, eyes: UTKFACE_EYES_BOX }, inpainter: identity, size: 64 });
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

/** A folder of `count` generated `size`x`size` faces named face-000.png, face-001.png, ... */
async function faceFolder(count: number, size: number): Promise<string> {
  const dir = join(tmp(), 'faces');
  mkdirSync(dir);
  for (let i = 0; i < count; i++) writeFileSync(join(dir, `face-${String(i).padStart(3, '0')}.png`), await encodePng(drawSyntheticFace(5, i, size).pixels, size, size));
  return dir;
}

/** The gray pixels of every PNG in `dir`, by file name. */
async function pixelsIn(dir: string, size: number): Promise<Map<string, Uint8Array>> {
  const files = readdirSync(dir).sort();
  return new Map(await Promise.all(files.map(async (f) => [f, await decodeGray(await sharp(join(dir, f)).toBuffer(), size, f)] as const)));
}

test.serial('a small generator on wasm writes the same pixels at batch 1, 32 and 4 (which does not divide the 10 files)', async (t) => {
  await selectBackend('wasm');
  const config = tinyConfig({ generator: { kernelSize: 4 } });
  const generator = buildGenerator(config.generator, 16, 7);
  const input = await faceFolder(10, 16);
  const outputs = new Map<number, Map<string, Uint8Array>>();
  for (const batchSize of [1, 32, 4]) {
    const out = join(tmp(), 'out');
    // As `facefill restore` does: the generator's chunk is the batch.
    const inpainter = generatorInpainter(generator, 'model', batchSize);
    const result = await restoreFiles({ input, out, mask: { kind: 'eyes-unconstrained', seed: 3, eyes: UTKFACE_EYES_BOX }, inpainter, size: 16, batchSize });
    t.deepEqual(result.failed, []);
    t.deepEqual(result.restored.map((f) => basename(f)), readdirSync(input).sort());
    outputs.set(batchSize, await pixelsIn(out, 16));
  }
  const reference = outputs.get(1) ?? new Map<string, Uint8Array>();
  for (const batchSize of [32, 4]) {
    for (const [file, pixels] of outputs.get(batchSize) ?? []) t.deepEqual(pixels, reference.get(file), `${file} at batch ${batchSize}`);
  }
  // The generator did change the holes: identical outputs are not identical inputs.
  const first = reference.get('face-000.png') ?? new Uint8Array();
  t.notDeepEqual(first, await decodeGray(await sharp(join(input, 'face-000.png')).toBuffer(), 16, 'face-000.png'));
  generator.dispose();
});

test('a corrupt file and a non-image among good files fail alone; an inpainter that throws fails only its batch', async (t) => {
  const input = await faceFolder(9, 32);
  const good = await encodePng(drawSyntheticFace(5, 0, 32).pixels, 32, 32);
  writeFileSync(join(input, 'face-002b.png'), good.subarray(0, good.length >> 1));
  writeFileSync(join(input, 'face-005b.png'), 'just some text, not a picture');
  // 11 files in batches of 4: [000 001 002 002b] [003 004 005 005b] [006 007 008].
  const out = join(tmp(), 'out');
  const result = await restoreFiles({ input, out, mask: { kind: 'box', seed: 1, eyes: UTKFACE_EYES_BOX }, inpainter: meanFillInpainter(), size: 32, batchSize: 4 });
  t.deepEqual(result.failed.map((f) => basename(f.file)), ['face-002b.png', 'face-005b.png']);
  t.regex(result.failed[0].error, /face-002b\.png: a corrupt or truncated PNG/);
  t.regex(result.failed[1].error, /face-005b\.png: not an image format/);
  t.deepEqual(readdirSync(out).sort(), Array.from({ length: 9 }, (_, i) => `face-00${i}.png`));

  let calls = 0;
  const flaky: Inpainter = {
    name: 'flaky',
    inpaint: async (images, masks, count, size) => {
      if (++calls === 2) throw new Error('out of memory');
      return meanFillInpainter().inpaint(images, masks, count, size);
    },
  };
  const out2 = join(tmp(), 'out');
  const second = await restoreFiles({ input, out: out2, mask: { kind: 'box', seed: 1, eyes: UTKFACE_EYES_BOX }, inpainter: flaky, size: 32, batchSize: 4 });
  t.deepEqual(
    second.failed.map((f) => `${basename(f.file)}: ${f.error.replace(/.*: /, '')}`),
    ['face-002b.png: a corrupt or truncated PNG', 'face-003.png: out of memory', 'face-004.png: out of memory', 'face-005.png: out of memory', 'face-005b.png: not an image format the decoder reads'],
  );
  t.deepEqual(readdirSync(out2).sort(), ['face-000.png', 'face-001.png', 'face-002.png', 'face-006.png', 'face-007.png', 'face-008.png']);
});

test('at most two batches are held at once, the next read while one is restored', async (t) => {
  const input = await faceFolder(45, 16);
  const state = { held: 0, maxHeld: 0, maxCount: 0, heldAtCalls: [] as number[] };
  // Held: from the start of a file's read to the end of its write (or of its failed read).
  const counting: RestoreIo = {
    async read(file, size) {
      state.maxHeld = Math.max(state.maxHeld, ++state.held);
      try {
        return await imageFileIo.read(file, size);
      } catch (err) {
        state.held--;
        throw err;
      }
    },
    async write(target, pixels, size) {
      await imageFileIo.write(target, pixels, size);
      state.held--;
    },
  };
  // A slow inpainter, so that a restore that read ahead without bound would read everything.
  const slow: Inpainter = {
    name: 'slow',
    inpaint: async (images, masks, count, size) => {
      state.maxCount = Math.max(state.maxCount, count);
      state.heldAtCalls.push(state.held);
      await sleep(30);
      return meanFillInpainter().inpaint(images, masks, count, size);
    },
  };
  const out = join(tmp(), 'out');
  const result = await restoreFiles({ input, out, mask: { kind: 'eyes', seed: 0, eyes: UTKFACE_EYES_BOX }, inpainter: slow, size: 16, batchSize: 8, io: counting });
  t.is(result.restored.length, 45);
  t.is(state.held, 0);
  t.is(state.maxCount, 8);
  t.true(state.maxHeld <= 16, `${state.maxHeld} images held at once`);
  // Batches of 8, 8, 8, 8, 8, 5: while each but the last is restored, the next is being read.
  t.deepEqual(state.heldAtCalls, [16, 16, 16, 16, 13, 5]);
});

test('a folder of no images restores nothing and calls no inpainter', async (t) => {
  const input = join(tmp(), 'empty');
  mkdirSync(input);
  writeFileSync(join(input, 'notes.txt'), 'not an image name');
  const never: Inpainter = { name: 'never', inpaint: () => Promise.reject(new Error('called')) };
  const out = join(tmp(), 'out');
  t.deepEqual(await restoreFiles({ input, out, mask: { kind: 'eyes', seed: 0, eyes: UTKFACE_EYES_BOX }, inpainter: never, size: 16 }), { restored: [], failed: [] });
  t.deepEqual(readdirSync(out), []);
});
