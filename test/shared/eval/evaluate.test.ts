import test from 'ava';
import { meanFaceInpainter, meanFillInpainter } from '../../../src/shared/eval/baselines';
import { evaluate, formatEvalTable } from '../../../src/shared/eval/evaluate';
import type { Inpainter } from '../../../src/shared/eval/inpainter';
import { PSNR_CAP_DB } from '../../../src/shared/eval/metrics';
import { syntheticSet } from './_faces';

const train = syntheticSet(200, 1);
const testSet = syntheticSet(40, 2);

// Inpainters receive the original pixels under the hole too (they must not look):
// this one looks, so it is the best any inpainter could do.
const oracle: Inpainter = { name: 'oracle', inpaint: async (images) => Float32Array.from(images) };

test('baselines keep known pixels and fill holes within range', async (t) => {
  const images = Float32Array.from(testSet.pixels.subarray(0, 32 * 32), (v) => v / 255);
  const mask = Uint8Array.from({ length: 32 * 32 }, (_, i) => (i < 512 ? 1 : 0));
  for (const inp of [meanFillInpainter(), meanFaceInpainter(train)]) {
    const out = await inp.inpaint(images, mask, 1, 32);
    for (let i = 512; i < 1024; i++) t.is(out[i], images[i]);
    t.true(out.every((v) => v >= 0 && v <= 1));
  }
});

test('the mean face beats mean fill on structured faces, and the oracle scores perfectly', async (t) => {
  const report = await evaluate([meanFillInpainter(), meanFaceInpainter(train), oracle], testSet, ['eyes', 'half-lower'], { seed: 3, batchSize: 1 });
  t.is(report.rows.length, 6);
  for (const mask of ['eyes', 'half-lower']) {
    const row = (name: string) => report.rows.find((r) => r.mask === mask && r.inpainter === name)!;
    t.true(row('mean-face').holePsnr > row('mean-fill').holePsnr, `${mask}: mean face should beat mean fill`);
    t.true(row('mean-face').holeL1Percent < row('mean-fill').holeL1Percent);
    t.is(row('oracle').holePsnr, PSNR_CAP_DB);
    t.true(Math.abs(row('oracle').ssim - 1) < 1e-9);
  }
  t.regex(formatEvalTable(report), /eyes\s+mean-face/);
});

test('every inpainter sees the same masks: equal inpainters score equally', async (t) => {
  const a = await evaluate([meanFillInpainter(), { ...meanFillInpainter(), name: 'twin' }], testSet, ['box'], { seed: 9, limit: 10 });
  t.is(a.images, 10);
  t.is(a.rows[0].holePsnr, a.rows[1].holePsnr);
  const b = await evaluate([meanFillInpainter()], testSet, ['box'], { seed: 10, limit: 10 });
  t.not(b.rows[0].holePsnr, a.rows[0].holePsnr, 'another seed draws other masks');
});
