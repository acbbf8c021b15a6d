import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import type { RunStatus__Output } from '../../src/generated/facefill/v1/RunStatus';
import { COORDINATOR_SERVER_NAME } from '../../src/shared/security/certificates';
import { newRunToken } from '../../src/shared/security/run-token';
import { call, type Claim, everyRpc, joinBoth, outcome, type SecurePlane, startSecurePlane } from './_secure-plane';

// The attacks of the security review, against the real coordinator behind its real TLS server.

test.before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const status = (plane: SecurePlane) => call<RunStatus__Output>((cb) => plane.client().Status({}, { deadline: Date.now() + 5_000 }, cb));
// What an attack must not change: the run's phase, ring, members and recoveries.
const runState = (s: RunStatus__Output) => JSON.stringify({ state: s.state, generation: s.generation, workers: s.workers.map((w) => [w.rank, w.host, w.state]), recoveries: s.recoveries, error: s.error });

test('every RPC without TLS, with TLS but no token, or with a wrong token is refused before it reaches the coordinator; the run is unchanged', async (t) => {
  const plane = await startSecurePlane();
  t.teardown(() => plane.close());
  const before = runState(await status(plane));
  const { runId } = await status(plane);
  const claim: Claim = { runId, generation: 0, rank: 0, session: 'ab'.repeat(32) };
  const { ca } = plane.credentials;
  const callers = {
    plaintext: { client: plane.client({ kind: 'insecure' }), code: grpc.status.UNAVAILABLE },
    'TLS, no token': { client: plane.client('tls-without-token'), code: grpc.status.UNAUTHENTICATED },
    'TLS, wrong token': { client: plane.client({ kind: 'tls', caPem: ca.certPem, serverName: COORDINATOR_SERVER_NAME, token: newRunToken() }), code: grpc.status.UNAUTHENTICATED },
  };
  for (const [who, { client, code }] of Object.entries(callers)) {
    const outcomes = everyRpc(client, claim);
    t.is(Object.keys(outcomes).length, 9, 'every RPC of the service');
    for (const [rpc, attempt] of Object.entries(outcomes)) {
      const o = await attempt();
      t.is(o.code, code, `${who}: ${rpc} answered ${grpc.status[o.code]} (${o.details})`);
    }
  }
  t.is(runState(await status(plane)), before);
  t.is((await status(plane)).state, 'rendezvous', 'no phantom rank joined, and no Shutdown went through');
  const warned = plane.logged.filter((l) => /refused \d+ call\(s\) without the run token/.test(l));
  t.is(warned.length, 1, 'the refusals are told to the operator, once per 10 s');
});

test('a caller with the token but another rank\'s session (or none) cannot speak for a rank: PERMISSION_DENIED, and the run is unchanged', async (t) => {
  const plane = await startSecurePlane();
  t.teardown(() => plane.close());
  const client = plane.client();
  const [r0, r1] = await joinBoth(client);
  t.not(r0.session, r1.session);
  const before = runState(await status(plane));
  t.is((await status(plane)).state, 'running');
  for (const [rank, session] of [
    [0, r1.session],
    [1, r0.session],
    [1, ''],
    [0, 'f'.repeat(64)],
  ] as const) {
    const outcomes = everyRpc(client, { runId: r0.runId, generation: Number(r0.generation), rank, session });
    // The calls a worker makes for its rank; the others answer by the token alone.
    for (const rpc of ['Watch', 'Heartbeat', 'ReportStep', 'UploadCheckpoint']) {
      const o = await outcomes[rpc]();
      t.is(o.code, grpc.status.PERMISSION_DENIED, `${rpc} for rank ${rank}: ${grpc.status[o.code]} (${o.details})`);
    }
  }
  t.is(runState(await status(plane)), before);
  // The rank's own secret is accepted.
  const own = await outcome(call((cb) => client.Heartbeat({ runId: r1.runId, generation: r1.generation, rank: 1, session: r1.session, step: 0, condition: 'RUNNING', error: '' }, { deadline: Date.now() + 5_000 }, cb)));
  t.is(own.code, grpc.status.OK);
});

test('a second Register with an endpoint already taken is refused by name, and the run does not fail', async (t) => {
  const plane = await startSecurePlane();
  t.teardown(() => plane.close());
  const client = plane.client();
  const first = call((cb) => client.Register({ host: 'member', gpu: -1, backend: 'cpu', device: 'cpu', dataEndpoint: 'tcp://member:7000', ipcEndpoint: '', pid: 1, runId: '', committedStep: -1, ringPublicKey: 'rq:A+jHM]6fH^4gTz1-3&L]0(9A*1/vB8O!p[%Ic' }, { deadline: Date.now() + 10_000 }, cb));
  first.catch(() => undefined);
  await new Promise((r) => setTimeout(r, 200));
  const dup = await outcome(call((cb) => client.Register({ host: 'other', gpu: -1, backend: 'cpu', device: 'cpu', dataEndpoint: 'tcp://member:7000', ipcEndpoint: '', pid: 2, runId: '', committedStep: -1, ringPublicKey: 'rq:A+jHM]6fH^4gTz1-3&L]0(9A*1/vB8O!p[%Ic' }, { deadline: Date.now() + 5_000 }, cb)));
  t.is(dup.code, grpc.status.FAILED_PRECONDITION);
  t.regex(dup.details, /tcp:\/\/member:7000.*has already joined/);
  t.is((await status(plane)).state, 'rendezvous', 'the run waits on');
});

test('the run token appears in no log line, run.json, Status, metric or refusal', async (t) => {
  const plane = await startSecurePlane();
  t.teardown(() => plane.close());
  const { token } = plane.credentials;
  const client = plane.client();
  const [r0] = await joinBoth(client);
  const refusals = await Promise.all(Object.values(everyRpc(plane.client('tls-without-token'), { runId: r0.runId, generation: 0, rank: 0, session: r0.session })).map((a) => a()));
  const forging = everyRpc(client, { runId: r0.runId, generation: 0, rank: 1, session: r0.session });
  const forged = await Promise.all(['Watch', 'Heartbeat', 'ReportStep', 'UploadCheckpoint'].map((rpc) => forging[rpc]()));
  const texts = {
    logs: plane.logged.join('\n'),
    'run.json': plane.runJson(),
    status: JSON.stringify(await status(plane)),
    metrics: await plane.metricsText(),
    refusals: JSON.stringify([...refusals, ...forged]),
  };
  t.true(texts.logs.length > 0 && texts.metrics.length > 0 && texts['run.json'].length > 0);
  for (const [where, text] of Object.entries(texts)) {
    t.false(text.includes(token), `the token is in the ${where}`);
    t.false(text.includes(r0.session), `rank 0's session secret is in the ${where}`);
  }
  t.false(texts.status.includes(plane.outDir), 'Status names no absolute server path');
});
