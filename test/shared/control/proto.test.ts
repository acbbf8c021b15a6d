import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import type { CoordinatorHandlers } from '../../../src/generated/facefill/v1/Coordinator';
import type { RunStatus__Output } from '../../../src/generated/facefill/v1/RunStatus';
import { loadControlProto } from '../../../src/shared/control/proto';

const unimplemented = (_call: unknown, cb: (err: grpc.ServiceError) => void) =>
  cb(Object.assign(new Error('not in this test'), { code: grpc.status.UNIMPLEMENTED, details: '', metadata: new grpc.Metadata() }));

test('the proto loads with the generated types: a status round trip keeps 64-bit steps as numbers and optional fields absent', async (t) => {
  const v1 = loadControlProto();
  const handlers: CoordinatorHandlers = {
    Register: unimplemented,
    Heartbeat: unimplemented,
    ReportStep: unimplemented,
    DownloadDataset: (call) => call.destroy(new Error('not in this test')),
    UploadCheckpoint: unimplemented,
    DownloadCheckpoint: (call) => call.destroy(new Error('not in this test')),
    Shutdown: unimplemented,
    Status: (_call, cb) =>
      cb(null, {
        runId: 'run-1',
        state: 'running',
        step: 2 ** 40,
        steps: 2 ** 41,
        workers: [{ rank: 0, host: 'a', gpu: -1, backend: 'wasm', state: 'running', step: 7, heartbeatAgeSeconds: 0.5 }],
        lastReport: { runId: 'run-1', rank: 0, step: 7, gAdversarialLoss: 0.7, gL2Loss: 0.1, gGradNorm: 3, images: 16 },
      }),
  };
  const server = new grpc.Server();
  server.addService(v1.Coordinator.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new v1.Coordinator(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const status = await new Promise<RunStatus__Output>((resolve, reject) =>
      client.Status({}, { deadline: Date.now() + 5000 }, (err, reply) => (err || !reply ? reject(err) : resolve(reply))),
    );
    t.is(status.step, 2 ** 40);
    t.is(typeof status.steps, 'number');
    t.is(status.workers[0].gpu, -1);
    t.is(status.lastReport?.gL2Loss, 0.1);
    t.is(status.lastReport?.dLossReal, undefined, 'an unset optional field stays absent (L2-only runs have no D loss)');
    const err = await new Promise<grpc.ServiceError | null>((resolve) => client.Heartbeat({ runId: 'x', rank: 0, step: 1 }, (e) => resolve(e)));
    t.is(err?.code, grpc.status.UNIMPLEMENTED);
  } finally {
    client.close();
    server.forceShutdown();
  }
});
