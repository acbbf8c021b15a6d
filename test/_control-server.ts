import * as grpc from '@grpc/grpc-js';
import type { CoordinatorClient, CoordinatorHandlers } from '../src/generated/facefill/v1/Coordinator';
import { loadControlProto } from '../src/shared/control/proto';

/** A control-plane server whose Status answers run 'run-1' and Watch pushes one directive; every handler run is counted. */
export interface TestControlServer {
  address: string;
  /** How many times any handler ran. */
  handled(): number;
  /** The metadata the last handler run saw. */
  lastMetadata(): grpc.Metadata | null;
  stop(): void;
}

/** Starts a {@link TestControlServer} on 127.0.0.1 with `credentials` and `interceptors`. */
export async function serveControl(credentials: grpc.ServerCredentials, interceptors: grpc.ServerInterceptor[] = []): Promise<TestControlServer> {
  let handled = 0;
  let lastMetadata: grpc.Metadata | null = null;
  const ran = (call: { metadata: grpc.Metadata }) => {
    handled += 1;
    lastMetadata = call.metadata;
  };
  const unimplemented = (call: { metadata: grpc.Metadata }, cb: (err: grpc.ServiceError) => void) => {
    ran(call);
    cb(Object.assign(new Error('not in this test'), { code: grpc.status.UNIMPLEMENTED, details: '', metadata: new grpc.Metadata() }));
  };
  const handlers: CoordinatorHandlers = {
    Register: unimplemented,
    Watch: (call) => {
      ran(call);
      call.write({ reason: 'hello' });
      call.end();
    },
    Heartbeat: unimplemented,
    ReportStep: unimplemented,
    Status: (call, cb) => {
      ran(call);
      cb(null, { runId: 'run-1' });
    },
    DownloadDataset: (call) => (ran(call), call.end()),
    UploadCheckpoint: unimplemented,
    DownloadCheckpoint: (call) => (ran(call), call.end()),
    Shutdown: unimplemented,
  };
  const server = new grpc.Server({ interceptors });
  server.addService(loadControlProto().Coordinator.service, handlers);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, handled: () => handled, lastMetadata: () => lastMetadata, stop: () => server.forceShutdown() };
}

/** A control-plane client of `address`. */
export function controlClient(address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions = {}): CoordinatorClient {
  return new (loadControlProto().Coordinator)(address, credentials, options);
}

/** What a Status call ended with: its status code, details and the run id answered (on OK). */
export interface CallOutcome {
  code: grpc.status;
  details: string;
  runId?: string;
}

/** Makes one Status call with a short deadline and closes the client. */
export function statusOutcome(client: CoordinatorClient, metadata = new grpc.Metadata(), timeoutMs = 3000): Promise<CallOutcome> {
  return new Promise<CallOutcome>((resolve) =>
    client.Status({}, metadata, { deadline: Date.now() + timeoutMs }, (err, reply) => {
      client.close();
      if (err) resolve({ code: err.code, details: err.details });
      else resolve({ code: grpc.status.OK, details: '', runId: reply?.runId });
    }),
  );
}
