import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { Push } from 'zeromq';
import { encodeFrame } from '../../../src/shared/collective/frame';
import { newRingKeys } from '../../../src/shared/collective/ring-keys';
import { ZmqTransport } from '../../../src/shared/collective/zmq-transport';
import { CollectiveClosedError, ConfigInvalidError } from '../../../src/shared/errors';
import { Rng } from '../../../src/shared/util/rng';
import { allReduce, capturedLog, exactMean, firstBitDifference, ints, transportSuite } from './_transport-suite';
import { zmqRingFactory } from './_zmq-ring';

transportSuite(test, 'zmq tcp', zmqRingFactory({ kind: 'tcp', curve: false }), 5);
transportSuite(test, 'zmq ipc', zmqRingFactory({ kind: 'ipc', curve: false }), 5);
transportSuite(test, 'zmq tcp curve', zmqRingFactory({ kind: 'tcp', curve: true }), 5);
transportSuite(test, 'zmq ipc curve', zmqRingFactory({ kind: 'ipc', curve: true }), 5);

test('zmq: the bound endpoint resolves a wildcard port, and a bad rank is a config error', async (t) => {
  const transport = await ZmqTransport.bind({ rank: 0, worldSize: 1, bind: ['tcp://127.0.0.1:*', 'tcp://127.0.0.1:*'], log: capturedLog().log });
  t.is(transport.endpoints.length, 2);
  for (const e of transport.endpoints) t.regex(e, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  await transport.close();
  await t.throwsAsync(ZmqTransport.bind({ rank: 2, worldSize: 2, bind: 'tcp://127.0.0.1:*' }), { instanceOf: ConfigInvalidError, message: /rank 2 of world size 2/ });
});

test('zmq: close ends a pending receive and a pending send with CollectiveClosedError at once, and is idempotent', async (t) => {
  // Never connected: a send waits for a peer forever, a receive for a message.
  const transport = await ZmqTransport.bind({ rank: 0, worldSize: 2, bind: 'tcp://127.0.0.1:*', log: capturedLog().log });
  const started = performance.now();
  const receiving = transport.receive({ run: 'z', step: 0, phase: 'D', round: 0, chunk: 0, length: 1, dtype: 'f32' }, 60_000);
  const sending = transport.send({ run: 'z', step: 0, phase: 'D', round: 0, chunk: 0 }, new Float32Array(1));
  setTimeout(() => void transport.close(), 50);
  await t.throwsAsync(receiving, { instanceOf: CollectiveClosedError });
  await t.throwsAsync(sending, { instanceOf: CollectiveClosedError });
  t.true(performance.now() - started < 5000);
  await transport.close();
  await t.throwsAsync(transport.send({ run: 'z', step: 0, phase: 'D', round: 0, chunk: 0 }, new Float32Array(1)), { instanceOf: CollectiveClosedError });
});

test('zmq curve: a listener publishes its public key; a missing, malformed or misplaced neighbour key is a config error', async (t) => {
  const log = capturedLog().log;
  const keys = newRingKeys();
  const plain = await ZmqTransport.listen({ bind: 'tcp://127.0.0.1:*', log });
  const curve = await ZmqTransport.listen({ bind: 'tcp://127.0.0.1:*', keys, log });
  t.is(plain.publicKey, null);
  t.is(curve.publicKey, keys.publicKey);
  t.throws(() => curve.place(0, 2), { instanceOf: ConfigInvalidError, message: /rank 0: the ring is encrypted \(CURVE\), but no left neighbour's public key was given/ });
  t.throws(() => curve.place(0, 2, { leftPublicKey: 'not a key' }), { instanceOf: ConfigInvalidError, message: /an admitted public key 'not a key' is not a CURVE key/ });
  t.throws(() => plain.place(0, 2, { leftPublicKey: newRingKeys().publicKey }), { instanceOf: ConfigInvalidError, message: /this listener has no keys \(ring encryption 'none'\)/ });
  // A refused place leaves the listener free to be placed.
  const encrypted = curve.place(0, 2, { leftPublicKey: newRingKeys().publicKey });
  const open = plain.place(1, 2);
  t.throws(() => encrypted.connect(open.endpoints[0]), { instanceOf: ConfigInvalidError, message: /no right neighbour's public key was given/ });
  t.throws(() => encrypted.connect(open.endpoints[0], keys.secretKey.slice(1)), { instanceOf: ConfigInvalidError, message: /right neighbour's public key '.*' is not a CURVE key/ });
  t.throws(() => open.connect(encrypted.endpoints[0], keys.publicKey), { instanceOf: ConfigInvalidError, message: /this transport has no keys/ });
  encrypted.connect(open.endpoints[0], newRingKeys().publicKey);
  await Promise.all([encrypted.close(), open.close()]);
  for (const maxMessageBytes of [0, 3, 4.5, Number.NaN]) {
    await t.throwsAsync(ZmqTransport.listen({ bind: 'tcp://127.0.0.1:*', maxMessageBytes, log }), { instanceOf: ConfigInvalidError, message: /ring maxMessageBytes/ });
  }
  await t.throwsAsync(ZmqTransport.listen({ bind: 'tcp://127.0.0.1:*', keys: { ...keys, secretKey: 'short' }, log }), { instanceOf: ConfigInvalidError, message: /the ring secret key/ });
  const unplaced = await ZmqTransport.listen({ bind: 'tcp://127.0.0.1:*', keys: newRingKeys(), log });
  unplaced.close();
  unplaced.close();
  t.throws(() => unplaced.place(0, 1, { leftPublicKey: keys.publicKey }), { message: /this listener is closed/ });
});

test('zmq curve: a ring forms when the left neighbour connects and sends before the right one took its place; an early intruder stays out', async (t) => {
  const log = capturedLog().log;
  const [a, b, intruderKeys] = [newRingKeys(), newRingKeys(), newRingKeys()];
  const [la, lb] = await Promise.all([a, b].map((keys) => ZmqTransport.listen({ bind: 'tcp://127.0.0.1:*', keys, log })));
  const rank0 = la.place(0, 2, { leftPublicKey: b.publicKey });
  rank0.connect(lb.endpoints[0], b.publicKey);
  const tag = { run: 'early', step: 0, phase: 'D', round: 0, chunk: 0 } as const;
  const sent = rank0.send(tag, Float32Array.of(1, 2, 3));
  const intruder = new Push({ linger: 0, curvePublicKey: intruderKeys.publicKey, curveSecretKey: intruderKeys.secretKey, curveServerKey: b.publicKey });
  intruder.connect(lb.endpoints[0]);
  void intruder.send(encodeFrame(tag, Float32Array.of(1e30, 1e30, 1e30))).catch(() => undefined);
  // Both handshakes wait in the ZAP handler meanwhile; a refusal now would never be retried.
  await sleep(1000);
  const rank1 = lb.place(1, 2, { leftPublicKey: a.publicKey });
  rank1.connect(la.endpoints[0], a.publicKey);
  try {
    t.deepEqual(Array.from(await rank1.receive({ ...tag, length: 3, dtype: 'f32' }, 10_000)), [1, 2, 3]);
    await sent;
    const rng = new Rng(30);
    const inputs = [ints(rng, 999), ints(rng, 999)];
    const results = await allReduce([rank0, rank1], inputs, 1, { run: 'early', chunkBytes: 512 });
    for (const r of results) t.is(firstBitDifference(r, exactMean(inputs)), -1);
  } finally {
    intruder.close();
    await Promise.all([rank0.close(), rank1.close()]);
  }
});
