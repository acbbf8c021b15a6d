import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { Push } from 'zeromq';
import type { ExpectedChunk } from '../../../src/shared/collective/api';
import { encodeFrame } from '../../../src/shared/collective/frame';
import { newRingKeys } from '../../../src/shared/collective/ring-keys';
import { ringAllReduce } from '../../../src/shared/collective/ring-allreduce';
import { CollectiveTimeoutError } from '../../../src/shared/errors';
import { Rng } from '../../../src/shared/util/rng';
import { capturedLog, exactMean, firstBitDifference, ints } from './_transport-suite';
import { zmqRing } from './_zmq-ring';

const HUGE = 1e30;

// Someone who reaches a rank's port: with no keys at all, or with a keypair of its own and the
// rank's public key (which the coordinator hands out, so it may leak).
function intruder(endpoint: string, serverKey: string | null): Push {
  const own = newRingKeys();
  // A short send timeout: a refused intruder's queue fills, and the test must not wait on it.
  const push = new Push({ linger: 0, sendTimeout: 50, ...(serverKey ? { curvePublicKey: own.publicKey, curveSecretKey: own.secretKey, curveServerKey: serverKey } : {}) });
  push.connect(endpoint);
  return push;
}

// What intruders send: the 4-byte message that once killed a run, junk, and well-formed frames
// of this run for the chunk the rank waits for and for a later step, full of 1e30s.
function attack(expect: ExpectedChunk): Buffer[][] {
  const huge = new Float32Array(expect.length).fill(HUGE);
  return [
    [Buffer.from([0, 0, 0, 1])],
    [Buffer.from('garbage'), Buffer.alloc(8), Buffer.alloc(3)],
    encodeFrame(expect, huge),
    encodeFrame({ ...expect, step: expect.step + 1 }, huge),
    encodeFrame({ ...expect, step: expect.step + 7, round: 1 }, huge),
  ];
}

// Sends until told to stop; resolves with how many sends were tried. Whether ZeroMQ took a
// message depends on how fast the handshake was refused (a refused pipe takes none), which varies
// with the load: the refusals the log records show that the intruders got as far as the handshake.
async function flood(sockets: Push[], messages: Buffer[][], until: { done: boolean }): Promise<number> {
  let tried = 0;
  while (!until.done) {
    for (const s of sockets) {
      for (const m of messages) {
        tried++;
        // Refused, not connected, or the queue is full: an attacker just goes on.
        await s.send(m).catch(() => undefined);
      }
    }
    await sleep(5);
  }
  return tried;
}

test('zmq curve: intruders with no keys or their own keys put nothing into a running all-reduce, even while the rank waits for a paused neighbour', async (t) => {
  const { log, records } = capturedLog();
  const ring = await zmqRing({ kind: 'tcp', curve: true }, 3, log);
  const rng = new Rng(77);
  const target = 1;
  const endpoint = ring.transports[target].endpoints[0];
  const serverKey = ring.keys[target]?.publicKey ?? null;
  try {
    for (let step = 0; step < 4; step++) {
      const inputs = ring.transports.map(() => ints(rng, 1001));
      // Fresh intruders every step: libzmq does not retry a refused handshake, an attacker would.
      const sockets = [intruder(endpoint, null), intruder(endpoint, serverKey), intruder(endpoint, serverKey)];
      const until = { done: false };
      const expect: ExpectedChunk = { run: 'suite', step, phase: 'D', round: 0, chunk: 0, length: 100, dtype: 'f32' };
      const flooding = flood(sockets, attack(expect), until);
      // Rank 0, the target's left neighbour, is paused: the target waits at its door meanwhile.
      const results = await Promise.all(
        inputs.map(async (data, rank) => {
          if (rank === 0) await sleep(400);
          return ringAllReduce(data, { step, phase: 'D' }, { transport: ring.transports[rank], run: 'suite', timeoutMs: 20_000, chunkBytes: 400 });
        }),
      );
      until.done = true;
      t.true((await flooding) > 0, 'the intruders tried');
      for (const s of sockets) s.close();
      for (const [rank, r] of results.entries()) t.is(firstBitDifference(r, exactMean(inputs)), -1, `step ${step} rank ${rank}`);
    }
    t.false(records.some((r) => r.msg.startsWith('dropped a stale message')), 'no intruder frame reached the receive policy');
    t.true(records.some((r) => /^refused a ring connection from 127\.0\.0\.1: client key [0-9a-f]{64} is not admitted$/.test(r.msg)));
  } finally {
    await ring.close();
  }
});

// The attack CURVE closes, shown on the same footing: a plaintext rank takes a stranger's chunk.
for (const curve of [false, true]) {
  test(`zmq ${curve ? 'curve' : 'plaintext'}: a stranger's well-formed chunk for a waiting rank is ${curve ? 'never received' : 'received (the attack CURVE closes)'}`, async (t) => {
    const ring = await zmqRing({ kind: 'tcp', curve }, 2, capturedLog().log);
    const expect: ExpectedChunk<'f32'> = { run: 'suite', step: 3, phase: 'G', round: 0, chunk: 0, length: 4, dtype: 'f32' };
    const stranger = intruder(ring.transports[1].endpoints[0], ring.keys[1]?.publicKey ?? null);
    try {
      void stranger.send(encodeFrame(expect, new Float32Array(4).fill(HUGE))).catch(() => undefined);
      const received = ring.transports[1].receive(expect, 1500);
      if (curve) await t.throwsAsync(received, { instanceOf: CollectiveTimeoutError });
      else t.deepEqual(Array.from(await received), [HUGE, HUGE, HUGE, HUGE].map(Math.fround));
    } finally {
      stranger.close();
      await ring.close();
    }
  });
}
