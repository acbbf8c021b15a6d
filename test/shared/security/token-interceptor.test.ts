import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { type RefusedCall, TOKEN_METADATA_KEY, TOKEN_REFUSED_DETAILS, tokenInterceptor } from '../../../src/shared/security/token-interceptor';
import type { CoordinatorClient } from '../../../src/generated/facefill/v1/Coordinator';
import { newRunToken } from '../../../src/shared/security/run-token';
import { controlClient, serveControl, statusOutcome, type TestControlServer } from '../../_control-server';

const TOKEN = newRunToken();
const UNAUTHENTICATED = { code: grpc.status.UNAUTHENTICATED, details: TOKEN_REFUSED_DETAILS };

// The interceptor does not care what carries the call: plaintext keeps these tests about the token alone.
async function serve(t: { teardown(fn: () => void): void }, refused: RefusedCall[] = []): Promise<{ server: TestControlServer; client: () => CoordinatorClient }> {
  const server = await serveControl(grpc.ServerCredentials.createInsecure(), [tokenInterceptor(TOKEN, (c) => refused.push(c))]);
  t.teardown(server.stop);
  return { server, client: () => controlClient(server.address, grpc.credentials.createInsecure()) };
}

// One value: grpc-js's client refuses to send two authorization values itself.
function withAuthorization(value: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set(TOKEN_METADATA_KEY, value);
  return metadata;
}

test('a call with the right token reaches its handler, which does not see the token', async (t) => {
  const { server, client } = await serve(t);
  const metadata = withAuthorization(`Bearer ${TOKEN}`);
  metadata.set('x-other', 'kept');
  t.deepEqual(await statusOutcome(client(), metadata), { code: grpc.status.OK, details: '', runId: 'run-1' });
  t.is(server.handled(), 1);
  t.deepEqual(server.lastMetadata()?.get(TOKEN_METADATA_KEY), []);
  t.deepEqual(server.lastMetadata()?.get('x-other'), ['kept']);
});

test('a call with no token, a wrong one, or a malformed header is UNAUTHENTICATED and its handler never runs', async (t) => {
  const refused: RefusedCall[] = [];
  const { server, client } = await serve(t, refused);
  const wrong = newRunToken();
  const cases = [
    new grpc.Metadata(),
    withAuthorization(`Bearer ${wrong}`),
    withAuthorization(`Bearer ${TOKEN.slice(0, -1)}`),
    withAuthorization(TOKEN),
    withAuthorization(`Basic ${TOKEN}`),
    withAuthorization(`Bearer  ${TOKEN}`),
  ];
  for (const metadata of cases) {
    const outcome = await statusOutcome(client(), metadata);
    t.deepEqual(outcome, UNAUTHENTICATED);
    t.false(outcome.details.includes(wrong));
  }
  t.is(server.handled(), 0);
  t.is(refused.length, cases.length);
  t.is(refused[0].method, '/facefill.v1.Coordinator/Status');
  t.regex(refused[0].peer, /127\.0\.0\.1/);
});

test('the bearer scheme is matched without regard to case, as HTTP has it', async (t) => {
  const { client } = await serve(t);
  t.is((await statusOutcome(client(), withAuthorization(`bearer ${TOKEN}`))).code, grpc.status.OK);
});

test('streaming calls are checked too: a server stream and a client stream without the token never reach their handler', async (t) => {
  const { server, client } = await serve(t);
  const watch = (metadata: grpc.Metadata) =>
    new Promise<{ code: grpc.status; details: string; received: number }>((resolve) => {
      const c = client();
      let received = 0;
      const stream = c.Watch({}, metadata, { deadline: Date.now() + 3000 });
      stream.on('data', () => (received += 1));
      stream.on('error', (err: grpc.ServiceError) => (c.close(), resolve({ code: err.code, details: err.details, received })));
      stream.on('end', () => (c.close(), resolve({ code: grpc.status.OK, details: '', received })));
    });
  t.deepEqual(await watch(new grpc.Metadata()), { ...UNAUTHENTICATED, received: 0 });
  t.is(server.handled(), 0);

  const upload = await new Promise<grpc.ServiceError | null>((resolve) => {
    const c = client();
    const stream = c.UploadCheckpoint(new grpc.Metadata(), { deadline: Date.now() + 3000 }, (err) => (c.close(), resolve(err)));
    stream.write({ runId: 'run-1' });
    stream.end();
  });
  t.is(upload?.code, grpc.status.UNAUTHENTICATED);
  t.is(server.handled(), 0);

  t.deepEqual(await watch(withAuthorization(`Bearer ${TOKEN}`)), { code: grpc.status.OK, details: '', received: 1 });
  t.is(server.handled(), 1);
});
