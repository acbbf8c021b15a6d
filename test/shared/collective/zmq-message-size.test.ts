import test from 'ava';
import { type Event, Push } from 'zeromq';
import type { ExpectedChunk } from '../../../src/shared/collective/api';
import { encodeFrame } from '../../../src/shared/collective/frame';
import { capturedLog } from './_transport-suite';
import { eventually, zmqRing } from './_zmq-ring';

const MAX = 4096;

for (const curve of [false, true]) {
  test(`zmq ${curve ? 'curve' : 'plaintext'}: a frame of maxMessageBytes passes; one byte more closes the sender's connection and is never received`, async (t) => {
    const ring = await zmqRing({ kind: 'tcp', curve, maxMessageBytes: MAX }, 2, capturedLog().log);
    // The left neighbour's own keys: the bound holds against a peer the socket admits.
    const k = ring.keys[0];
    const peer = new Push({ linger: 0, ...(k ? { curvePublicKey: k.publicKey, curveSecretKey: k.secretKey, curveServerKey: ring.keys[1]?.publicKey } : {}) });
    const events: Event['type'][] = [];
    void (async () => {
      for await (const e of peer.events) events.push(e.type);
    })();
    peer.connect(ring.transports[1].endpoints[0]);
    const expect = (step: number, length: number): ExpectedChunk => ({ run: 'suite', step, phase: 'D', round: 0, chunk: 0, length, dtype: 'f32' });
    try {
      await peer.send(encodeFrame(expect(0, MAX / 4), new Float32Array(MAX / 4).fill(1)));
      t.is((await ring.transports[1].receive(expect(0, MAX / 4), 10_000)).length, MAX / 4);
      t.false(events.includes('disconnect'));
      // One byte over in the payload frame (the header is not a float count, so its length lies; never looked at).
      await peer.send([encodeFrame(expect(1, 1), new Float32Array(1))[0], Buffer.alloc(MAX + 1, 0xff)]);
      t.true(await eventually(() => events.includes('disconnect')), `the sender's connection was not closed: ${events.join(', ')}`);
      // ZeroMQ reconnects the sender (a message sent before that may go down with the old connection).
      t.true(await eventually(() => events.lastIndexOf('handshake') > events.indexOf('disconnect')), `no new handshake: ${events.join(', ')}`);
      await peer.send(encodeFrame(expect(1, 3), Float32Array.of(7, 8, 9)));
      t.deepEqual(Array.from(await ring.transports[1].receive(expect(1, 3), 10_000)), [7, 8, 9]);
    } finally {
      peer.close();
      await ring.close();
    }
  });
}
