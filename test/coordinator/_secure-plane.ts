import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { Coordinator } from '../../src/coordinator/coordinator';
import { planDataset } from '../../src/coordinator/dataset-plan';
import { startControlServer } from '../../src/coordinator/server';
import type { CoordinatorClient } from '../../src/generated/facefill/v1/Coordinator';
import type { RegisterReply__Output } from '../../src/generated/facefill/v1/RegisterReply';
import type { RegisterRequest } from '../../src/generated/facefill/v1/RegisterRequest';
import type { RunStatus__Output } from '../../src/generated/facefill/v1/RunStatus';
import { type ClientSecurity, clientCredentials } from '../../src/shared/control/channel-security';
import { loadControlProto } from '../../src/shared/control/proto';
import { ingest } from '../../src/shared/data/ingest';
import { SyntheticSource } from '../../src/shared/data/synthetic-source';
import { createRegistry } from '../../src/shared/metrics/registry';
import { registerRunMetrics } from '../../src/shared/metrics/run-metrics';
import { COORDINATOR_SERVER_NAME } from '../../src/shared/security/certificates';
import { sealKey } from '../../src/shared/security/checkpoint-seal';
import { type CoordinatorCredentials, createCredentials } from '../../src/shared/security/credentials-store';
import { tinyConfig } from '../shared/train/_tiny';

/** A real coordinator behind the real TLS server, with what it logged and a way to call it as anyone. */
export interface SecurePlane {
  address: string;
  credentials: CoordinatorCredentials;
  coordinator: Coordinator;
  outDir: string;
  /** Every line the coordinator logged. */
  logged: string[];
  /** The coordinator's metrics as Prometheus scrapes them. */
  metricsText: () => Promise<string>;
  /** A client holding `security` (by default the run's token, pinned to its CA). */
  client: (security?: ClientSecurity | 'tls-without-token') => CoordinatorClient;
  /** Run.json as written. */
  runJson: () => string;
  close: () => Promise<void>;
}

/** Starts a coordinator of a two-worker run on 127.0.0.1, secure as by default. */
export async function startSecurePlane(): Promise<SecurePlane> {
  const root = mkdtempSync(join(tmpdir(), 'facefill-secure-'));
  const data = join(root, 'data');
  await ingest({ source: new SyntheticSource(24, 3), out: data, size: 16 });
  const credentials = await createCredentials(join(root, 'credentials'), { hosts: ['127.0.0.1'] });
  const logged: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logged.push(line) });
  const outDir = join(root, 'run');
  // The registered workers never heartbeat: only the attacks under test may change the run, not
  // a liveness verdict on a slow machine (a fuzz test takes a minute under load).
  const config = tinyConfig({ data: { batchSize: 4 }, train: { steps: 4, checkpointEvery: 2 }, cluster: { heartbeatSeconds: 0.5, heartbeatTimeoutSeconds: 3_600 } });
  const coordinator = new Coordinator({ config, datasetDir: data, dataset: await planDataset(data), worldSize: 2, outDir, log, sealKey: sealKey(credentials.token) });
  const registry = createRegistry();
  registerRunMetrics(registry, () => coordinator.metricsSnapshot());
  const { server } = credentials;
  const control = await startControlServer(coordinator, '127.0.0.1:0', { kind: 'tls', certPem: server.certPem, keyPem: server.keyPem, token: credentials.token }, log);
  await coordinator.start();
  const address = `127.0.0.1:${control.port}`;
  const v1 = loadControlProto();
  const clients: CoordinatorClient[] = [];
  const client = (security?: ClientSecurity | 'tls-without-token') => {
    const made =
      security === 'tls-without-token'
        ? { credentials: grpc.credentials.createSsl(Buffer.from(credentials.ca.certPem)), options: { 'grpc.ssl_target_name_override': COORDINATOR_SERVER_NAME } }
        : clientCredentials(security ?? { kind: 'tls', caPem: credentials.ca.certPem, serverName: COORDINATOR_SERVER_NAME, token: credentials.token });
    const c = new v1.Coordinator(address, made.credentials, made.options);
    clients.push(c);
    return c;
  };
  return {
    address,
    credentials,
    coordinator,
    outDir,
    logged,
    metricsText: () => registry.metrics(),
    client,
    runJson: () => readFileSync(join(outDir, 'run.json'), 'utf8'),
    close: async () => {
      for (const c of clients) c.close();
      coordinator.close();
      await control.close(500);
    },
  };
}

