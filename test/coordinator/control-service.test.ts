import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import type { ControlPlane, Directive, WorkerAssignment } from '../../src/coordinator/api';
import { controlServiceHandlers } from '../../src/coordinator/control-service';
import { toStepReport } from '../../src/shared/control/wire';
import { Rendezvous, type Registration } from '../../src/coordinator/rendezvous';
import type { CoordinatorClient } from '../../src/generated/facefill/v1/Coordinator';
import type { FileChunk__Output } from '../../src/generated/facefill/v1/FileChunk';
import type { RegisterReply__Output } from '../../src/generated/facefill/v1/RegisterReply';
import { DEFAULT_CONFIG } from '../../src/shared/config';
import { type FilePiece, readFilePieces, writeFilePieces } from '../../src/shared/control/file-transfer';
import { loadControlProto } from '../../src/shared/control/proto';
import { RunMismatchError } from '../../src/shared/errors';
import type { StepResult } from '../../src/shared/train/api';

const RUN = 'run-7';
const dataDir = mkdtempSync(join(tmpdir(), 'facefill-control-'));
writeFileSync(join(dataDir, 'train-00000.ffs'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251)));

// A stand-in coordinator: a real rendezvous of two, and a record of what the service passed in.
function fakePlane(): ControlPlane & { reports: { rank: number; result: StepResult; images: number }[] } {
  const rdzv = new Rendezvous(2, 5000);
  const reports: { rank: number; result: StepResult; images: number }[] = [];
  const check = (runId: string) => {
    if (runId !== RUN) throw new RunMismatchError(RUN, runId);
  };
  return {
    reports,
    async register(r: Registration): Promise<WorkerAssignment> {
      const a = await rdzv.join(r);
      const dataset = { manifestSha256: 'ab'.repeat(32), files: [{ name: 'train-00000.ffs', bytes: 70_000, sha256: 'cd'.repeat(32) }] };
      return { ...a, runId: RUN, config: DEFAULT_CONFIG, plan: { globalBatch: 32, perRankBatch: 16, seed: 1, steps: 2 ** 33, dataset }, startStep: 5 };
    },
    heartbeat: ({ runId, step }): Directive => (check(runId), step < 10 ? { action: 'continue' } : { action: 'stop', reason: 'rank 1 failed' }),
    reportStep: async ({ runId, rank, result, images }): Promise<Directive> => {
      check(runId);
      reports.push({ rank, result, images });
      return result.step < 10 ? { action: 'continue' } : { action: 'stop', reason: 'rank 1 failed' };
    },
    status: () => ({ runId: RUN, state: 'running', step: 3, steps: 10, workers: [], lastReport: null, imagesPerSecond: 12.5, error: '', latestCheckpoint: '', collapse: { collapsed: false, score: 0, reason: '', diversityRatio: null, events: 0 }, probe: null }),
    datasetPieces: (runId: string, name: string): AsyncIterable<FilePiece> => (check(runId), readFilePieces(dataDir, name, 16_384)),
    uploadCheckpoint: () => Promise.reject(new Error('not in this test')),
    checkpointPieces: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('not in this test')) }) }),
    // A bug of the coordinator's own (an error of no family): the caller is not at fault.
    shutdown: () => {
      throw new RangeError('index 3 is outside 0..2');
    },
  };
}

