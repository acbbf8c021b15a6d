import test from 'ava';
import fc from 'fast-check';
import { PHASES } from '../../../src/shared/collective/api';
import { decodeFrame, encodeFrame } from '../../../src/shared/collective/frame';
import { CollectiveMessageError } from '../../../src/shared/errors';

// Whatever bytes reach a ring socket (plaintext rings, or a buggy peer), decoding either yields a
// well-formed frame or refuses it by name: it never throws anything else, and never trusts a
// length the bytes do not have.

const tag = fc.record({ run: fc.string({ maxLength: 40 }), step: fc.nat(), phase: fc.constantFrom(...PHASES), round: fc.nat(64), chunk: fc.nat(64) });
const payload = fc.float32Array({ maxLength: 64 });
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
        return values.length === header.length && frames[1].length === header.length * 4;
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
      return header.run === tg.run && header.step === tg.step && header.length === p.length && Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.byteLength), Buffer.from(p.buffer, p.byteOffset, p.byteLength)) === 0;
    }),
    { numRuns: 1_000 },
  );
  t.pass();
});
