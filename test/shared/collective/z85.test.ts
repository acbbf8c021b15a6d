import test from 'ava';
import { curveKeyPair } from 'zeromq';
import { decodeRingKey } from '../../../src/shared/collective/ring-keys';
import { decodeZ85 } from '../../../src/shared/collective/z85';
import { ConfigInvalidError } from '../../../src/shared/errors';

test('z85: decodes the test vector of RFC 32', (t) => {
  t.deepEqual(decodeZ85('HelloWorld'), Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]));
  t.deepEqual(decodeZ85(''), Buffer.alloc(0));
});

test('z85: rejects a length not a multiple of 5, a character outside the alphabet, and a group above 2^32 - 1', (t) => {
  t.is(decodeZ85('Hello'.slice(0, 4)), null);
  t.is(decodeZ85('Hell~'), null);
  t.is(decodeZ85('Hell"World'), null);
  t.deepEqual(decodeZ85('%nSc0'), Buffer.from([0xff, 0xff, 0xff, 0xff]));
  t.is(decodeZ85('%nSc1'), null);
  t.is(decodeZ85('#####'), null);
});

test('ring keys: a keypair zeromq makes decodes to two 32-byte keys; anything else is a config error naming it', (t) => {
  const { publicKey, secretKey } = curveKeyPair();
  t.is(decodeRingKey(publicKey, 'k').length, 32);
  t.is(decodeRingKey(secretKey, 'k').length, 32);
  t.throws(() => decodeRingKey(publicKey.slice(5), 'the left key'), { instanceOf: ConfigInvalidError, message: /^the left key '.{35}' is not a CURVE key: expected 40 Z85 characters$/ });
  t.throws(() => decodeRingKey(`${publicKey.slice(0, 39)}~`, 'k'), { instanceOf: ConfigInvalidError });
  t.throws(() => decodeRingKey('x'.repeat(100), 'k'), { instanceOf: ConfigInvalidError, message: /'x{48}\.\.\.'/ });
});
