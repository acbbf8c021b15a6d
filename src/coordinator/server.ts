import * as grpc from '@grpc/grpc-js';
import { serverCredentials, type ServerSecurity } from '../shared/control/channel-security';
import { MAX_MESSAGE_BYTES } from '../shared/control/field-limits';
import { loadControlProto } from '../shared/control/proto';
import type { Logger } from '../shared/log';
import type { ControlPlane } from './api';
import { controlServiceHandlers } from './control-service';

/** A running control-plane server. */
export interface ControlServer {
  /** The port bound (the one asked for, or the free one picked for port 0). */
  port: number;
  /** Stops accepting calls; waits up to `graceMs` for calls in flight, then cuts them. */
  close(graceMs?: number): Promise<void>;
}

/** At most one line per this many ms about calls refused for their token: a prober cannot flood the log. */
const REFUSAL_LOG_EVERY_MS = 10_000;

// Calls without the run token are worth an operator's eye (a misconfigured worker, or a prober), in a few lines.
function refusalLog(log: Logger): (call: { method: string; peer: string }) => void {
  let refused = 0;
  let lastLogMs = -Infinity;
  return ({ method, peer }) => {
    refused++;
    const now = performance.now();
    if (now - lastLogMs < REFUSAL_LOG_EVERY_MS) return;
    lastLogMs = now;
    log.warn({ refused, method, peer }, `refused ${refused} call(s) without the run token so far (the latest: ${method} from ${peer})`);
  };
}

/** Concurrent calls one connection may have open: a worker needs a handful (its live link, a heartbeat, a report, a transfer). */
const MAX_STREAMS_PER_CONNECTION = 32;

/**
 * Serves `plane` over gRPC on `address` (host:port; port 0 picks a free one), over TLS with the
 * run token checked on every call unless `security` is insecure.
 */
export async function startControlServer(plane: ControlPlane, address: string, security: ServerSecurity, log: Logger): Promise<ControlServer> {
  const v1 = loadControlProto();
  const { credentials, interceptors } = serverCredentials(security, refusalLog(log));
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_concurrent_streams': MAX_STREAMS_PER_CONNECTION,
    interceptors,
  });
  server.addService(v1.Coordinator.service, controlServiceHandlers(plane));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (err, p) => (err ? reject(new Error(`cannot listen on ${address}: ${err.message}`)) : resolve(p))),
  );
  return {
    port,
    close: (graceMs = 2000) =>
      new Promise<void>((resolve) => {
        const cut = setTimeout(() => (server.forceShutdown(), resolve()), graceMs);
        server.tryShutdown(() => (clearTimeout(cut), resolve()));
      }),
  };
}
