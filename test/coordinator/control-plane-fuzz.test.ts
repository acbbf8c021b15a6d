import * as grpc from '@grpc/grpc-js';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import fc from 'fast-check';
import type { HeartbeatRequest } from '../../src/generated/facefill/v1/HeartbeatRequest';
import type { RegisterRequest } from '../../src/generated/facefill/v1/RegisterRequest';
import type { RunStatus__Output } from '../../src/generated/facefill/v1/RunStatus';
import type { StepReport } from '../../src/generated/facefill/v1/StepReport';
import { clientCredentials } from '../../src/shared/control/channel-security';
import { COORDINATOR_SERVER_NAME } from '../../src/shared/security/certificates';
import { call, joinBoth, outcome, type SecurePlane, startSecurePlane } from './_secure-plane';

// Random and mutated messages to every unary RPC of the real coordinator, with the run token
// (an outsider without it never gets this far): none may crash it, grow its memory without
// bound, change the run, or be answered INTERNAL, which would mean a bug reported as the caller's fault.

test.before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const status = (plane: SecurePlane) => call<RunStatus__Output>((cb) => plane.client().Status({}, { deadline: Date.now() + 5_000 }, cb));
const runState = (s: RunStatus__Output) => JSON.stringify({ state: s.state, generation: s.generation, workers: s.workers.map((w) => [w.rank, w.host, w.state]), recoveries: s.recoveries, error: s.error });
const deadline = () => ({ deadline: Date.now() + 5_000 });

// Text of any length up to 5,000 code points, sometimes huge, sometimes with control characters.
const text = fc.oneof(fc.string({ maxLength: 64 }), fc.string({ unit: 'binary', maxLength: 5_000 }), fc.constantFrom('', 'member', '\n', 'x'.repeat(70_000)));
const int = fc.oneof(fc.integer(), fc.constantFrom(-1, 0, 1, 2 ** 31 - 1, -(2 ** 31)));
const long = fc.oneof(fc.integer(), fc.constantFrom(-1, 0, 2 ** 53 - 1, -(2 ** 53)));
const double = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Infinity, -Infinity, 1e308));

const registerRequest = fc.record<RegisterRequest>({ host: text, gpu: int, backend: fc.oneof(text, fc.constantFrom('wasm', 'tensorflow-gpu')), device: fc.oneof(text, fc.constantFrom('gpu', 'cpu')), dataEndpoint: text, pid: int, ipcEndpoint: text, runId: text, committedStep: long, ringPublicKey: text });
const heartbeat = fc.record<HeartbeatRequest>({ runId: text, generation: long, rank: int, step: long, condition: fc.constantFrom('RUNNING', 'FINISHED', 'FAILED', 'LEFT'), error: text, silentPeer: int, session: text });
const stepReport = fc.oneof(
  fc.record<StepReport>({ runId: text, generation: long, rank: int, stepsDone: long, session: text, checkpoint: fc.record({ sha256: text }) }),
  fc.record<StepReport>({ runId: text, generation: long, rank: int, stepsDone: long, session: text, sync: fc.record({ sha256: text }) }),
  fc.record<StepReport>({
    runId: text,
    generation: long,
    rank: int,
    stepsDone: long,
    session: text,
    progress: fc.record({ gL2Loss: double, gLoss: double, gGradNorm: double, images: int, dLossReal: double, skipped: text, probe: fc.record({ diversityRatio: double, holePsnrDb: double, ssim: double }) }),
  }),
);

