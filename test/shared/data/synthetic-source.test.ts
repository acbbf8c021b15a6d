import test from 'ava';
import type { RawFile } from '../../../src/shared/data/api';
import { decodeGray } from '../../../src/shared/data/image-codec';
import { SyntheticSource } from '../../../src/shared/data/synthetic-source';
import { drawSyntheticFace, SYNTHETIC_EYE_LINE } from '../../../src/shared/data/synthetic-face';
import { isLabelled, parseUtkfaceLabels } from '../../../src/shared/data/utkface-labels';

async function readAll(source: SyntheticSource): Promise<RawFile[]> {
  const files: RawFile[] = [];
  for await (const file of source.files()) files.push(file);
  return files;
}

const mean = (v: Uint8Array) => v.reduce((a, b) => a + b, 0) / v.length;

test('a face is a pure function of (seed, index), at any size', (t) => {
  for (const side of [32, 64, 128]) {
    const a = drawSyntheticFace(1, 5, side);
    t.is(a.pixels.length, side * side);
    t.deepEqual(drawSyntheticFace(1, 5, side), a);
    t.notDeepEqual(drawSyntheticFace(1, 6, side).pixels, a.pixels);
    t.notDeepEqual(drawSyntheticFace(2, 5, side).pixels, a.pixels);
  }
});

test('the same seed gives byte-identical files; another seed, other files', async (t) => {
  const a = await readAll(new SyntheticSource(6, 3));
  const b = await readAll(new SyntheticSource(6, 3));
  t.deepEqual(a, b);
  const other = await readAll(new SyntheticSource(6, 4));
  for (let i = 0; i < 6; i++) t.false(a[i].bytes.equals(other[i].bytes));
  t.is(new Set(a.map((f) => f.bytes.toString('hex'))).size, 6, 'no two faces of a set are identical');
});

test('faces vary in brightness, labels and layout', (t) => {
  const faces = Array.from({ length: 200 }, (_, i) => drawSyntheticFace(0, i, 64));
  const means = faces.map((f) => mean(f.pixels));
  t.true(Math.max(...means) - Math.min(...means) > 40, 'mean brightness hardly varies');
  const distinct = (values: number[]) => [...new Set(values)].sort();
  t.deepEqual(distinct(faces.map((f) => f.gender)), [0, 1]);
  t.deepEqual(distinct(faces.map((f) => f.race)), [0, 1, 2, 3, 4]);
  t.true(new Set(faces.map((f) => Math.floor(f.age / 10))).size >= 8, 'ages span the decades');
  // Pixelwise spread across faces: every region of the image changes from face to face.
  for (const [y, x] of [[0.1, 0.1], [0.4, 0.35], [0.55, 0.5], [0.7, 0.5], [0.9, 0.9]]) {
    const at = faces.map((f) => f.pixels[Math.round(y * 63) * 64 + Math.round(x * 63)]);
    t.true(Math.max(...at) - Math.min(...at) > 60, `pixel (${x}, ${y}) barely changes`);
  }
});

test('faces are aligned: between hairline and mouth, the darkest spots around each eye (pupils) lie on the eye line', (t) => {
  const side = 128;
  for (let i = 0; i < 50; i++) {
    const { pixels } = drawSyntheticFace(7, i, side);
    for (const [x0, x1] of [[0.28, 0.46], [0.54, 0.72]]) {
      let darkest = { v: 256, y: 0 };
      for (let y = Math.round(0.34 * side); y < Math.round(0.58 * side); y++) {
        for (let x = Math.round(x0 * side); x < Math.round(x1 * side); x++) {
          if (pixels[y * side + x] < darkest.v) darkest = { v: pixels[y * side + x], y };
        }
      }
      t.true(Math.abs(darkest.y / side - SYNTHETIC_EYE_LINE) < 0.04, `face ${i}: darkest at ${darkest.y / side} in x ${x0}..${x1}`);
    }
  }
});

test('synthetic:N yields N decodable PNGs with parseable UTKFace-style names matching the drawn labels', async (t) => {
  const files = await readAll(new SyntheticSource(12, 3));
  t.is(files.length, 12);
  for (const [i, file] of files.entries()) {
    const face = drawSyntheticFace(3, i);
    t.deepEqual(parseUtkfaceLabels(file.name), { age: face.age, gender: face.gender, race: face.race });
    t.true(isLabelled(parseUtkfaceLabels(file.name)));
    t.deepEqual(await decodeGray(file.bytes, face.side, file.name), face.pixels, 'the PNG holds the drawn pixels exactly');
  }
});
