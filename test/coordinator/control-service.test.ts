import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import type { Caller, ControlPlane, Directive, Heartbeat, RunView, StepReportIn, WatchLink, WorkerAssignment } from '../../src/coordinator/api';
import { controlServiceHandlers } from '../../src/coordinator/control-service';
import { type Registration, Rendezvous } from '../../src/coordinator/rendezvous';
import type { CoordinatorClient } from '../../src/generated/facefill/v1/Coordinator';
import type { Directive__Output } from '../../src/generated/facefill/v1/Directive';
import type { FileChunk__Output } from '../../src/generated/facefill/v1/FileChunk';
import type { RegisterReply__Output } from '../../src/generated/facefill/v1/RegisterReply';
import type { RegisterRequest } from '../../src/generated/facefill/v1/RegisterRequest';
import type { RunStatus__Output } from '../../src/generated/facefill/v1/RunStatus';
import { DEFAULT_CONFIG } from '../../src/shared/config';
import { type FilePiece, readFilePieces, writeFilePieces } from '../../src/shared/control/file-transfer';
import { loadControlProto } from '../../src/shared/control/proto';
import { toStepReport } from '../../src/shared/control/wire';
import { RunMismatchError } from '../../src/shared/errors';
import type { StepResult } from '../../src/shared/train/api';

const RUN = 'run-7';
/** The session secret the fake plane hands out (the real one checks it; this one passes it through). */
const SESSION = 'a1'.repeat(32);
/** The ring generation the fake plane trains in: calls of an earlier one hear regroup. */
const GENERATION = 3;
const dataDir = mkdtempSync(join(tmpdir(), 'facefill-control-'));
writeFileSync(join(dataDir, 'train-00000.ffs'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251)));

/** A live link the fake plane was given, and what the service reported of its end. */
interface OpenedWatch {
  caller: Caller;
  link: WatchLink;
  /** Resolves with the reason the service passed to the plane's callback. */
  lost: Promise<string>;
}

/** What the fake plane heard from the service. */
interface Heard {
  registrations: Registration[];
  beats: Heartbeat[];
  reports: StepReportIn[];
  /** Resolves with the next Watch the service opens. */
  nextWatch: () => Promise<OpenedWatch>;
}

const VIEW: RunView = {
  runId: RUN,
  state: 'running',
  generation: GENERATION,
  step: 3,
  steps: 10,
  workers: [{ rank: 0, host: 'a', gpu: -1, backend: 'wasm', device: 'cpu', state: 'running', step: 3, heartbeatAgeSeconds: 0.5 }],
  lastReport: null,
  imagesPerSecond: 12.5,
  error: '',
  latestCheckpoint: '',
  collapse: { collapsed: false, score: 0, reason: '', diversityRatio: null, events: 0 },
  probe: null,
  recoveries: [{ cause: 'worker_lost', generation: GENERATION, step: -1, lostSteps: 0, reason: 'rank 2 (c gpu 0) was lost', seconds: 0 }],
  ringEncryption: 'curve',
};

// What every call of the fake plane answers: regroup for an older generation, stop from step 10 on.
function directive(generation: number, steps: number): Directive {
  if (generation < GENERATION) return { action: 'regroup', reason: `ring generation ${GENERATION} replaces ${generation}` };
  return steps < 10 ? { action: 'continue' } : { action: 'stop', reason: 'rank 1 failed' };
}

