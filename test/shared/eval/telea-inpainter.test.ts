import test from 'ava';
import { UTKFACE_EYES_BOX } from '../../../src/shared/data/eyes-box';
import { drawMask } from '../../../src/shared/data/occlusion';
import { meanFillInpainter } from '../../../src/shared/eval/baselines';
import { holePsnr } from '../../../src/shared/eval/metrics';
import { teleaInpainter } from '../../../src/shared/eval/telea-inpainter';
import { Rng } from '../../../src/shared/util/rng';
import { drawnFaces } from './_faces';

const SIZE = 64;
const PIXELS = SIZE * SIZE;

/** `count` generated faces drawn at 64x64, pixels in [0, 1], image after image. */
const faces = (count: number, seed: number): Float32Array => Float32Array.from(drawnFaces(count, seed, SIZE), (v) => v / 255);

/** One project mask of `kind` per image, seeded by its index. */
function masks(kind: 'box' | 'strokes' | 'half-lower' | 'eyes-unconstrained', count: number, seed: number): Uint8Array {
  const out = new Uint8Array(count * PIXELS);
  for (let n = 0; n < count; n++) out.set(drawMask(kind, SIZE, UTKFACE_EYES_BOX, new Rng(seed * 1000 + n)), n * PIXELS);
  return out;
}

function rect(top: number, left: number, bottom: number, right: number): Uint8Array {
  const mask = new Uint8Array(PIXELS);
  for (let y = top; y < bottom; y++) for (let x = left; x < right; x++) mask[y * SIZE + x] = 1;
  return mask;
}

function maxHoleError(restored: Float32Array, original: Float32Array, mask: Uint8Array): number {
  let worst = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) worst = Math.max(worst, Math.abs(restored[i] - original[i]));
  return worst;
}

test('known pixels come back bit for bit and every pixel lies in [0, 1]', async (t) => {
  const images = faces(6, 1);
  const mask = masks('strokes', 6, 1);
  mask.set(rect(0, 0, 10, 20), 5 * PIXELS); // one hole in a corner too
  const out = await teleaInpainter().inpaint(images, mask, 6, SIZE);
  let changed = 0;
  for (let i = 0; i < out.length; i++) {
    t.true(out[i] >= 0 && out[i] <= 1, `pixel ${i} = ${out[i]}`);
    if (!mask[i]) t.true(Object.is(out[i], images[i]), `known pixel ${i} changed`);
    else if (out[i] !== images[i]) changed++;
  }
  t.true(changed > 0, 'holes are filled, not left as they were');
});

test('a constant image comes back exactly, whatever the hole', async (t) => {
  const holes = [rect(28, 28, 36, 36), rect(0, 0, SIZE, 20), rect(40, 0, SIZE, SIZE), masks('strokes', 1, 2), masks('eyes-unconstrained', 1, 3)];
  for (const level of [0, 0.3, 0.5, 1]) {
    const image = new Float32Array(PIXELS).fill(level);
    for (const mask of holes) {
      const out = await teleaInpainter().inpaint(image, mask, 1, SIZE);
      t.true(maxHoleError(out, image, mask) < 1e-6, `level ${level}`);
    }
  }
});

// OpenCV's gradient term is a nudge of at most √2 gray levels, not the paper's first-order
// term, so a ramp comes back close (within about a pixel's step for a small hole), not exact.
test('a horizontal ramp with a small interior hole comes back closely', async (t) => {
  const ramp = Float32Array.from({ length: PIXELS }, (_, i) => (i % SIZE) / (SIZE - 1));
  const mask = rect(30, 12, 34, 16);
  const telea = maxHoleError(await teleaInpainter().inpaint(ramp, mask, 1, SIZE), ramp, mask);
  const meanFill = maxHoleError(await meanFillInpainter().inpaint(ramp, mask, 1, SIZE), ramp, mask);
  t.log(`max hole error: telea ${telea.toFixed(4)}, mean-fill ${meanFill.toFixed(4)}`);
  t.true(telea < 0.02, `max error ${telea}`);
  t.true(telea < meanFill / 10, `telea ${telea} against mean-fill ${meanFill}`);
});

