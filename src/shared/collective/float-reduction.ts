import type { WireReduction } from './wire-reduction';

/**
 * The all-reduce's arithmetic with float32 on the wire: own values go out as views of the
 * rank's data (no copy), partial sums are added in place, and the owner's finished values are
 * written to the payload and the result in one pass.
 */
export class FloatReduction implements WireReduction<'f32'> {
  readonly dtype = 'f32';

  begin(): void {}

  own(data: Float32Array, a: number, b: number): Float32Array {
    return data.subarray(a, b);
  }

  accumulate(payload: Float32Array, data: Float32Array, a: number): void {
    for (let i = 0, n = payload.length; i < n; i++) payload[i] += data[a + i];
  }

  finish(payload: Float32Array, data: Float32Array, out: Float32Array, a: number, divisor: number): void {
    // The sum is rounded to float32 before the division, as a float32 addition would be; the
    // quotient is rounded by both stores alike.
    for (let i = 0, n = payload.length; i < n; i++) {
      const v = Math.fround(payload[i] + data[a + i]) / divisor;
      payload[i] = v;
      out[a + i] = v;
    }
  }

  place(payload: Float32Array, out: Float32Array, a: number): void {
    out.set(payload, a);
  }
}
