import test from 'ava';
import { decodeFrame, encodeFrame } from '../../../src/shared/collective/frame';
import { firstBitDifference } from './_transport-suite';

const tag = { run: 'r', step: 7, phase: 'G', round: 3, chunk: 2 } as const;

test('a message round-trips every bit of its payload (NaN, -0, infinities, subnormals) and its header', (t) => {
  const payload = Float32Array.of(NaN, -0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38, 0.1);
  new Uint32Array(payload.buffer)[0] = 0x7fc00abc; // a NaN with a payload
  const { header, payload: back } = decodeFrame(encodeFrame(tag, payload), 'rank 1');
  t.deepEqual(header, { ...tag, length: payload.length });
  t.is(firstBitDifference(back, payload), -1);
});

test('the payload frame is a view of the sender’s memory, not a copy', (t) => {
  const whole = Float32Array.of(1, 2, 3, 4, 5);
  const [, body] = encodeFrame(tag, whole.subarray(1, 4));
  t.is(body.buffer, whole.buffer);
  t.is(body.byteOffset, 4);
  t.is(body.length, 12);
});

test('a received payload is viewed in place when 4-byte aligned and copied only when not', (t) => {
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