test('on generated faces with a box hole, telea beats mean fill on hole PSNR', async (t) => {
  const count = 16;
  const images = faces(count, 4);
  const mask = masks('box', count, 4);
  const meanPsnr = async (restored: Float32Array) => {
    let sum = 0;
    for (let n = 0; n < count; n++) {
      const at = (a: Float32Array | Uint8Array) => a.subarray(n * PIXELS, (n + 1) * PIXELS);
      sum += holePsnr(at(restored), at(images), at(mask));
    }
    return sum / count;
  };
  const telea = await meanPsnr(await teleaInpainter().inpaint(images, mask, count, SIZE));
  const meanFill = await meanPsnr(await meanFillInpainter().inpaint(images, mask, count, SIZE));
  t.log(`mean hole PSNR: telea ${telea.toFixed(2)} dB, mean-fill ${meanFill.toFixed(2)} dB`);
  t.true(telea > meanFill, `telea ${telea} dB against mean-fill ${meanFill} dB`);
});

test('holes on the image border are filled from inside the image', async (t) => {
  // A vertical ramp with its lower half hidden: the fill continues the rows above it, so
  // each hidden row comes back at or near the last known row's level, never far from it.
  const ramp = Float32Array.from({ length: PIXELS }, (_, i) => Math.floor(i / SIZE) / (SIZE - 1));
  const lower = masks('half-lower', 1, 0);
  const out = await teleaInpainter().inpaint(ramp, lower, 1, SIZE);
  const lastKnown = ramp[31 * SIZE];
  for (let i = 32 * SIZE; i < PIXELS; i++) t.true(Math.abs(out[i] - lastKnown) < 0.05, `pixel ${i} = ${out[i]}`);
  for (const mask of [rect(0, 0, 1, SIZE), rect(0, 0, SIZE, 1), rect(0, 0, 8, 8), rect(SIZE - 8, SIZE - 8, SIZE, SIZE)]) {
    const image = faces(1, 5);
    const filled = await teleaInpainter().inpaint(image, mask, 1, SIZE);
    t.true(maxHoleError(filled, image, mask) < 0.5);
    t.true(filled.every((v) => v >= 0 && v <= 1));
  }
});

test('an image with no hole comes back unchanged; one with nothing known is filled with 0.5', async (t) => {
  const image = faces(2, 6);
  const mask = new Uint8Array(2 * PIXELS);
  mask.fill(1, PIXELS);
  const out = await teleaInpainter().inpaint(image, mask, 2, SIZE);
  t.deepEqual(out.subarray(0, PIXELS), image.subarray(0, PIXELS));
  t.true(out.subarray(PIXELS).every((v) => v === 0.5));
});

test('the same input gives the same bytes, batched or one image at a time', async (t) => {
  const count = 4;
  const images = faces(count, 7);
  const mask = masks('box', count, 7);
  const a = await teleaInpainter().inpaint(images, mask, count, SIZE);
  const b = await teleaInpainter().inpaint(images, mask, count, SIZE);
  t.deepEqual(Buffer.from(a.buffer), Buffer.from(b.buffer));
  for (let n = 0; n < count; n++) {
    const one = await teleaInpainter().inpaint(images.slice(n * PIXELS, (n + 1) * PIXELS), mask.slice(n * PIXELS, (n + 1) * PIXELS), 1, SIZE);
    t.deepEqual(one, a.subarray(n * PIXELS, (n + 1) * PIXELS));
  }
});

test('what lies under the hole does not change the fill', async (t) => {
  const images = faces(2, 8);
  const mask = masks('box', 2, 8);
  const scribbled = images.map((v, i) => (mask[i] ? (i % 3) / 2 : v));
  t.deepEqual(await teleaInpainter().inpaint(scribbled, mask, 2, SIZE), await teleaInpainter().inpaint(images, mask, 2, SIZE));
});

test('the radius must be an integer >= 1, and the buffers must hold count images', async (t) => {
  for (const radius of [0, -1, 2.5, Number.NaN]) t.throws(() => teleaInpainter(radius), { instanceOf: RangeError });
  await t.throwsAsync(teleaInpainter().inpaint(new Float32Array(PIXELS), new Uint8Array(PIXELS), 2, SIZE), { instanceOf: RangeError });
});