async function serve(plane: ControlPlane): Promise<{ client: CoordinatorClient; stop: () => void }> {
  const v1 = loadControlProto();
  const server = new grpc.Server();
  server.addService(v1.Coordinator.service, controlServiceHandlers(plane));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new v1.Coordinator(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return { client, stop: () => (client.close(), server.forceShutdown()) };
}

const seconds = { data: 0.01, dCompute: 0.2, dReduce: 0.03, gCompute: 0.3, gReduce: 0.04, apply: 0.01, total: 0.6 };
// An L2-only step's result (no D statistics).
const RESULT: StepResult = { step: 4, dLossReal: null, dLossFake: null, gAdversarialLoss: null, gL2Loss: 0.25, gLoss: 25, dScoreReal: null, dScoreFake: null, gGradNorm: 1.5, dGradNorm: null, skipped: null, seconds };

const call = <T>(fn: (cb: (err: grpc.ServiceError | null, v?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));

test('register completes the rendezvous and carries ranks, ring, config and plan across the wire', async (t) => {
  const { client, stop } = await serve(fakePlane());
  try {
    const reg = (host: string) => ({ host, gpu: 0, backend: 'wasm', dataEndpoint: `tcp://${host}:5701`, ipcEndpoint: '', pid: 1 });
    const register = (host: string) => call<RegisterReply__Output>((cb) => client.Register(reg(host), { deadline: Date.now() + 10_000 }, cb));
    const [b, a] = await Promise.all([register('b'), register('a')]);
    t.deepEqual([a.rank, b.rank], [0, 1]);
    t.is(a.right?.dataEndpoint, 'tcp://b:5701');
    t.is(b.left?.host, 'a');
    t.deepEqual(JSON.parse(a.configJson), DEFAULT_CONFIG);
    t.is(a.shardPlan?.steps, 2 ** 33, '64-bit step counts survive');
    t.is(a.startStep, 5);
  } finally {
    stop();
  }
});

test('bad registrations and calls for another run are refused with telling status codes', async (t) => {
  const { client, stop } = await serve(fakePlane());
  try {
    const bad = await t.throwsAsync(call((cb) => client.Register({ host: 'a', gpu: 0, backend: 'wasm', dataEndpoint: 'http://a', pid: 1 }, cb)));
    t.is((bad as grpc.ServiceError).code, grpc.status.INVALID_ARGUMENT);
    t.regex(bad.message, /data endpoint 'http:\/\/a'/);
    const stale = await t.throwsAsync(call((cb) => client.Heartbeat({ runId: 'run-6', rank: 0, step: 1 }, cb)));
    t.is((stale as grpc.ServiceError).code, grpc.status.FAILED_PRECONDITION);
    t.regex(stale.message, /run 'run-6'.*'run-7'/);
    const stop10 = await call<{ action: string; reason: string }>((cb) => client.Heartbeat({ runId: RUN, rank: 0, step: 10 }, cb));
    t.deepEqual(stop10, { action: 'STOP', reason: 'rank 1 failed' });
    // A step report hears the same stop, with the same reason.
    const report = toStepReport({ runId: RUN, rank: 0, result: { ...RESULT, step: 10 }, images: 4, weightsSha256: '', probe: null });
    const ack = await call<{ action: string; reason: string }>((cb) => client.ReportStep(report, cb));
    t.deepEqual(ack, { action: 'STOP', reason: 'rank 1 failed' });
    const bug = await t.throwsAsync(call((cb) => client.Shutdown({ reason: 'x' }, cb)));
    t.is((bug as grpc.ServiceError).code, grpc.status.INTERNAL, 'a bug is never reported as a client error');
  } finally {
    stop();
  }
});

test('step reports keep absent D statistics absent (L2-only runs) and present ones exact', async (t) => {
  const plane = fakePlane();
  const { client, stop } = await serve(plane);
  try {
    const l2Only = RESULT;
    const gan: StepResult = { ...l2Only, step: 5, dLossReal: 0.6, dLossFake: 0.7, gAdversarialLoss: 0.8, dScoreReal: 0.55, dScoreFake: 0.45, dGradNorm: 2 };
    for (const r of [l2Only, gan]) await call((cb) => client.ReportStep(toStepReport({ runId: RUN, rank: 1, result: r, images: 16, weightsSha256: '', probe: null }), cb));
    t.deepEqual(plane.reports, [
      { rank: 1, result: l2Only, images: 16 },
      { rank: 1, result: gan, images: 16 },
    ]);
  } finally {
    stop();
  }
});

test('a dataset file streams to a worker and verifies; a missing one is NOT_FOUND', async (t) => {
  const { client, stop } = await serve(fakePlane());
  try {
    const dst = mkdtempSync(join(tmpdir(), 'facefill-worker-'));
    const stream = client.DownloadDataset({ runId: RUN, name: 'train-00000.ffs' }, { deadline: Date.now() + 10_000 });
    async function* pieces(): AsyncGenerator<FilePiece> {
      for await (const c of stream as AsyncIterable<FileChunk__Output>) yield { ...c, data: Buffer.from(c.data) };
    }
    const [file] = await writeFilePieces(dst, pieces());
    t.is(file.bytes, 70_000);
    t.deepEqual(readFileSync(join(dst, 'train-00000.ffs')), readFileSync(join(dataDir, 'train-00000.ffs')));
    const missing = client.DownloadDataset({ runId: RUN, name: 'nope.ffs' }, { deadline: Date.now() + 10_000 });
    const err = await t.throwsAsync(async () => {
      for await (const _ of missing) void _;
    });
    t.is((err as grpc.ServiceError).code, grpc.status.NOT_FOUND);
  } finally {
    stop();
  }
});
