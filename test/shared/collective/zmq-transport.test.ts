import test from 'ava';
import { Push } from 'zeromq';
import { pack } from 'msgpackr';
import { ringAllReduceMean } from '../../../src/shared/collective/ring-allreduce';
import { ZmqRing } from '../../../src/shared/collective/zmq-transport';
import { CollectiveMessageError } from '../../../src/shared/errors';
import { ringSuite } from './_ring-suite';
import { zmqRing } from './_zmq-ring';

ringSuite(test, 'zmq tcp', zmqRing('tcp'));
ringSuite(test, 'zmq ipc', zmqRing('ipc'), 3);

test('garbage on the data plane is refused by name and a later correct all-reduce still works', async (t) => {
  const make = zmqRing('tcp');
  const ring = await make(2);
  const rogue = new Push({ linger: 0 });
  const target = ring.transports[0] as ZmqRing;
  rogue.connect(target.endpoint);
  try {
    const cases: [Buffer[], RegExp][] = [
      [[Buffer.from('garbage')], /1 frames, expected 2/],
      [[Buffer.from([0xc1]), Buffer.alloc(4)], /not msgpack|malformed header/],
      [[pack({ run: 'suite', step: 0, phase: 'X', round: 0, chunk: 0, length: 1 }), Buffer.alloc(4)], /malformed header/],
      [[pack({ run: 'suite', step: 0, phase: 'D', round: 0, chunk: 0, length: 2 }), Buffer.alloc(5)], /5 payload bytes.*2 float32/],
    ];
    for (const [frames, message] of cases) {
      await rogue.send(frames);
      await t.throwsAsync(target.receive(2000), { instanceOf: CollectiveMessageError, message });
    }
    const inputs = [Float32Array.of(1, 2, 3), Float32Array.of(3, 4, 5)];
    const out = await Promise.all(inputs.map((d, rank) => ringAllReduceMean(d, 1, 'D', { rank, worldSize: 2, run: 'suite', transport: ring.transports[rank], timeoutMs: 2000 })));
    t.deepEqual(Array.from(out[0]), [2, 3, 4]);
    t.deepEqual(out[1], out[0]);
  } finally {
    rogue.close();
    await ring.close();
  }
});
