import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import type { CoordinatorClient, CoordinatorHandlers } from '../../../src/generated/facefill/v1/Coordinator';
import type { Directive__Output } from '../../../src/generated/facefill/v1/Directive';
import type { RunStatus__Output } from '../../../src/generated/facefill/v1/RunStatus';
import { loadControlProto } from '../../../src/shared/control/proto';

const unimplemented = (_call: unknown, cb: (err: grpc.ServiceError) => void) =>
  cb(Object.assign(new Error('not in this test'), { code: grpc.status.UNIMPLEMENTED, details: '', metadata: new grpc.Metadata() }));

/** Serves `over` (every other method unimplemented) with the loaded proto; returns a client and a stop. */
async function serve(over: Partial<CoordinatorHandlers>): Promise<{ client: CoordinatorClient; stop: () => void }> {
  const v1 = loadControlProto();
  const handlers: CoordinatorHandlers = {
    Register: unimplemented,
    Watch: (call) => call.destroy(new Error('not in this test')),
    Heartbeat: unimplemented,
    ReportStep: unimplemented,
    Status: unimplemented,
    DownloadDataset: (call) => call.destroy(new Error('not in this test')),
    UploadCheckpoint: unimplemented,
    DownloadCheckpoint: (call) => call.destroy(new Error('not in this test')),
    Shutdown: unimplemented,
    ...over,
  };
  const server = new grpc.Server();
  server.addService(v1.Coordinator.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new v1.Coordinator(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return { client, stop: () => (client.close(), server.forceShutdown()) };
}

test('the proto loads with the generated types: a status round trip keeps 64-bit steps as numbers, negative ones signed, and optional fields absent', async (t) => {
  const { client, stop } = await serve({
    Status: (_call, cb) =>
      cb(null, {
        runId: 'run-1',
        state: 'recovering',
        step: 2 ** 40,
        steps: 2 ** 41,
        generation: 2 ** 35,
        workers: [{ rank: 0, host: 'a', gpu: -1, backend: 'wasm', state: 'running', step: 7, heartbeatAgeSeconds: 0.5 }],
        lastReport: { gAdversarialLoss: 0.7, gL2Loss: 0.1, gGradNorm: 3, images: 16 },
        recoveries: [{ cause: 'stall', generation: 2 ** 35, step: -1, lostSteps: 2 ** 36, reason: 'the ring completed no step', seconds: 0 }],
      }),
  });
  t.teardown(stop);
  const status = await new Promise<RunStatus__Output>((resolve, reject) =>
    client.Status({}, { deadline: Date.now() + 5000 }, (err, reply) => (err || !reply ? reject(err) : resolve(reply))),
  );
  t.is(status.step, 2 ** 40);
  t.is(typeof status.steps, 'number');
  t.is(status.generation, 2 ** 35);
  t.is(status.workers[0].gpu, -1);
  t.deepEqual(status.recoveries, [{ cause: 'stall', generation: 2 ** 35, step: -1, lostSteps: 2 ** 36, reason: 'the ring completed no step', seconds: 0 }]);
  t.is(status.lastReport?.gL2Loss, 0.1);
  t.is(status.lastReport?.dLossReal, undefined, 'an unset optional field stays absent (L2-only runs have no D loss)');
  const err = await new Promise<grpc.ServiceError | null>((resolve) => client.Heartbeat({ runId: 'x', generation: 1, rank: 0, step: 1 }, (e) => resolve(e)));
  t.is(err?.code, grpc.status.UNIMPLEMENTED);
});

test('Watch is a server stream of directives whose actions arrive as enum names', async (t) => {
  const { client, stop } = await serve({
    Watch: (call) => {
      const to = `${call.request.runId}/${call.request.generation}/${call.request.rank}`;
      call.write({ action: 'CONTINUE' });
      call.write({ action: 'REGROUP', reason: `ring of ${to} ended` });
      call.write({ action: 2, reason: 'by number' });
      call.end();
    },
  });
  t.teardown(stop);
  const stream = client.Watch({ runId: 'run-1', generation: 2 ** 34, rank: 3 });
  const received: Directive__Output[] = [];
  for await (const d of stream as AsyncIterable<Directive__Output>) received.push(d);
  t.deepEqual(received, [
    { action: 'CONTINUE', reason: '' },
    { action: 'REGROUP', reason: `ring of run-1/${2 ** 34}/3 ended` },
    { action: 'REGROUP', reason: 'by number' },
  ]);
});
