import test from 'ava';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describeExit, firstFailure, type SupervisedExit, superviseWorkers, type SuperviseOptions, type WorkerLaunch } from '../../src/worker/supervisor';

// Far above any expected run, so a slow CI host does not fail the tests, yet a hang still does.
const BOUND_MS = 10_000;
const SLEEP_FOREVER = 'setInterval(() => {}, 1 << 30);';

/** A `node -e script` launch. */
const nodeLaunch = (name: string, script: string, env: Record<string, string> = {}): WorkerLaunch => ({ name, command: process.execPath, args: ['-e', script], env });

/** Collects what the supervisor writes, and lets a test wait until a given line shows up. */
class Capture extends Writable {
  text = '';
  private waiters: Array<() => void> = [];

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    for (const w of this.waiters) w();
    callback();
  }

  lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }

  waitFor(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line '${line}' within ${BOUND_MS} ms; got:\n${this.text}`)), BOUND_MS);
      const check = () => {
        if (!this.lines().includes(line)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
      check();
    });
  }
}

interface LogRecord {
  level: number;
  msg: string;
}

/** Runs the supervisor with captured output and logs and a private signal source (never the test process's own signals). */
async function supervise(launches: WorkerLaunch[], options: Partial<SuperviseOptions> = {}) {
  const output = new Capture();
  const logs: LogRecord[] = [];
  const log = pino({ level: 'info' }, { write: (msg: string) => logs.push(JSON.parse(msg) as LogRecord) });
  const started = Date.now();
  const exits = await superviseWorkers(launches, { graceMs: 2_000, log, output, signals: new EventEmitter(), ...options });
  return { exits, output, logs, elapsedMs: Date.now() - started, warnings: logs.filter((l) => l.level >= 40).map((l) => l.msg) };
}

const byName = <T extends { name: string }>(items: readonly T[], name: string): T => {
  const found = items.find((i) => i.name === name);
  if (found === undefined) throw new Error(`no entry named ${name}`);
  return found;
};

test('when every worker exits 0, each exit is reported and each output line carries its worker name', async (t) => {
  const { exits, output, warnings } = await supervise([
    // A line written in two pieces must still come out whole; so must a last line without a newline.
    nodeLaunch('a', `process.stdout.write('hal'); setTimeout(() => { process.stdout.write('f a line\\n'); console.error('on stderr'); process.stdout.write('no newline'); }, 100);`),
    nodeLaunch('b', `console.log('b says hi');`),
  ]);
  t.deepEqual(exits, [
    { name: 'a', code: 0, signal: null, stopped: false },
    { name: 'b', code: 0, signal: null, stopped: false },
  ]);
  t.is(firstFailure(exits), null);
  t.deepEqual(output.lines().sort(), ['[a] half a line', '[a] no newline', '[a] on stderr', '[b] b says hi']);
  t.deepEqual(warnings, []);
});

test('when one worker exits 3, the others are terminated and every exit is reported', async (t) => {
  const { exits, warnings, elapsedMs } = await supervise([
    nodeLaunch('sleeper 1', SLEEP_FOREVER),
    nodeLaunch('failing', `setTimeout(() => process.exit(3), 200);`),
    nodeLaunch('sleeper 2', SLEEP_FOREVER),
  ]);
  t.deepEqual(exits.map((e) => e.name), ['sleeper 1', 'failing', 'sleeper 2']);
  t.like(byName(exits, 'failing'), { code: 3, signal: null, stopped: false });
  t.like(byName(exits, 'sleeper 1'), { code: null, signal: 'SIGTERM', stopped: true });
  t.like(byName(exits, 'sleeper 2'), { code: null, signal: 'SIGTERM', stopped: true });
  t.is(firstFailure(exits)?.name, 'failing');
  t.true(warnings.some((w) => w.includes('failing') && w.includes('code 3')), warnings.join('\n'));
  t.true(elapsedMs < BOUND_MS, `took ${elapsedMs} ms`);
});

test('a worker that ignores SIGTERM is killed with SIGKILL once the grace period is over', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'facefill-supervisor-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The failure waits for the stubborn worker's handler, so the SIGTERM is surely ignored, however slow the host.
  const env = { READY: path.join(dir, 'ready') };
  const graceMs = 500;
  const { exits, output, warnings, elapsedMs } = await supervise(
    [
      nodeLaunch('stubborn', `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); require('fs').writeFileSync(process.env.READY, ''); ${SLEEP_FOREVER}`, env),
      nodeLaunch('failing', `setInterval(() => { if (require('fs').existsSync(process.env.READY)) process.exit(3); }, 20);`, env),
    ],
    { graceMs },
  );
  t.like(byName(exits, 'failing'), { code: 3 });
  t.like(byName(exits, 'stubborn'), { code: null, signal: 'SIGKILL' });
  t.true(output.lines().includes('[stubborn] ignoring SIGTERM'), output.text);
  t.true(warnings.some((w) => w.includes('SIGKILL')), warnings.join('\n'));
  t.true(elapsedMs >= graceMs && elapsedMs < BOUND_MS, `took ${elapsedMs} ms`);
});

test('the launch env is added to the inherited environment', async (t) => {
  process.env.FACEFILL_SUPERVISOR_TEST_PARENT = 'inherited';
  const { exits, output } = await supervise([
    nodeLaunch('envy', `console.log(process.env.FACEFILL_SUPERVISOR_TEST_CHILD + ' ' + process.env.FACEFILL_SUPERVISOR_TEST_PARENT);`, { FACEFILL_SUPERVISOR_TEST_CHILD: 'pinned' }),
  ]);
  t.is(firstFailure(exits), null);
  t.deepEqual(output.lines(), ['[envy] pinned inherited']);
});

test('a command that cannot be started is reported as a failure and the others are stopped', async (t) => {
  const { exits, warnings, elapsedMs } = await supervise([nodeLaunch('sleeper', SLEEP_FOREVER), { name: 'ghost', command: '/nonexistent/facefill-no-such-binary', args: [], env: {} }]);
  const ghost = byName(exits, 'ghost');
  t.like(ghost, { code: null, signal: null, stopped: false });
  t.regex(ghost.error ?? '', /ENOENT/);
  t.like(byName(exits, 'sleeper'), { code: null, signal: 'SIGTERM', stopped: true });
  t.is(firstFailure(exits)?.name, 'ghost');
  t.true(warnings.some((w) => w.includes('ghost') && w.includes('could not start')), warnings.join('\n'));
  t.true(elapsedMs < BOUND_MS, `took ${elapsedMs} ms`);
});

test('SIGINT received by the supervisor is forwarded to every worker, and its handlers are removed at the end', async (t) => {
  const signals = new EventEmitter();
  const output = new Capture();
  const graceful = `process.on('SIGINT', () => { console.log('got SIGINT'); process.exit(0); }); console.log('ready'); ${SLEEP_FOREVER}`;
  const done = superviseWorkers([nodeLaunch('a', graceful), nodeLaunch('b', graceful)], { graceMs: 5_000, log: pino({ level: 'silent' }), output, signals });
  t.is(signals.listenerCount('SIGINT'), 1);
  t.is(signals.listenerCount('SIGTERM'), 1);
  await Promise.all([output.waitFor('[a] ready'), output.waitFor('[b] ready')]);
  signals.emit('SIGINT', 'SIGINT');
  const exits = await done;
  t.deepEqual(exits, [
    { name: 'a', code: 0, signal: null, stopped: true },
    { name: 'b', code: 0, signal: null, stopped: true },
  ]);
  t.is(firstFailure(exits), null);
  t.true(output.lines().includes('[a] got SIGINT') && output.lines().includes('[b] got SIGINT'), output.text);
  t.is(signals.listenerCount('SIGINT'), 0);
  t.is(signals.listenerCount('SIGTERM'), 0);
});

test('a second signal while stopping kills at once instead of waiting out the grace period', async (t) => {
  const signals = new EventEmitter();
  const output = new Capture();
  const started = Date.now();
  const done = superviseWorkers([nodeLaunch('stubborn', `process.on('SIGTERM', () => {}); console.log('ready'); ${SLEEP_FOREVER}`)], {
    graceMs: 60_000,
    log: pino({ level: 'silent' }),
    output,
    signals,
  });
  await output.waitFor('[stubborn] ready');
  signals.emit('SIGTERM', 'SIGTERM');
  signals.emit('SIGTERM', 'SIGTERM');
  const exits = await done;
  t.deepEqual(exits, [{ name: 'stubborn', code: null, signal: 'SIGKILL', stopped: true }]);
  t.true(Date.now() - started < BOUND_MS);
});

test.serial('by default the handlers go on the process itself, only while supervising', async (t) => {
  const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
  const done = superviseWorkers([nodeLaunch('short', 'setTimeout(() => {}, 200);')], { graceMs: 1_000, log: pino({ level: 'silent' }), output: new Capture() });
  t.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before.map((n) => n + 1));
  t.is(firstFailure(await done), null);
  t.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before);
});

test('no launches resolve at once', async (t) => {
  t.deepEqual(await superviseWorkers([], { graceMs: 1_000, log: pino({ level: 'silent' }), output: new Capture(), signals: new EventEmitter() }), []);
});

test('the first failure is one that was not stopped by the supervisor; exits are described in words', (t) => {
  const ok: SupervisedExit = { name: 'gpu 0', code: 0, signal: null, stopped: false };
  const stopped: SupervisedExit = { name: 'gpu 1', code: null, signal: 'SIGTERM', stopped: true };
  const crashed: SupervisedExit = { name: 'gpu 2', code: null, signal: 'SIGSEGV', stopped: false };
  const failed: SupervisedExit = { name: 'gpu 3', code: 3, signal: null, stopped: false };
  t.is(firstFailure([ok, stopped, crashed, failed]), crashed);
  // After a SIGINT every process was stopped; the first one that did not exit 0 is then the answer.
  t.is(firstFailure([ok, stopped]), stopped);
  t.is(firstFailure([ok]), null);
  t.is(describeExit(crashed), 'killed by SIGSEGV');
  t.is(describeExit(failed), 'exited with code 3');
  t.is(describeExit({ name: 'x', code: null, signal: null, stopped: false, error: 'could not start x: spawn x ENOENT' }), 'could not start x: spawn x ENOENT');
});
