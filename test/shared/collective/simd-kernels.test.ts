import test from 'ava';
import { FloatReduction } from '../../../src/shared/collective/float-reduction';
import { floatBitsToHalf, HALF_TO_FLOAT_BITS } from '../../../src/shared/collective/half';
import { HalfReduction } from '../../../src/shared/collective/half-reduction';
import { BLOCK_VALUES, createSimdKernels, type SimdKernels } from '../../../src/shared/collective/simd-kernels';
import { SimdFloatReduction, SimdHalfReduction } from '../../../src/shared/collective/simd-reduction';
import { Rng } from '../../../src/shared/util/rng';
import { floatOfBits } from './_half-reference';
import { firstBitDifference } from './_transport-suite';

// The SIMD kernels must give the JavaScript reference's bits (NaN payloads aside, which these
// inputs avoid: NaN is tested for staying NaN).

const kernels = (): SimdKernels => {
  const k = createSimdKernels();
  if (!k) throw new Error('this runtime has no WebAssembly SIMD');
  return k;
};

/** Values of every kind a gradient may hold: normal, tiny (float32 subnormal), huge, signed zeros, infinities, and values near half's limits. */
function awkward(rng: Rng, length: number): Float32Array {
  const specials = [0, -0, Infinity, -Infinity, 65504, 65519.99, 65520, -65520, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 6.1e-5, 1e-40, -1e-45, 3.4e38];
  return Float32Array.from({ length }, (_, i) => (i % 7 === 0 ? specials[rng.int(0, specials.length - 1)] : rng.normal() * 10 ** rng.int(-9, 5)));
}

test('this runtime has the kernels, and halves decode exactly for every bit pattern', (t) => {
  const k = kernels();
  const bits = new Uint32Array(k.x.buffer, k.x.byteOffset, BLOCK_VALUES);
  for (let base = 0; base < 1 << 16; base += BLOCK_VALUES) {
    for (let i = 0; i < BLOCK_VALUES; i++) k.h[i] = base + i;
    k.fromHalves(BLOCK_VALUES);
    for (let i = 0; i < BLOCK_VALUES; i++) if (bits[i] !== HALF_TO_FLOAT_BITS[base + i]) t.fail(`half 0x${(base + i).toString(16)}`);
  }
  t.pass();
});

test('floats round to halves as floatBitsToHalf does, for a spread of bit patterns and every neighbour of a half midpoint', (t) => {
  const k = kernels();
  const y = new Uint32Array(k.y.buffer, k.y.byteOffset, BLOCK_VALUES);
  const check = (patterns: number[]) => {
    for (let s = 0; s < patterns.length; s += BLOCK_VALUES) {
      const n = Math.min(BLOCK_VALUES, patterns.length - s);
      for (let i = 0; i < n; i++) y[i] = patterns[s + i];
      k.toHalves((n + 3) & ~3);
      for (let i = 0; i < n; i++) if (k.h[i] !== floatBitsToHalf(y[i])) t.fail(`0x${y[i].toString(16)}: 0x${k.h[i].toString(16)}, expected 0x${floatBitsToHalf(y[i]).toString(16)}`);
    }
  };
  // Every 65537th pattern (all exponents, signs and NaNs), plus the floats around each midpoint.
  check(Array.from({ length: 65536 }, (_, i) => (i * 65537 + 12345) >>> 0));
  const around: number[] = [];
  for (let h = 0; h < 0x7c00; h++) {
    const mid = (HALF_TO_FLOAT_BITS[h] + HALF_TO_FLOAT_BITS[h + 1]) / 2;
    for (const sign of [0, 0x80000000]) around.push((Math.floor(mid) - 1 + sign) >>> 0, (Math.floor(mid) + sign) >>> 0, (Math.ceil(mid) + 1 + sign) >>> 0);
  }
  check(around);
  t.pass();
});

for (const [name, make] of [
  ['float32', (k: SimdKernels) => [new SimdFloatReduction(k), new FloatReduction()] as const],
  ['half', (k: SimdKernels) => [new SimdHalfReduction(k), new HalfReduction()] as const],
] as const) {
  test(`${name}: every step of the reduction on the kernels gives the reference's bits, for chunks around the block size, in place or not`, (t) => {
    const [simd, reference] = make(kernels());
    const rng = new Rng(name.length);
    for (const length of [1, 3, 4, 5, 17, BLOCK_VALUES - 1, BLOCK_VALUES, BLOCK_VALUES + 5, 3 * BLOCK_VALUES + 2]) {
      for (const inPlace of [false, true]) {
        const a = rng.int(0, 9);
        const data = awkward(rng, a + length + 3);
        const received = name === 'float32' ? awkward(rng, length) : Uint16Array.from({ length }, () => floatBitsToHalf(rng.int(0, 2 ** 32 - 1) >>> 0) & 0xfbff);
        for (const step of ['own', 'accumulate', 'finish', 'place'] as const) {
          const results = [simd, reference].map((w) => {
            const d = data.slice();
            const out = inPlace ? d : new Float32Array(d.length);
            const p = received.slice();
            w.begin(a, length);
            // The arrays are of the reduction's wire type by construction.
            const run = w as unknown as { own(d: Float32Array, a: number, b: number): Float32Array | Uint16Array } & Record<'accumulate' | 'finish' | 'place', (...args: unknown[]) => void>;
            if (step === 'own') return { p: run.own(d, a, a + length).slice(), out };
            if (step === 'accumulate') run.accumulate(p, d, a);
            if (step === 'finish') run.finish(p, d, out, a, 3);
            if (step === 'place') run.place(p, out, a);
            return { p, out };
          });
          const [s, r] = results;
          const same = Buffer.compare(Buffer.from(s.p.buffer, s.p.byteOffset, s.p.byteLength), Buffer.from(r.p.buffer, r.p.byteOffset, r.p.byteLength)) === 0;
          t.true(same, `${step}: payload, length ${length}, in place ${inPlace}`);
          t.is(firstBitDifference(s.out, r.out), -1, `${step}: result, length ${length}, in place ${inPlace}`);
        }
      }
    }
  });
}

test('NaN stays NaN through the kernels', (t) => {
  const k = kernels();
  k.x.set([NaN, 1, NaN, 2]);
  k.y.set([1, NaN, NaN, 0]);
  k.addDivide(4, 2);
  t.true([0, 1, 2].every((i) => Number.isNaN(k.x[i])));
  k.y.set([NaN, floatOfBits(0xffc00001), 1, 1]);
  k.toHalves(4);
  t.true([0, 1].every((i) => (k.h[i] & 0x7c00) === 0x7c00 && (k.h[i] & 0x3ff) !== 0));
});
