import test from 'ava';
import { addGaussianNoise, adjustExposure, gaussianBlur, halfGaussianKernel } from '../../../src/shared/data/photometric';
import { Rng } from '../../../src/shared/util/rng';

const ramp = (n: number, from = 0) => Float32Array.from({ length: n }, (_, i) => from + ((1 - from) * i) / (n - 1));

test('gamma follows p ** gamma to a small fraction of a grey level', (t) => {
  for (const [gamma, levels] of [
    [0.8, 0.005],
    [1.25, 0.005],
    [Math.exp(-1), 0.07],
    [Math.exp(1), 0.07],
  ]) {
    const v = ramp(50_001, 1 / 65536);
    const expected = Array.from(v, (p) => p ** gamma);
    adjustExposure(v, 1, 0, gamma);
    const worst = v.reduce((w, p, i) => Math.max(w, Math.abs(p - expected[i])), 0);
    t.true(worst * 255 < levels, `gamma ${gamma}: off by ${worst * 255} grey levels`);
  }
  const ends = Float32Array.from([0, 1]);
  adjustExposure(ends, 1, 0, 1.3);
  t.deepEqual(Array.from(ends), [0, 1]);
});

test('contrast pivots on the mean, brightness adds, and the result is clamped to [0, 1]', (t) => {
  const v = Float32Array.from([0.2, 0.4, 0.6, 0.8]);
  adjustExposure(v, 0.5, 0, 1);
  t.deepEqual(Array.from(v, (p) => +p.toFixed(6)), [0.35, 0.45, 0.55, 0.65]);
  const w = Float32Array.from([0.05, 0.5, 0.95]);
  adjustExposure(w, 1, 0.1, 1);
  t.deepEqual(Array.from(w, (p) => +p.toFixed(6)), [0.15, 0.6, 1]);
});

test('the blur kernel sums to 1 over radius ceil(3 sigma), and an interior impulse keeps its mass', (t) => {
  for (const sigma of [0.3, 0.7, 1, 2.5]) {
    const k = halfGaussianKernel(sigma);
    t.is(k.length, Math.ceil(3 * sigma) + 1);
    t.true(Math.abs(k.reduce((a, b, i) => a + (i === 0 ? b : 2 * b), 0) - 1) < 1e-12);
    const size = 32;
    const v = new Float32Array(size * size);
    v[16 * size + 16] = 1;
    gaussianBlur(v, size, sigma, new Float32Array(size * size));
    t.true(Math.abs(v.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    t.true(Math.abs(v[16 * size + 16] - k[0] * k[0]) < 1e-6, 'the centre is the product of the two centre taps');
    t.true(Math.abs(v[16 * size + 17] - v[17 * size + 16]) < 1e-7, 'rows and columns blur alike');
  }
});

test('noise has zero mean and the requested standard deviation, and follows its seed', (t) => {
  const n = 1 << 18;
  const v = new Float32Array(n);
  addGaussianNoise(v, 0.5, new Rng(3));
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  t.true(Math.abs(mean) < 0.005, `mean ${mean}`);
  t.true(Math.abs(std - 0.5) < 0.005, `std ${std}`);
  const within1 = v.filter((x) => Math.abs(x) < 0.5).length / n;
  t.true(Math.abs(within1 - 0.6827) < 0.005, `${within1} within one std`);
  const again = new Float32Array(n);
  addGaussianNoise(again, 0.5, new Rng(3));
  t.deepEqual(again, v);
  const other = new Float32Array(n);
  addGaussianNoise(other, 0.5, new Rng(4));
  t.notDeepEqual(other, v);
});
