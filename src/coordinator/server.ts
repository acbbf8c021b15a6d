import * as grpc from '@grpc/grpc-js';
import { loadControlProto } from '../shared/control/proto';
import type { ControlPlane } from './api';
import { controlServiceHandlers } from './control-service';

/** A running control-plane server. */
export interface ControlServer {
  /** The port bound (the one asked for, or the free one picked for port 0). */
  port: number;
  /** Stops accepting calls; waits up to `graceMs` for calls in flight, then cuts them. */
  close(graceMs?: number): Promise<void>;
}

/** Serves `plane` over gRPC on `address` (host:port; port 0 picks a free one). */
export async function startControlServer(plane: ControlPlane, address: string): Promise<ControlServer> {
  const v1 = loadControlProto();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 << 20 });
  server.addService(v1.Coordinator.service, controlServiceHandlers(plane));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(new Error(`cannot listen on ${address}: ${err.message}`)) : resolve(p))),
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
