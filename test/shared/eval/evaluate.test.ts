import test from 'ava';
import { applyReframing, JITTERS, reframeBox } from '../../../src/shared/data/augmentation';
import { occlusionMask } from '../../../src/shared/data/occlusion';
import { meanFaceInpainter, meanFillInpainter } from '../../../src/shared/eval/baselines';
import { evaluate, formatEvalTable } from '../../../src/shared/eval/evaluate';
import type { Inpainter } from '../../../src/shared/eval/inpainter';
import { holePsnr, PSNR_CAP_DB } from '../../../src/shared/eval/metrics';
import { Rng } from '../../../src/shared/util/rng';
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
    t.is(row('oracle').holeDetail, 1, 'the originals have all the detail they have');
    t.is(row('mean-fill').holeDetail, 0, 'a flat fill has none');
  }
  t.regex(formatEvalTable(report), /eyes\s+plain\s+mean-face/);
});

test('every inpainter sees the same masks: equal inpainters score equally', async (t) => {
  const a = await evaluate([meanFillInpainter(), { ...meanFillInpainter(), name: 'twin' }], testSet, ['box'], { seed: 9, limit: 10 });
  t.is(a.images, 10);
  t.is(a.rows[0].holePsnr, a.rows[1].holePsnr);
  const b = await evaluate([meanFillInpainter()], testSet, ['box'], { seed: 10, limit: 10 });
  t.not(b.rows[0].holePsnr, a.rows[0].holePsnr, 'another seed draws other masks');
});

test('jitter scores the mean over the fixed re-framings, each with its eyes mask moved with the face', async (t) => {
  const limit = 6;
  const seen: Uint8Array[] = [];
  const recorder: Inpainter = { name: 'recorder', inpaint: async (images, masks) => (seen.push(masks.slice()), meanFillInpainter().inpaint(images, masks, masks.length / 1024, 32)) };
  const report = await evaluate([recorder], testSet, ['eyes'], { seed: 4, limit, framing: 'jitter' });
  t.is(report.rows[0].framing, 'jitter');
  // Every re-framing's batch, by hand: the re-framed images, scored on masks drawn on the moved box.
  let total = 0;
  const fill = meanFillInpainter();
  for (const [j, { reframing }] of JITTERS.entries()) {
    const framed = new Uint8Array(limit * 1024);
    for (let i = 0; i < limit; i++) framed.set(applyReframing(testSet.pixels.subarray(i * 1024, (i + 1) * 1024), 32, reframing, new Rng(0)), i * 1024);
    const eyes = reframeBox(testSet.eyesBox, reframing, 32);
    const masks = new Uint8Array(limit * 1024);
    for (let i = 0; i < limit; i++) masks.set(occlusionMask({ eyes: 1 }, 32, eyes, 4, i, 0).mask, i * 1024);
    t.deepEqual(seen[j], masks, `${JITTERS[j].name}: the eyes mask sits on the moved box`);
    const images = Float32Array.from(framed, (v) => v / 255);
    const restored = await fill.inpaint(images, masks, limit, 32);
    for (let i = 0; i < limit; i++) {
      const range = [i * 1024, (i + 1) * 1024] as const;
      total += holePsnr(restored.subarray(...range), images.subarray(...range), masks.subarray(...range));
    }
  }
  t.true(Math.abs(report.rows[0].holePsnr - total / (limit * JITTERS.length)) < 1e-9);
  t.true(seen.some((m) => m.join() !== seen[0].join()), 'the re-framings move the eyes box');
  t.regex(formatEvalTable(report), /eyes\s+jitter\s+recorder/);
});