/** A stand-in coordinator: a real rendezvous of two, and a record of what the service passed in. */
function fakePlane(o: { checkpointStep?: number | null; view?: RunView } = {}): ControlPlane & Heard {
  const rdzv = new Rendezvous(GENERATION, { max: 2, min: 2, expect: [] }, RUN);
  const registrations: Registration[] = [];
  const beats: Heartbeat[] = [];
  const reports: StepReportIn[] = [];
  const opened: OpenedWatch[] = [];
  const waiting: ((w: OpenedWatch) => void)[] = [];
  const check = (runId: string) => {
    if (runId !== RUN) throw new RunMismatchError(RUN, runId);
  };
  return {
    registrations,
    beats,
    reports,
    nextWatch: () => new Promise((resolve) => (opened.length > 0 ? resolve(opened.shift() as OpenedWatch) : waiting.push(resolve))),
    async register(r: Registration): Promise<WorkerAssignment> {
      registrations.push(r);
      const a = await rdzv.join(r);
      const dataset = { manifestSha256: 'ab'.repeat(32), files: [{ name: 'train-00000.ffs', bytes: 70_000, sha256: 'cd'.repeat(32) }] };
      const checkpointStep = o.checkpointStep === undefined ? 4 : o.checkpointStep;
      return { ...a, runId: RUN, generation: GENERATION, config: DEFAULT_CONFIG, plan: { globalBatch: 32, seed: 1, steps: 2 ** 33, dataset }, startStep: 5, checkpointStep, startupTimeoutMs: 30_000, session: SESSION };
    },
    watch(caller: Caller, link: WatchLink): (why: string) => void {
      check(caller.runId);
      let lost: (why: string) => void = () => undefined;
      const w: OpenedWatch = { caller, link, lost: new Promise((resolve) => (lost = resolve)) };
      const next = waiting.shift();
      if (next) next(w);
      else opened.push(w);
      return (why) => lost(why);
    },
    heartbeat: (beat: Heartbeat): Directive => {
      check(beat.runId);
      beats.push(beat);
      return directive(beat.generation, beat.step);
    },
    reportStep: async (r: StepReportIn): Promise<Directive> => {
      check(r.runId);
      reports.push(r);
      return directive(r.generation, r.stepsDone);
    },
    status: () => o.view ?? VIEW,
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
const who = { runId: RUN, generation: GENERATION, rank: 1, session: SESSION };

const call = <T>(fn: (cb: (err: grpc.ServiceError | null, v?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));

/** The refusal of a call: its gRPC status code and message. */
async function refusal(p: Promise<unknown>): Promise<{ code: grpc.status; message: string }> {
  const err = await p.then(
    () => null,
    (e: grpc.ServiceError) => e,
  );
  if (err === null) throw new Error('the call was not refused');
  return { code: err.code, message: err.message };
}

const request = (host: string, over: RegisterRequest = {}): RegisterRequest => ({ host, gpu: 0, backend: 'wasm', device: 'cpu', dataEndpoint: `tcp://${host}:5701`, ipcEndpoint: '', pid: 1, runId: '', committedStep: -1, ...over });

test('register completes the rendezvous and carries ranks, ring, generation, config and plan across the wire', async (t) => {
  const plane = fakePlane();
  const { client, stop } = await serve(plane);
  t.teardown(stop);
  const register = (r: RegisterRequest) => call<RegisterReply__Output>((cb) => client.Register(r, { deadline: Date.now() + 10_000 }, cb));
  const key = 'rq:A+jHM]6fH^4gTz1-3&L]0(9A*1/vB8O!p[%Ic';
  const [b, a] = await Promise.all([register(request('b', { runId: RUN, committedStep: 2 ** 40, ringPublicKey: key })), register(request('a'))]);
  t.deepEqual([a.rank, b.rank], [1, 0], 'b holds a state of the run: it leads');
  t.is(b.right?.dataEndpoint, 'tcp://a:5701');
  t.is(a.left?.host, 'b');
  t.is(a.left?.ringPublicKey, key, 'a rank learns its neighbours\' ring keys');
  t.is(a.session, SESSION);
  t.deepEqual(JSON.parse(a.configJson), DEFAULT_CONFIG);
  t.is(a.shardPlan?.steps, 2 ** 33, '64-bit step counts survive');
  t.is(a.shardPlan?.globalBatch, 32);
  t.deepEqual([a.generation, a.startStep, a.checkpointStep, a.startupTimeoutMs], [GENERATION, 5, 4, 30_000]);
  const heard = plane.registrations.find((r) => r.host === 'b');
  t.deepEqual(heard, { host: 'b', gpu: 0, backend: 'wasm', device: 'cpu', dataEndpoint: 'tcp://b:5701', ipcEndpoint: '', pid: 1, runId: RUN, committedStep: 2 ** 40, ringPublicKey: key });
});

test('a ring that loads no merged checkpoint says 0 on the wire', async (t) => {
  const { client, stop } = await serve(fakePlane({ checkpointStep: null }));
  t.teardown(stop);
  const register = (r: RegisterRequest) => call<RegisterReply__Output>((cb) => client.Register(r, { deadline: Date.now() + 10_000 }, cb));
  const [a] = await Promise.all([register(request('a')), register(request('b'))]);
  t.is(a.checkpointStep, 0);
});

test('bad registrations are refused as invalid arguments naming the field', async (t) => {
  const plane = fakePlane();
  const { client, stop } = await serve(plane);
  t.teardown(stop);
  const register = (r: RegisterRequest) => refusal(call((cb) => client.Register(r, cb)));
  const cases: [RegisterRequest, RegExp][] = [
    [request('a', { dataEndpoint: 'http://a' }), /data endpoint 'http:\/\/a'/],
    [request(''), /host is empty/],
    [request('a', { gpu: -2 }), /gpu -2/],
    [request('a', { ipcEndpoint: 'tcp://a:1' }), /ipc endpoint 'tcp:\/\/a:1'/],
    [request('a', { committedStep: -2 }), /committed step -2/],
    // Bounded at the edge: a host name is not 60 MB, and carries nothing a log line could be forged with.
    [request('h'.repeat(254)), /host is 254 characters long; at most 253/],
    [request('a\nfake log line'), /host is not a host name or address/],
    [request('a', { dataEndpoint: `tcp://a:${'1'.repeat(2000)}` }), /data endpoint is 2\d+ characters long; at most 1024/],
    [request('a', { backend: 'x'.repeat(100) }), /backend is 100 characters long/],
    // Backend and device become metric labels: only the values a worker can have, quoted.
    [request('a', { backend: 'tensorflow-tpu' }), /backend "tensorflow-tpu" is not one of tensorflow-gpu, tensorflow, wasm, cpu/],
    [request('a', { device: 'tpu' }), /device "tpu" is not one of gpu, cpu/],
    [request('a', { device: '' }), /device "" is not one of gpu, cpu/],
    [request('a', { device: 'gpu\nfake log line' }), /device "gpu\\nfake log line" is not/],
    [request('a', { device: 'g'.repeat(100) }), /device is 100 characters long/],
    [request('a', { ringPublicKey: 'not a key' }), /ring public key is not a Z85 CURVE public key/],
  ];
  for (const [r, message] of cases) {
    const { code, message: said } = await register(r);
    t.is(code, grpc.status.INVALID_ARGUMENT);
    t.regex(said, message);
  }
  t.deepEqual(plane.registrations, [], 'none reached the coordinator');
});

test('heartbeats carry generation, step and state; the directive comes back as continue, stop or regroup', async (t) => {
  const plane = fakePlane();
  const { client, stop } = await serve(plane);
  t.teardown(stop);
  const beat = (over: object) => call<Directive__Output>((cb) => client.Heartbeat({ ...who, step: 1, ...over }, cb));
  t.deepEqual(await beat({}), { action: 'CONTINUE', reason: '' });
  t.deepEqual(await beat({ step: 10 }), { action: 'STOP', reason: 'rank 1 failed' });
  t.deepEqual(await beat({ generation: GENERATION - 1 }), { action: 'REGROUP', reason: `ring generation ${GENERATION} replaces ${GENERATION - 1}` });
  await beat({ step: 7, condition: 'FAILED', error: 'CUDA out of memory' });
  t.deepEqual(
    plane.beats.map((b) => [b.generation, b.step, b.condition, b.error]),
    [
      [GENERATION, 1, 'running', ''],
      [GENERATION, 10, 'running', ''],
      [GENERATION - 1, 1, 'running', ''],
      [GENERATION, 7, 'failed', 'CUDA out of memory'],
    ],
    'an unset condition is running',
  );
  const odd = await refusal(beat({ condition: 7 }));
  t.is(odd.code, grpc.status.INVALID_ARGUMENT);
  t.regex(odd.message, /condition 7 is not one of RUNNING, FINISHED, FAILED/);
  const stale = await refusal(beat({ runId: 'run-6' }));
  t.is(stale.code, grpc.status.FAILED_PRECONDITION);
  t.regex(stale.message, /run 'run-6'.*'run-7'/);
  t.is(plane.beats.length, 4, 'refused beats never reached the coordinator');
});

test('a step report hears the same directives; a bug of the coordinator is INTERNAL, never the caller\'s fault', async (t) => {
  const { client, stop } = await serve(fakePlane());
  t.teardown(stop);
  const report = (generation: number, stepsDone: number) =>
    call<Directive__Output>((cb) => client.ReportStep(toStepReport({ ...who, generation, stepsDone, kind: 'progress', result: { ...RESULT, step: stepsDone - 1 }, images: 4, probe: null }), cb));
  t.deepEqual(await report(GENERATION, 10), { action: 'STOP', reason: 'rank 1 failed' });
  t.deepEqual(await report(GENERATION - 2, 5), { action: 'REGROUP', reason: `ring generation ${GENERATION} replaces ${GENERATION - 2}` });
  const bug = await refusal(call((cb) => client.Shutdown({ reason: 'x' }, cb)));
  t.is(bug.code, grpc.status.INTERNAL);
});

test('progress keeps absent D statistics absent (L2-only runs) and present ones exact; digests arrive as their kind', async (t) => {
  const plane = fakePlane();
  const { client, stop } = await serve(plane);
  t.teardown(stop);
  const send = (r: StepReportIn) => call((cb) => client.ReportStep(toStepReport(r), cb));
  const l2Only = RESULT;
  const gan: StepResult = { ...l2Only, step: 5, dLossReal: 0.6, dLossFake: 0.7, gAdversarialLoss: 0.8, dScoreReal: 0.55, dScoreFake: 0.45, dGradNorm: 2, skipped: 'D gradient' };
  const probe = { diversityRatio: 0.4, holePsnrDb: 21.5, ssim: 0.7 };
  const sent: StepReportIn[] = [
    { ...who, stepsDone: 5, kind: 'progress', result: l2Only, images: 16, probe: null },
    { ...who, stepsDone: 6, kind: 'progress', result: gan, images: 16, probe },
    { ...who, stepsDone: 6, kind: 'checkpoint', sha256: 'e'.repeat(64) },
    { ...who, stepsDone: 5, kind: 'sync', sha256: 'f'.repeat(64) },
  ];
  for (const r of sent) await send(r);
  t.deepEqual(plane.reports, sent);
});

test('a step report of no kind is refused, naming the rank', async (t) => {
  const plane = fakePlane();
  const { client, stop } = await serve(plane);
  t.teardown(stop);
  const { code, message } = await refusal(call((cb) => client.ReportStep({ ...who, stepsDone: 3 }, cb)));
  t.is(code, grpc.status.INVALID_ARGUMENT);
  t.regex(message, /rank 1's step report carries neither progress, nor a checkpoint digest, nor a sync digest/);
  t.deepEqual(plane.reports, []);
});

test('status carries the generation, the recoveries and the last report across the wire', async (t) => {
  const lastReport = { ...RESULT, dLossReal: 0.5, rank: 0, images: 16 };
  const view: RunView = { ...VIEW, lastReport, probe: { diversityRatio: 0.3, holePsnrDb: 20, ssim: 0.6 } };
  const { client, stop } = await serve(fakePlane({ view }));
  t.teardown(stop);
  const status = await call<RunStatus__Output>((cb) => client.Status({}, cb));
  t.is(status.generation, GENERATION);
  t.deepEqual(status.recoveries, view.recoveries, 'a forming ring\'s step -1 survives');
  t.is(status.lastReportStep, RESULT.step + 1);
  t.is(status.lastReport?.dLossReal, 0.5);
  t.is(status.lastReport?.dLossFake, undefined);
  t.is(status.collapse?.diversityRatio, undefined, 'no probe yet: absent');
  t.deepEqual(status.probe, view.probe);
  t.deepEqual(status.workers.map((w) => [w.rank, w.backend, w.device]), [[0, 'wasm', 'cpu']]);
});

test('a worker of another backend or device than its ring\'s is refused as a failed precondition naming it; the ring forms without it', async (t) => {
  const plane = fakePlane();
  const { client, stop } = await serve(plane);
  t.teardown(stop);
  const register = (r: RegisterRequest) => call<RegisterReply__Output>((cb) => client.Register(r, { deadline: Date.now() + 10_000 }, cb));
  const gpu = { backend: 'tensorflow-gpu', device: 'gpu' };
  const first = register(request('a', gpu));
  const odd = await refusal(register(request('b', { pid: 2 })));
  t.is(odd.code, grpc.status.FAILED_PRECONDITION);
  t.regex(odd.message, /b gpu 0 pid 2 computes with wasm on cpu, but ring generation 3 computes with tensorflow-gpu on gpu .*cluster\.allowMixedBackends/);
  const [a, c] = await Promise.all([first, register(request('c', { ...gpu, pid: 3 }))]);
  t.deepEqual([a.worldSize, c.worldSize, c.peers.map((p) => p.host)], [2, 2, ['a', 'c']]);
});

test('Watch streams the directives the coordinator pushes; the worker\'s disconnect reaches the coordinator', async (t) => {
  const plane = fakePlane();
  const { client, stop } = await serve(plane);
  t.teardown(stop);
  const stream = client.Watch({ ...who, rank: 0 });
  const received: Directive__Output[] = [];
  const first = new Promise<void>((resolve) =>
    stream.on('data', (d: Directive__Output) => {
      received.push(d);
      resolve();
    }),
  );
  const cancelled = new Promise<void>((resolve) => stream.on('error', () => resolve()));
  const opened = await plane.nextWatch();
  t.deepEqual(opened.caller, { ...who, rank: 0 });
  opened.link.push({ action: 'regroup', reason: 'rank 2 was lost' });
  await first;
  t.deepEqual(received, [{ action: 'REGROUP', reason: 'rank 2 was lost' }]);
  stream.cancel();
  t.is(await opened.lost, 'the call was cancelled');
  await cancelled;
});

test('Watch ends cleanly when the coordinator ends the link after a final directive', async (t) => {
  const plane = fakePlane();
  const { client, stop } = await serve(plane);
  t.teardown(stop);
  const stream = client.Watch(who);
  const received: Directive__Output[] = [];
  stream.on('data', (d: Directive__Output) => received.push(d));
  const ended = new Promise<string>((resolve) => {
    stream.on('end', () => resolve('end'));
    stream.on('error', (err: Error) => resolve(`error: ${err.message}`));
  });
  const opened = await plane.nextWatch();
  opened.link.push({ action: 'stop', reason: 'the run failed' });
  opened.link.end();
  opened.link.push({ action: 'regroup', reason: 'too late: the link has ended' });
  t.is(await ended, 'end');
  t.deepEqual(received, [{ action: 'STOP', reason: 'the run failed' }], 'nothing goes down an ended link');
});

test('a Watch for another run is refused with its status', async (t) => {
  const plane = fakePlane();
  const { client, stop } = await serve(plane);
  t.teardown(stop);
  const stream = client.Watch({ ...who, runId: 'run-6' });
  const err = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
  t.is(err.code, grpc.status.FAILED_PRECONDITION);
  t.regex(err.message, /run 'run-6'.*'run-7'/);
});

test('a dataset file streams to a worker and verifies; a missing one is NOT_FOUND', async (t) => {
  const { client, stop } = await serve(fakePlane());
  t.teardown(stop);
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
});
