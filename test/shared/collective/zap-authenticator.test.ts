import test from 'ava';
import { curveKeyPair, Dealer, type Event, Pull, Push } from 'zeromq';
import { decodeRingKey } from '../../../src/shared/collective/ring-keys';
import { ZapAuthenticator } from '../../../src/shared/collective/zap-authenticator';
import { capturedLog } from './_transport-suite';
import { eventually } from './_zmq-ring';

// Serial: they watch the process's one handler start and stop.
const zap = ZapAuthenticator.shared;

// A CURVE client of `server` that sends `text` once its handshake succeeds, recording its socket events.
function client(endpoint: string, serverKey: string, keys: { publicKey: string; secretKey: string }, text: string) {
  const push = new Push({ linger: 0, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey, curveServerKey: serverKey });
  const events: Event['type'][] = [];
  void (async () => {
    for await (const e of push.events) events.push(e.type);
  })();
  push.connect(endpoint);
  void push.send(text).catch(() => undefined);
  return { push, events };
}

async function receiveText(pull: Pull, timeoutMs: number): Promise<string | null> {
  pull.receiveTimeout = timeoutMs;
  try {
    return (await pull.receive())[0].toString();
  } catch {
    return null;
  }
}

test.serial('a CURVE socket admits only the listed key; handshakes before the list is set wait for it instead of failing', async (t) => {
  const { log, records } = capturedLog();
  const domain = await zap.domain(log, 30_000);
  t.true(zap.running);
  const server = curveKeyPair();
  const pull = new Pull({ linger: 0, curveServer: true, curveSecretKey: server.secretKey, zapDomain: domain.name, zapEnforceDomain: true });
  await pull.bind('tcp://127.0.0.1:*');
  const endpoint = pull.lastEndpoint ?? '';
  const [listed, other, late] = [curveKeyPair(), curveKeyPair(), curveKeyPair()];
  const early = [client(endpoint, server.publicKey, listed, 'listed, early'), client(endpoint, server.publicKey, other, 'other, early')];
  try {
    t.is(await receiveText(pull, 500), null, 'nothing passes before the allow-list is set');
    domain.admit([listed.publicKey]);
    t.is(await receiveText(pull, 10_000), 'listed, early');
    t.true(await eventually(() => early[1].events.includes('handshake:error:auth')), 'the other key was refused');
    const after = [client(endpoint, server.publicKey, late, 'other, late'), client(endpoint, server.publicKey, listed, 'listed, late')];
    t.is(await receiveText(pull, 10_000), 'listed, late');
    t.true(await eventually(() => after[0].events.includes('handshake:error:auth')));
    t.is(await receiveText(pull, 300), null);
    t.true(early[0].events.includes('handshake') && !early[0].events.includes('handshake:error:auth'));
    const refusals = records.filter((r) => /^refused a ring connection from 127\.0\.0\.1: client key [0-9a-f]{64} is not admitted$/.test(r.msg));
    t.is(refusals.length, 2);
    for (const c of [...early, ...after]) c.push.close();
  } finally {
    pull.close();
    domain.release();
  }
});

/** Raw ZAP requests, as libzmq sends them, over a DEALER of our own. */
async function rawZap() {
  const dealer = new Dealer({ linger: 0, receiveTimeout: 5000 });
  dealer.connect('inproc://zeromq.zap.01');
  let id = 0;
  const request = async (domain: string, mechanism: string, ...credentials: Buffer[]) => {
    const requestId = String(++id);
    await dealer.send([Buffer.alloc(0), '1.0', requestId, domain, '10.0.0.9', '', mechanism, ...credentials]);
    return requestId;
  };
  const reply = async () => {
    const [empty, version, requestId, status, text] = (await dealer.receive()).map((f) => f.toString());
    return { empty, version, requestId, status, text };
  };
  return { dealer, request, reply };
}

