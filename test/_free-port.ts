import { createServer } from 'node:net';

/** A tcp port free on 127.0.0.1 just now (for starting a CLI process on a known port). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}
