import test from 'ava';
import fc from 'fast-check';
import { PHASES } from '../../../src/shared/collective/api';
import { decodeFrame, encodeFrame } from '../../../src/shared/collective/frame';
import { CollectiveMessageError } from '../../../src/shared/errors';

// Whatever bytes reach a ring socket (plaintext rings, or a buggy peer), decoding either yields a
// well-formed frame or refuses it by name: it never throws anything else, and never trusts a
// length the bytes do not have.

const tag = fc.record({ run: fc.string({ maxLength: 40 }), step: fc.maxSafeNat(), phase: fc.constantFrom(...PHASES), round: fc.nat(64), chunk: fc.nat(64) });
const payload = fc.oneof(fc.float32Array({ maxLength: 64 }), fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 64 }).map((a) => Uint16Array.from(a)));
const bytes = fc.uint8Array({ maxLength: 2_048 }).map((a) => Buffer.from(a));

// A valid message with one byte of its header or payload changed, or a frame cut or added.
const mutated = fc.tuple(tag, payload, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('header', 'payload', 'cut', 'extra')).map(([t, p, at, value, how]) => {
  const [head, body] = encodeFrame(t, p).map((b) => Buffer.from(b));
  if (how === 'header' && head.length > 0) head[at % head.length] = value;
  if (how === 'payload' && body.length > 0) body[at % body.length] = value;
  if (how === 'cut') return [head, body.subarray(0, at % (body.length + 1))];
  if (how === 'extra') return [head, body, Buffer.from([value])];
  return [head, body];
});

test('random and mutated messages decode to a consistent frame or a CollectiveMessageError, never anything else', (t) => {
  let refused = 0;
  fc.assert(
    fc.property(fc.oneof(fc.array(bytes, { maxLength: 4 }), mutated), (frames) => {
      try {
        const { header, payload: values } = decodeFrame(frames, 'rank 1');
        const size = header.dtype === 'f32' ? 4 : 2;
        const typed = header.dtype === 'f32' ? values instanceof Float32Array : values instanceof Uint16Array;
        return typed && values.length === header.length && frames[1].length === header.length * size && Number.isSafeInteger(header.step) && PHASES.includes(header.phase);
      } catch (err) {
        refused++;
        return err instanceof CollectiveMessageError;
      }
    }),
    { numRuns: 5_000 },
  );
  t.true(refused > 0, 'some inputs were refused');
});

test('a well-formed message round-trips exactly', (t) => {
  fc.assert(
    fc.property(tag, payload, (tg, p) => {
      const { header, payload: back } = decodeFrame(encodeFrame(tg, p), 'rank 0');
      const same = (a: ArrayBufferView, b: ArrayBufferView) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
      return header.run === tg.run && header.step === tg.step && header.phase === tg.phase && header.round === tg.round && header.chunk === tg.chunk && header.length === p.length && back.constructor === p.constructor && same(back, p);
    }),
    { numRuns: 1_000 },
  );
  t.pass();
});
