/**
 * The half-precision (binary16) value nearest to `x`, ties to even, as a number: written from
 * the format's definition (a spacing of 2^-24 below 2^-14, then 10 fraction bits a binade,
 * infinity from 65520 up), independently of src/, as the reference the conversions are tested against.
 */
export function nearestHalf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const sign = x < 0 || Object.is(x, -0) ? -1 : 1;
  const ax = Math.abs(x);
  if (ax >= 65520) return sign * Infinity;
  let e = -14;
  while (e < 15 && 2 ** (e + 1) <= ax) e++;
  const ulp = 2 ** (e - 10);
  // Exact: ax is a float32 and ulp a power of two.
  const q = ax / ulp;
  let f = Math.floor(q);
  const rest = q - f;
  if (rest > 0.5 || (rest === 0.5 && f % 2 === 1)) f++;
  return sign * f * ulp;
}

/** The float32 whose bit pattern is `bits`, as a number. */
export function floatOfBits(bits: number): number {
  const f = new Float32Array(1);
  new Uint32Array(f.buffer)[0] = bits;
  return f[0];
}

/** The bit pattern of the float32 nearest to `x`. */
export function bitsOfFloat(x: number): number {
  const u = new Uint32Array(1);
  new Float32Array(u.buffer)[0] = x;
  return u[0];
}

/** True when `a` and `b` are the same number, telling -0 from 0 and NaN equal to NaN. */
export const sameNumber = (a: number, b: number): boolean => Object.is(a, b);
