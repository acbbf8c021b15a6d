import test from 'ava';
import { pack } from 'msgpackr';
import { decodeFrame, encodeFrame } from '../../../src/shared/collective/frame';
import { CollectiveMessageError } from '../../../src/shared/errors';
import { firstBitDifference } from './_transport-suite';

const tag = { run: 'r', step: 7, phase: 'G', round: 3, chunk: 2 } as const;

test('a message round-trips every bit of its payload (NaN, -0, infinities, subnormals) and its header', (t) => {
  const payload = Float32Array.of(NaN, -0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38, 0.1);
  new Uint32Array(payload.buffer)[0] = 0x7fc00abc; // a NaN with a payload
  const { header, payload: back } = decodeFrame(encodeFrame(tag, payload), 'rank 1');
  t.deepEqual(header, { ...tag, length: payload.length, dtype: 'f32' });
  t.true(back instanceof Float32Array);
  t.is(firstBitDifference(back as Float32Array, payload), -1);
});

test('half values travel as their bit patterns, told apart from float32 by the header', (t) => {
  const halves = Uint16Array.of(0x3c00, 0x8001, 0x7c00, 0x7e01, 0);
  const { header, payload } = decodeFrame(encodeFrame(tag, halves), 'rank 1');
  t.is(header.dtype, 'f16');
  t.is(header.length, 5);
  t.true(payload instanceof Uint16Array);
  t.deepEqual(Array.from(payload), Array.from(halves));
});

test('every step up to the largest safe integer and a non-ASCII run id round-trip', (t) => {
  for (const step of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
    const over = { run: 'rün/g2', step, phase: 'stats', round: 2 ** 32 - 1, chunk: 12345 } as const;
    t.deepEqual(decodeFrame(encodeFrame(over, new Float32Array(1)), 'rank 0').header, { ...over, length: 1, dtype: 'f32' });
  }
});

test('a header with an unknown wire type, or a payload that does not fit its type, is refused by name', (t) => {
  const header = { ...tag, length: 2, dtype: 'f64' };
  t.throws(() => decodeFrame([pack(header), Buffer.alloc(16)], 'rank 1'), { instanceOf: CollectiveMessageError, message: /rank 1 sent a malformed header .*dtype/ });
  t.throws(() => decodeFrame([pack({ ...header, dtype: 'f16' }), Buffer.alloc(8)], 'rank 1'), { instanceOf: CollectiveMessageError, message: /8 bytes, but its header says 2 f16 values \(4 bytes\)/ });
});

test('the payload frame is a view of the sender’s memory, not a copy', (t) => {
  const whole = Float32Array.of(1, 2, 3, 4, 5);
  const [, body] = encodeFrame(tag, whole.subarray(1, 4));
  t.is(body.buffer, whole.buffer);
  t.is(body.byteOffset, 4);
  t.is(body.length, 12);
});

test('a received payload is viewed in place when aligned to its value size and copied only when not', (t) => {
  const [head, body] = encodeFrame(tag, Float32Array.of(1.5, -2.5));
  const aligned = Buffer.from(body);
  t.is(decodeFrame([head, aligned], 'rank 1').payload.buffer, aligned.buffer);

  const backing = new Uint8Array(9);
  const misaligned = Buffer.from(backing.buffer, 1, 8);
  misaligned.set(body);
  const decoded = decodeFrame([head, misaligned], 'rank 1').payload;
  t.not(decoded.buffer, backing.buffer);
  t.deepEqual(Array.from(decoded), [1.5, -2.5]);
});
