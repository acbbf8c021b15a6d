import test from 'ava';
import { augmentSample, DEFAULT_AUGMENT, reframeBox } from '../../../src/shared/data/augmentation';
import { occlusionMask } from '../../../src/shared/data/occlusion';
import { makeBatch } from '../../../src/shared/train/batch';
import { syntheticFaces, tinyConfig } from './_tiny';

const config = tinyConfig({ data: { occlusion: { half: 1, box: 1, strokes: 1 } } });
const faces = syntheticFaces(10, 16);

test('a batch holds the samples scaled to [-1, 1] in the order of the ids', (t) => {
  const batch = makeBatch(faces, [7, 2], config, 0);
  t.is(batch.count, 2);
  t.deepEqual(Array.from(batch.ids), [7, 2]);
  const area = 16 * 16;
  for (const [n, id] of [7, 2].entries()) {
    for (let i = 0; i < area; i++) t.is(batch.real[n * area + i], Math.fround(faces.pixels[id * area + i] / 127.5 - 1));
  }
  t.true(batch.real.every((v) => v >= -1 && v <= 1));
});

test('each sample gets the occlusion mask of (seed, its global id, epoch)', (t) => {
  const area = 16 * 16;
  for (const epoch of [0, 3]) {
    const batch = makeBatch(faces, [5, 1, 8], config, epoch);
    t.is(batch.epoch, epoch);
    [5, 1, 8].forEach((id, n) => {
      const expected = occlusionMask(config.data.occlusion, 16, faces.eyesBox, config.train.seed, id, epoch).mask;
      t.deepEqual(Array.from(batch.mask.subarray(n * area, (n + 1) * area)), Array.from(expected));
    });
  }
  // The same sample in another batch position or batch gets the same hole.
  const [a, b] = [makeBatch(faces, [4, 6], config, 1), makeBatch(faces, [6], config, 1)];
  t.deepEqual(a.mask.subarray(area), b.mask);
});

test('ids outside the face set are rejected', (t) => {
  t.throws(() => makeBatch(faces, [10], config, 0), { message: /sample id 10 is outside/ });
});

test("eyes masks go on the face set's eyes box, or on data.eyesBox when the config sets one", (t) => {
  const other = { top: 0.5, bottom: 0.75, left: 0.25, right: 0.75 };
  const rows = (mask: Float32Array) => [...new Set(Array.from(mask.subarray(0, 16 * 16).keys()).filter((i) => mask[i] === 1).map((i) => Math.floor(i / 16)))];
  const fromSet = makeBatch({ ...faces, eyesBox: { top: 0.125, bottom: 0.375, left: 0, right: 1 } }, [0], tinyConfig({ data: { occlusion: { eyes: 1 } } }), 0);
  t.deepEqual(rows(fromSet.mask), [2, 3, 4, 5]);
  const overridden = makeBatch(faces, [0], tinyConfig({ data: { occlusion: { eyes: 1 }, eyesBox: other } }), 0);
  t.deepEqual(rows(overridden.mask), [8, 9, 10, 11]);
});

test('with data.augment a sample is augmented as augmentSample draws it, and its eyes mask moves with the face', (t) => {
  const augmented = tinyConfig({ data: { occlusion: { eyes: 1 }, augment: DEFAULT_AUGMENT } });
  const area = 16 * 16;
  let moved = 0;
  for (const id of [0, 3, 9]) {
    const batch = makeBatch(faces, [id], augmented, 2);
    const { pixels, reframing } = augmentSample(faces.pixels.subarray(id * area, (id + 1) * area), 16, DEFAULT_AUGMENT, augmented.train.seed, id, 2);
    t.deepEqual(Array.from(batch.real), Array.from(pixels, (v) => Math.fround(v / 127.5 - 1)));
    const expected = occlusionMask({ eyes: 1 }, 16, reframeBox(faces.eyesBox, reframing, 16), augmented.train.seed, id, 2).mask;
    t.deepEqual(Array.from(batch.mask), Array.from(expected));
    if (expected.join() !== occlusionMask({ eyes: 1 }, 16, faces.eyesBox, 0, 0, 0).mask.join()) moved++;
  }
  t.true(moved > 0, 'some eyes box moved');
});
