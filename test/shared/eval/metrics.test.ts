import test from 'ava';
import { holeL1Percent, holePsnr, PSNR_CAP_DB, ssim } from '../../../src/shared/eval/metrics';
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
