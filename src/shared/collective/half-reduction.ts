import { floatBitsToHalf, floatsToHalves, HALF_TO_FLOAT, HALF_TO_FLOAT_BITS, halvesToFloats } from './half';
import type { WireReduction } from './wire-reduction';

/**
 * The all-reduce's arithmetic with half precision on the wire (`compression: fp16`): partial
 * sums arrive as halves, take in the rank's float32 values in float32, and leave rounded to
 * half. The owner rounds each finished value to half once and keeps exactly that value, which
 * is also what every other rank receives: all ranks end with the same bits.
 *
 * Own values are encoded into a staging array that is reused by the next all-reduce (safe once
 * this one resolved, see {@link WireReduction.own}); one instance serves one ring at a time.
 */
export class HalfReduction implements WireReduction<'f16'> {
  readonly dtype = 'f16';
  private staging = new Uint16Array(0);
  private segmentStart = 0;
  // A float32 and its bits in one place: how a computed value's bits are read.
  private readonly scratch = new Float32Array(1);
  private readonly scratchBits = new Uint32Array(this.scratch.buffer);

  begin(start: number, length: number): void {
    this.segmentStart = start;
    if (this.staging.length < length) this.staging = new Uint16Array(length);
  }

  own(data: Float32Array, a: number, b: number): Uint16Array {
    const into = this.staging.subarray(a - this.segmentStart, b - this.segmentStart);
    floatsToHalves(data.subarray(a, b), into);
    return into;
  }

  accumulate(payload: Uint16Array, data: Float32Array, a: number): void {
    const f = this.scratch;
    const bits = this.scratchBits;
    for (let i = 0, n = payload.length; i < n; i++) {
      f[0] = HALF_TO_FLOAT[payload[i]] + data[a + i];
      payload[i] = floatBitsToHalf(bits[0]);
    }
  }

  finish(payload: Uint16Array, data: Float32Array, out: Float32Array, a: number, divisor: number): void {
    const f = this.scratch;
    const bits = this.scratchBits;
    const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0, n = payload.length; i < n; i++) {
      f[0] = Math.fround(HALF_TO_FLOAT[payload[i]] + data[a + i]) / divisor;
      const h = floatBitsToHalf(bits[0]);
      payload[i] = h;
      outBits[a + i] = HALF_TO_FLOAT_BITS[h];
    }
  }

  place(payload: Uint16Array, out: Float32Array, a: number): void {
    halvesToFloats(payload, out.subarray(a, a + payload.length));
  }
}
