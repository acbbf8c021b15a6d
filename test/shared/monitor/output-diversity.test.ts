import test from 'ava';
import { diversityRatio, meanPairwiseHoleDistance } from '../../../src/shared/monitor/output-diversity';
import { Rng } from '../../../src/shared/util/rng';

const f32 = (...xs: number[]) => Float32Array.from(xs);

test('holes painted alike have distance 0, however the known pixels differ', (t) => {
  // Three images of 4 pixels: the first two are hole, equal across images; the rest differ.
  const generated = f32(0.3, 0.7, 0.1, 0.9, 0.3, 0.7, 0.5, 0.2, 0.3, 0.7, 0.8, 0.4);
  const real = f32(0.1, 0.2, 0.1, 0.9, 0.6, 0.9, 0.5, 0.2, 0.8, 0.3, 0.8, 0.4);
  const mask = f32(1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0);
  t.is(meanPairwiseHoleDistance(generated, mask, 3, 4), 0);
  t.is(diversityRatio(generated, real, mask, 3, 4), 0);
});

test('two images: the RMS difference over their shared hole', (t) => {
  const pixels = f32(0, 0, 5, 5, 3, 4, 9, 9);
  const mask = f32(1, 1, 0, 0, 1, 1, 0, 0);
  t.is(meanPairwiseHoleDistance(pixels, mask, 2, 4), Math.sqrt((3 ** 2 + 4 ** 2) / 2));
});

test('pairs are compared where both are hole, weighted by that shared area', (t) => {
  // Pair (0,1) shares both pixels: RMS sqrt((9 + 16) / 2). Pairs (0,2) and (1,2) share pixel 0
  // only: distances 6 and 3. Image 2's second pixel (100) is known, so never compared.
  const pixels = f32(0, 0, 3, 4, 6, 100);
  const mask = f32(1, 1, 1, 1, 1, 0);
  const expected = (2 * Math.sqrt(12.5) + 6 + 3) / 4;
  t.true(Math.abs(meanPairwiseHoleDistance(pixels, mask, 3, 2) - expected) < 1e-12);
});

test('pairs whose holes do not meet are left out; with none left the distance is 0 and the ratio 1', (t) => {
  const mask = f32(1, 0, 1, 0, 0, 1);
  // (0,1) share pixel 0 (distance 2); image 2's hole meets neither.
  t.is(meanPairwiseHoleDistance(f32(1, 0, 3, 0, 0, 9), mask, 3, 2), 2);
  const apart = f32(1, 0, 0, 1);
  t.is(meanPairwiseHoleDistance(f32(0.1, 0.5, 0.5, 0.9), apart, 2, 2), 0);
  t.is(diversityRatio(f32(0.1, 0.5, 0.5, 0.9), f32(0.2, 0.5, 0.5, 0.3), apart, 2, 2), 1);
});

test('independent random holes are as varied as the real ones: ratio near 1; halving the spread halves it', (t) => {
  const [count, area] = [16, 256];
  const rng = new Rng(7);
  const draw = () => Float32Array.from({ length: count * area }, () => rng.next());
  const mask = Float32Array.from({ length: count * area }, (_, i) => (i % area < 128 + (Math.floor(i / area) % 4) * 16 ? 1 : 0));
  const [generated, real] = [draw(), draw()];
  const ratio = diversityRatio(generated, real, mask, count, area);
  t.log(`ratio of two independent uniform sets: ${ratio.toFixed(4)}`);
  t.true(Math.abs(ratio - 1) < 0.05, `ratio ${ratio}`);
  const halved = Float32Array.from(real, (v) => 0.5 * v + 0.25);
  t.true(Math.abs(diversityRatio(halved, real, mask, count, area) - 0.5) < 1e-6);
});

test('arrays that do not hold count images of area pixels are refused', (t) => {
  t.throws(() => meanPairwiseHoleDistance(f32(1, 2, 3), f32(1, 1, 1, 1), 2, 2), { instanceOf: RangeError, message: /pixels holds 3 values; 2 images of 2 pixels need 4/ });
  t.throws(() => diversityRatio(f32(1, 2, 3, 4), f32(1, 2, 3, 4), f32(1, 1), 2, 2), { instanceOf: RangeError, message: /mask holds 2 values/ });
});