test('a few thousand random well-typed messages to every unary RPC: no crash, no INTERNAL, bounded memory, the run unchanged', async (t) => {
  const plane = await startSecurePlane();
  t.teardown(() => plane.close());
  const client = plane.client();
  const [r0] = await joinBoth(client);
  const before = runState(await status(plane));
  const rss = process.memoryUsage().rss;
  const codes = new Map<string, number>();
  const seen = (o: { code: grpc.status; details: string }, rpc: string) => {
    codes.set(`${rpc} ${grpc.status[o.code]}`, (codes.get(`${rpc} ${grpc.status[o.code]}`) ?? 0) + 1);
    if (o.code === grpc.status.INTERNAL) throw new Error(`${rpc} answered INTERNAL: ${o.details}`);
  };
  // Forged calls keep the run id (else they stop at the run check) but never hold a rank's secret.
  const ofRun = (runId: string) => fc.oneof(fc.constant(r0.runId), fc.constant(runId));
  await fc.assert(
    fc.asyncProperty(registerRequest, async (r) => seen(await outcome(call((cb) => client.Register({ ...r, host: r.host === 'member' ? 'memb3r' : r.host }, deadline(), cb))), 'Register')),
    { numRuns: 600 },
  );
  await fc.assert(
    fc.asyncProperty(heartbeat.chain((h) => ofRun(h.runId ?? '').map((runId) => ({ ...h, runId }))), async (h) => seen(await outcome(call((cb) => client.Heartbeat(h, deadline(), cb))), 'Heartbeat')),
    { numRuns: 1_000 },
  );
  await fc.assert(
    fc.asyncProperty(stepReport.chain((r) => ofRun(r.runId ?? '').map((runId) => ({ ...r, runId }))), async (r) => seen(await outcome(call((cb) => client.ReportStep(r, deadline(), cb))), 'ReportStep')),
    { numRuns: 1_000 },
  );
  await fc.assert(
    fc.asyncProperty(text, text, long, async (runId, name, step) => {
      seen(await outcome(drain(client.DownloadDataset({ runId, name }, deadline()))), 'DownloadDataset');
      seen(await outcome(drain(client.DownloadCheckpoint({ step }, deadline()))), 'DownloadCheckpoint');
    }),
    { numRuns: 300 },
  );
  t.log([...codes].map(([k, n]) => `${k}: ${n}`).join(', '));
  t.is(runState(await status(plane)), before, 'the run is as it was');
  const grown = (process.memoryUsage().rss - rss) / 2 ** 20;
  t.true(grown < 300, `memory grew by ${grown.toFixed(0)} MiB`);
});

test('random bytes and mutated encodings as the body of every unary RPC: answered with an error, the coordinator serves on and the run is unchanged', async (t) => {
  const plane = await startSecurePlane();
  t.teardown(() => plane.close());
  const [r0] = await joinBoth(plane.client());
  const before = runState(await status(plane));
  // A client that sends whatever bytes it is given as the request.
  const { ca, token } = plane.credentials;
  const made = clientCredentials({ kind: 'tls', caPem: ca.certPem, serverName: COORDINATOR_SERVER_NAME, token });
  const Raw = grpc.makeGenericClientConstructor({}, 'raw');
  const raw = new Raw(plane.address, made.credentials, made.options);
  t.teardown(() => raw.close());
  const send = (method: string, body: Buffer) =>
    outcome(
      new Promise((resolve, reject) =>
        raw.makeUnaryRequest(
          `/facefill.v1.Coordinator/${method}`,
          (b: Buffer) => b,
          (b: Buffer) => b,
          body,
          new grpc.Metadata(),
          deadline(),
          (err, v) => (err ? reject(err) : resolve(v)),
        ),
      ),
    );
  // A valid heartbeat's encoding, to mutate.
  const valid = Buffer.from([0x0a, r0.runId.length, ...Buffer.from(r0.runId), 0x10, 0x00, 0x18, 0x01, 0x20, 0x05]);
  const mutated = fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => Buffer.from(valid.map((b, i) => (i === at ? byte : b))));
  const body = fc.oneof(fc.uint8Array({ maxLength: 2_000 }).map((a) => Buffer.from(a)), mutated);
  const codes = new Map<string, number>();
  const internal = new Set<string>();
  await fc.assert(
    // Not Shutdown: almost any bytes decode as a ShutdownRequest, which a token holder may send.
    fc.asyncProperty(fc.constantFrom('Register', 'Heartbeat', 'ReportStep', 'Status'), body, async (method, bytes) => {
      const o = await send(method, bytes);
      if (o.code === grpc.status.INTERNAL) internal.add(o.details);
      codes.set(grpc.status[o.code], (codes.get(grpc.status[o.code]) ?? 0) + 1);
    }),
    { numRuns: 1_500 },
  );
  t.log([...codes].map(([k, n]) => `${k}: ${n}`).join(', '));
  // grpc-js answers bytes that do not decode as the request message INTERNAL before any handler runs; nothing else may.
  t.deepEqual([...internal].filter((d) => d !== 'Error deserializing request'), []);
  const after = await status(plane);
  t.not(after.state, 'failed', after.error);
  t.is(runState(after), before, 'the run is as it was');
});

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const piece of stream) void piece;
}
