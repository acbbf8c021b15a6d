import test from 'ava';
import { holeDetail, holeL1Percent, holePsnr, PSNR_CAP_DB, ssim } from '../../../src/shared/eval/metrics';
import { Rng } from '../../../src/shared/util/rng';

const size = 32;
const rng = new Rng(5);
const image = Float32Array.from({ length: size * size }, (_, i) => 0.5 + 0.4 * Math.sin(i / 7) * Math.cos(i / 53));
const mask = Uint8Array.from({ length: size * size }, (_, i) => (i % size < size / 2 ? 1 : 0));
const noisy = (std: number) => image.map((v) => Math.min(1, Math.max(0, v + rng.normal(0, std))));

test('an exact restoration scores the PSNR cap, zero L1 and SSIM 1', (t) => {
  t.is(holePsnr(image, image, mask), PSNR_CAP_DB);
  t.is(holeL1Percent(image, image, mask), 0);
  t.true(Math.abs(ssim(image, image, size) - 1) < 1e-12);
});

test('a constant offset d in the hole gives PSNR -10 log10(d^2) and L1 100d, whatever the known pixels do', (t) => {
  const d = 0.1;
  const restored = image.map((v, i) => (mask[i] ? v + d : v + 0.3));
  t.true(Math.abs(holePsnr(restored, image, mask) - -10 * Math.log10(d * d)) < 1e-4);
  t.true(Math.abs(holeL1Percent(restored, image, mask) - 100 * d) < 1e-4);
});

test('SSIM is symmetric, below 1 for noise, and falls as noise grows', (t) => {
  const a = noisy(0.02);
  const b = noisy(0.1);
  t.true(Math.abs(ssim(a, image, size) - ssim(image, a, size)) < 1e-12);
  t.true(ssim(a, image, size) < 1);
  t.true(ssim(b, image, size) < ssim(a, image, size));
});

test('SSIM works on images smaller than its window', (t) => {
  const small = Float32Array.from({ length: 64 }, (_, i) => i / 64);
  t.true(Math.abs(ssim(small, small, 8) - 1) < 1e-12);
});

test('hole metrics refuse a mask without a hole', (t) => {
  t.throws(() => holePsnr(image, image, new Uint8Array(size * size)), { message: /no hole/ });
});

test('hole detail sums the differences between neighbours that are both in the hole', (t) => {
  // 3x3, hole = the left two columns. Pairs inside: across (0,1) in each row, down in both columns.
  const img = [0, 0.5, 0.9, 0.2, 0.3, 0.1, 0.6, 0.6, 0.4];
  const hole = [1, 1, 0, 1, 1, 0, 1, 1, 0];
  const byHand = 0.5 + 0.1 + 0 + (0.2 + 0.4) + (0.2 + 0.3);
  t.true(Math.abs(holeDetail(img, hole, 3) - byHand) < 1e-12);
  const outside = img.map((v, i) => (hole[i] ? v : 1 - v));
  t.is(holeDetail(outside, hole, 3), holeDetail(img, hole, 3), 'pairs that leave the hole do not count');
});

test('hole detail is 0 for a flat fill, falls with a blur and rises with noise', (t) => {
  const flat = image.map((v, i) => (mask[i] ? 0.5 : v));
  t.is(holeDetail(flat, mask, size), 0);
  const blurred = image.map((v, i) => (i % size > 0 && i % size < size - 1 ? (image[i - 1] + v + image[i + 1]) / 3 : v));
  t.true(holeDetail(blurred, mask, size) < holeDetail(image, mask, size));
  t.true(holeDetail(noisy(0.1), mask, size) > holeDetail(image, mask, size));
});