test.serial('the handler answers 400 to an unknown domain or mechanism, ignores malformed requests, and bounds held ones', async (t) => {
  const domain = await zap.domain(capturedLog().log, 30_000);
  const { dealer, request, reply } = await rawZap();
  const listed = curveKeyPair().publicKey;
  const key = decodeRingKey(listed, 'k');
  try {
    for (const garbage of [['x'], ['', '2.0', '1', domain.name, 'a', '', 'CURVE', key.toString('binary')], ['', '1.0', '1']]) await dealer.send(garbage);
    const unknown = await request('no-such-domain', 'CURVE', key);
    t.like(await reply(), { empty: '', version: '1.0', requestId: unknown, status: '400', text: "unknown ZAP domain 'no-such-domain'" });
    // Held until the allow-list is set: 16 wait, the 17th is refused at once.
    const held: string[] = [];
    for (let i = 0; i < 17; i++) held.push(await request(domain.name, 'CURVE', key));
    t.like(await reply(), { requestId: held[16], status: '400', text: 'too many handshakes waiting (16) before the ring was formed' });
    domain.admit([listed]);
    const answers = [];
    for (let i = 0; i < 16; i++) answers.push(await reply());
    t.deepEqual(answers.map((a) => [a.requestId, a.status]), held.slice(0, 16).map((r) => [r, '200']));
    const wrongMechanism = await request(domain.name, 'PLAIN', Buffer.from('user'), Buffer.from('pass'));
    t.like(await reply(), { requestId: wrongMechanism, status: '400', text: 'a PLAIN handshake; expected CURVE with one 32-byte key' });
    const shortKey = await request(domain.name, 'CURVE', key.subarray(1));
    t.like(await reply(), { requestId: shortKey, status: '400' });
    const other = await request(domain.name, 'CURVE', decodeRingKey(curveKeyPair().publicKey, 'k'));
    t.like(await reply(), { requestId: other, status: '400' });
  } finally {
    dealer.close();
    domain.release();
  }
});

test.serial('a released domain refuses its held requests; the last release stops the handler and a new domain starts it again', async (t) => {
  const first = await zap.domain(capturedLog().log, 30_000);
  const second = await zap.domain(capturedLog().log, 30_000);
  const { dealer, request, reply } = await rawZap();
  try {
    const held = await request(first.name, 'CURVE', Buffer.alloc(32, 7));
    // Requests are handled in order: once a later one is answered, the first is held.
    await request('probe', 'CURVE', Buffer.alloc(32));
    t.like(await reply(), { status: '400', text: "unknown ZAP domain 'probe'" });
    first.release();
    first.release();
    t.like(await reply(), { requestId: held, status: '400', text: 'the socket closed' });
    t.true(zap.running, 'another domain still needs it');
    const orphan = await request(first.name, 'CURVE', Buffer.alloc(32, 7));
    t.like(await reply(), { requestId: orphan, status: '400', text: `unknown ZAP domain '${first.name}'` });
  } finally {
    dealer.close();
    second.release();
  }
  t.true(await eventually(() => !zap.running));
  // Started again at once: the old socket's address is free by then.
  const again = await zap.domain(capturedLog().log, 30_000);
  t.true(zap.running);
  const raw = await rawZap();
  const key = curveKeyPair().publicKey;
  again.admit([key]);
  const id = await raw.request(again.name, 'CURVE', decodeRingKey(key, 'k'));
  t.like(await raw.reply(), { requestId: id, status: '200' });
  raw.dealer.close();
  again.release();
  t.true(await eventually(() => !zap.running));
});

test.serial('a client whose held handshake timed out reconnects, and is admitted once the list is set, however many times it waited', async (t) => {
  // A short handshake interval, so the client's held handshakes time out and it retries many
  // times, more than the 16 requests a domain holds.
  const handshakeMs = 100;
  const domain = await zap.domain(capturedLog().log, handshakeMs);
  const server = curveKeyPair();
  const pull = new Pull({ linger: 0, curveServer: true, curveSecretKey: server.secretKey, zapDomain: domain.name, zapEnforceDomain: true, handshakeInterval: handshakeMs });
  await pull.bind('tcp://127.0.0.1:*');
  const keys = curveKeyPair();
  const c = client(pull.lastEndpoint ?? '', server.publicKey, keys, 'after many retries');
  try {
    t.true(await eventually(() => c.events.filter((e) => e === 'connect').length > 20, 30_000), `client events: ${c.events.join(', ')}`);
    t.false(c.events.includes('handshake'));
    domain.admit([keys.publicKey]);
    t.is(await receiveText(pull, 10_000), 'after many retries');
  } finally {
    c.push.close();
    pull.close();
    domain.release();
  }
});
