/**
 * IEEE 754 binary16 ("half", fp16) conversions for the ring's compressed wire format. Node 20
 * has no Float16Array, so half values travel as their bit patterns in a Uint16Array. Float to
 * half rounds to nearest, ties to even, as a hardware conversion does: finite values from 65520
 * up become infinities, values up to 2^-25 become zeros, and a NaN becomes the quiet NaN.
 */

/** The largest finite half value; anything from 65520 up rounds to infinity. */
export const HALF_MAX = 65504;

/**
 * The float32 bit pattern of every half bit pattern, indexed by the half's bits. A table
 * lookup is exact and cheaper than decoding the fields; bits are copied as integers so that a
 * NaN's payload survives (a float copy may change it).
 */
export const HALF_TO_FLOAT_BITS: Uint32Array = buildTable();

/** {@link HALF_TO_FLOAT_BITS} viewed as float32 values, for arithmetic. */
export const HALF_TO_FLOAT: Float32Array = new Float32Array(HALF_TO_FLOAT_BITS.buffer);

/** The half bit pattern nearest (ties to even) to the float32 whose bit pattern is `bits`. */
export function floatBitsToHalf(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const a = bits & 0x7fffffff;
  // 0x477ff000 is 65520, halfway between HALF_MAX and 2^16: it and all above round to
  // infinity. A NaN becomes the quiet NaN (its payload is not kept).
  if (a >= 0x477ff000) return a > 0x7f800000 ? sign | 0x7e00 : sign | 0x7c00;
  // Normal halves (from 2^-14): rebias the exponent (127 to 15) and round the 13 dropped
  // mantissa bits to nearest even; a carry moves into the exponent, as it should.
  if (a >= 0x38800000) return sign | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13);
  // Up to 2^-25 (half of the smallest subnormal, a tie that goes to the even zero).
  if (a <= 0x33000000) return sign;
  // Subnormal halves count units of 2^-24: shift the full mantissa down and round.
  const shift = 126 - (a >>> 23);
  const m = (a & 0x7fffff) | 0x800000;
  const q = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (rest > half || (rest === half && (q & 1) === 1) ? q + 1 : q);
}

/** Writes the half nearest to each of `src`'s values into `dst` (which holds at least as many). */
export function floatsToHalves(src: Float32Array, dst: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0, n = bits.length; i < n; i++) dst[i] = floatBitsToHalf(bits[i]);
}

/** Writes the float32 value of each half in `src` into `dst` (which holds at least as many), bit-exactly. */
export function halvesToFloats(src: Uint16Array, dst: Float32Array): void {
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0, n = src.length; i < n; i++) out[i] = HALF_TO_FLOAT_BITS[src[i]];
}

function buildTable(): Uint32Array {
  const table = new Uint32Array(1 << 16);
  for (let h = 0; h < table.length; h++) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0x1f) {
      table[h] = sign | 0x7f800000 | (mantissa << 13);
    } else if (exponent > 0) {
      table[h] = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa === 0) {
      table[h] = sign;
    } else {
      // A subnormal half is a normal float: normalise its mantissa.
      let e = 113;
      let m = mantissa;
      while ((m & 0x400) === 0) {
        m <<= 1;
        e--;
      }
      table[h] = sign | (e << 23) | ((m & 0x3ff) << 13);
    }
  }
  return table;
}