/** A unary call as a promise. */
export const call = <T>(fn: (cb: (err: grpc.ServiceError | null, v?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));

/** The gRPC status a call ended with (OK when it succeeded) and its details. */
export async function outcome(p: Promise<unknown>): Promise<{ code: grpc.status; details: string }> {
  try {
    await p;
    return { code: grpc.status.OK, details: '' };
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details ?? e.message };
  }
}

const deadline = (ms = 5_000) => ({ deadline: Date.now() + ms });

/** A worker's registration on host `host`. */
export const registration = (host: string, pid: number): RegisterRequest => ({ host, gpu: -1, backend: 'cpu', device: 'cpu', dataEndpoint: `tcp://${host}:${6000 + pid}`, ipcEndpoint: '', pid, runId: '', committedStep: -1, ringPublicKey: 'rq:A+jHM]6fH^4gTz1-3&L]0(9A*1/vB8O!p[%Ic' });

/** Registers the run's two workers; resolves with their replies, rank order. */
export async function joinBoth(client: CoordinatorClient): Promise<RegisterReply__Output[]> {
  const replies = await Promise.all([1, 2].map((pid) => call<RegisterReply__Output>((cb) => client.Register(registration('member', pid), deadline(10_000), cb))));
  return replies.sort((a, b) => a.rank - b.rank);
}

/** Who a forged call claims to be: a rank of a generation, with some session secret. */
export interface Claim {
  runId: string;
  generation: number;
  rank: number;
  session: string;
}

/** A call not yet made, and how it will end. */
export type Attempt = () => Promise<{ code: grpc.status; details: string }>;

/** Every RPC of the service as `client` would call it, with `claim` where a call carries one. */
export function everyRpc(client: CoordinatorClient, claim: Claim): Record<string, Attempt> {
  const { runId, generation, rank, session } = claim;
  return {
    Register: () => outcome(call((cb) => client.Register(registration('stranger', 99), deadline(), cb))),
    Watch: () => outcome(
      new Promise<void>((resolve, reject) => {
        const stream = client.Watch({ runId, generation, rank, session }, deadline());
        stream.on('data', () => (stream.cancel(), resolve()));
        stream.on('error', reject);
        stream.on('end', resolve);
      }),
    ),
    Heartbeat: () => outcome(call((cb) => client.Heartbeat({ runId, generation, rank, session, step: 1, condition: 'FAILED', error: 'forged' }, deadline(), cb))),
    ReportStep: () => outcome(call((cb) => client.ReportStep({ runId, generation, rank, session, stepsDone: 1, checkpoint: { sha256: 'ab'.repeat(32) } }, deadline(), cb))),
    Status: () => outcome(call<RunStatus__Output>((cb) => client.Status({}, deadline(), cb))),
    DownloadDataset: () => outcome(drain(client.DownloadDataset({ runId, name: 'manifest.json' }, deadline()))),
    UploadCheckpoint: () => outcome(
      call((cb) => {
        const up = client.UploadCheckpoint(deadline(), cb);
        up.write({ runId, generation, rank, session, step: 2, name: 'meta.json', offset: 0, data: Buffer.from('{}'), last: true, totalBytes: 2, sha256: 'cd'.repeat(32) });
        up.end();
      }),
    ),
    DownloadCheckpoint: () => outcome(drain(client.DownloadCheckpoint({ step: 0 }, deadline()))),
    Shutdown: () => outcome(call((cb) => client.Shutdown({ reason: 'forged' }, deadline(), cb))),
  };
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const piece of stream) void piece;
}
