import { createServer } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * A process's metric registry: its own families (each a file of this folder that registers on
 * the registry it is given) and prom-client's default process metrics (CPU, memory, event
 * loop lag, GC), under their standard names.
 */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** A running `/metrics` endpoint. */
export interface MetricsServer {
  /** The port bound (the one asked for, or the free one picked for port 0). */
  port: number;
  close(): Promise<void>;
}

/** Serves the registry in the Prometheus text format at `GET /metrics` on host:port (port 0: any free one). */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot serve metrics on ${host}:${port}: ${err.message}`)));
    server.listen(port, host, () => resolve());
  });
  // A scrape must not keep a finished process alive.
  server.unref();
  const bound = server.address();
  return {
    port: typeof bound === 'object' && bound ? bound.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
