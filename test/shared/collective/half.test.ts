import test from 'ava';
import { floatBitsToHalf, floatsToHalves, HALF_MAX, HALF_TO_FLOAT, HALF_TO_FLOAT_BITS, halvesToFloats } from '../../../src/shared/collective/half';
import { Rng } from '../../../src/shared/util/rng';
import { bitsOfFloat, floatOfBits, nearestHalf, sameNumber } from './_half-reference';

const isNaNHalf = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

test('every half decodes to the value its sign, exponent and fraction define', (t) => {
  for (let h = 0; h < 1 << 16; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    const want = e === 0x1f ? (f ? NaN : sign * Infinity) : e === 0 ? sign * f * 2 ** -24 : sign * (1 + f / 1024) * 2 ** (e - 15);
    if (!sameNumber(HALF_TO_FLOAT[h], want)) t.fail(`half 0x${h.toString(16)} decoded to ${HALF_TO_FLOAT[h]}, expected ${want}`);
  }
  t.is(HALF_TO_FLOAT[0x7bff], HALF_MAX);
  // A NaN keeps its payload (bits copied, not a canonical NaN).
  t.is(HALF_TO_FLOAT_BITS[0x7e01], 0x7fc02000);
});

test('every half round-trips, and the values between two halves round to the nearer, ties to the even one', (t) => {
  for (let h = 0; h < 1 << 16; h++) {
    if (isNaNHalf(h)) continue;
    if (floatBitsToHalf(HALF_TO_FLOAT_BITS[h]) !== h) t.fail(`half 0x${h.toString(16)} did not round-trip`);
    // Finite neighbours of one sign: their midpoint and the floats just around it.
    if ((h & 0x7fff) >= 0x7bff) continue;
    const [lo, hi] = [HALF_TO_FLOAT[h], HALF_TO_FLOAT[h + 1]];
    const mid = bitsOfFloat((lo + hi) / 2);
    const even = (h & 1) === 0 ? h : h + 1;
    const got = [floatBitsToHalf(mid - 1), floatBitsToHalf(mid), floatBitsToHalf(mid + 1)];
    const [below, above] = Math.abs(lo) < Math.abs(hi) ? [h, h + 1] : [h + 1, h];
    if (got[0] !== below || got[1] !== even || got[2] !== above) t.fail(`around the midpoint of 0x${h.toString(16)}: got ${got.map((g) => g.toString(16))}`);
  }
  t.pass();
});

test('overflow, underflow, infinities and NaN', (t) => {
  const half = (x: number) => floatBitsToHalf(bitsOfFloat(x));
  t.is(half(65519.99), 0x7bff);
  t.is(half(65520), 0x7c00);
  t.is(half(-1e30), 0xfc00);
  t.is(half(Infinity), 0x7c00);
  t.is(half(2 ** -25), 0);
  t.is(floatBitsToHalf(bitsOfFloat(2 ** -25) + 1), 1);
  t.is(half(-(2 ** -26)), 0x8000);
  t.is(half(-0), 0x8000);
  t.true(isNaNHalf(half(NaN)));
  t.true(isNaNHalf(floatBitsToHalf(0x7f800001)), 'a signalling NaN with a low payload stays a NaN');
});

test('random float32 bit patterns round as the reference does', (t) => {
  const rng = new Rng(16);
  for (let i = 0; i < 200_000; i++) {
    const bits = rng.int(0, 2 ** 32 - 1) >>> 0;
    const x = floatOfBits(bits);
    const h = floatBitsToHalf(bits);
    const want = nearestHalf(x);
    if (!sameNumber(HALF_TO_FLOAT[h], want)) t.fail(`0x${bits.toString(16)} (${x}) gave half 0x${h.toString(16)} = ${HALF_TO_FLOAT[h]}, expected ${want}`);
  }
  t.pass();
});

test('the array conversions agree with the scalar ones', (t) => {
  const rng = new Rng(3);
  const floats = Float32Array.from({ length: 1001 }, () => rng.normal() * 10 ** rng.int(-9, 6));
  const halves = new Uint16Array(floats.length);
  floatsToHalves(floats, halves);
  const back = new Float32Array(floats.length);
  halvesToFloats(halves, back);
  floats.forEach((x, i) => {
    if (halves[i] !== floatBitsToHalf(bitsOfFloat(x)) || !sameNumber(back[i], nearestHalf(x))) t.fail(`value ${i}: ${x}`);
  });
  t.pass();
});
