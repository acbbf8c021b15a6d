import test from 'ava';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { RestartPolicy } from '../../src/worker/slot-lifecycle';
import { describeExit, describeSlotEnd, type SupervisedExit, superviseWorkers, supervisorExitCode, type SuperviseOptions, type WorkerLaunch } from '../../src/worker/supervisor';

// Far above any expected run, so a slow CI host does not fail the tests, yet a hang still does.
const BOUND_MS = 10_000;
const SLEEP_FOREVER = 'setInterval(() => {}, 1 << 30);';
// Short waits keep the restart tests fast; no test asserts how long a wait took beyond its lower bound.
const FAST: RestartPolicy = { maxRestarts: 3, backoffBaseMs: 30, backoffCapMs: 1_000 };
// A backoff no test waits out: a slot stays backing off until the supervisor is stopped.
const NEVER: RestartPolicy = { maxRestarts: 3, backoffBaseMs: 60_000, backoffCapMs: 60_000 };

/** A `node -e script -- args` launch. */
const nodeLaunch = (name: string, script: string, env: Record<string, string> = {}, args: string[] = []): WorkerLaunch => ({
  name,
  command: process.execPath,
  args: ['-e', script, '--', ...args],
  env,
});

/** Collects what is written to it, and lets a test wait until a line shows up: this exact line, or one the pattern matches. */
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

  waitFor(line: string | RegExp): Promise<void> {
    const found = () => this.lines().some((l) => (typeof line === 'string' ? l === line : line.test(l)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line ${String(line)} within ${BOUND_MS} ms; got:\n${this.text}`)), BOUND_MS);
      const check = () => {
        if (!found()) return;
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
  backoffMs?: number;
}

/**
 * Starts the supervisor with captured output and logs and a private signal source (never the
 * test process's own signals); `done` resolves with its exits, `signals` stops it.
 */
function startSupervising(launches: WorkerLaunch[], options: Partial<SuperviseOptions> = {}) {
  const output = new Capture();
  const logText = new Capture();
  const signals = new EventEmitter();
  const started = Date.now();
  const done = superviseWorkers(launches, { graceMs: 2_000, restarts: FAST, log: pino({ level: 'info' }, logText), output, signals, ...options }).then((exits) => ({
    exits,
    elapsedMs: Date.now() - started,
  }));
  const logs = () => logText.lines().map((l) => JSON.parse(l) as LogRecord);
  const warnings = () => logs().filter((l) => l.level >= 40).map((l) => l.msg);
  return { done, output, logText, logs, warnings, signals };
}

/** Runs the supervisor to its end. */
async function supervise(launches: WorkerLaunch[], options: Partial<SuperviseOptions> = {}) {
  const s = startSupervising(launches, options);
  return { ...s, ...(await s.done) };
}

const byName = <T extends { name: string }>(items: readonly T[], name: string): T => {
  const found = items.find((i) => i.name === name);
  if (found === undefined) throw new Error(`no entry named ${name}`);
  return found;
};

const countLines = (output: Capture, line: string) => output.lines().filter((l) => l === line).length;

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'facefill-supervisor-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('when every worker exits 0, each exit is reported and each output line carries its worker name', async (t) => {
  const { exits, output, warnings } = await supervise([
    // A line written in two pieces must still come out whole; so must a last line without a newline.
    nodeLaunch('a', `process.stdout.write('hal'); setTimeout(() => { process.stdout.write('f a line\\n'); console.error('on stderr'); process.stdout.write('no newline'); }, 100);`),
    nodeLaunch('b', `console.log('b says hi');`),
  ]);
  t.deepEqual(exits, [
    { name: 'a', code: 0, signal: null, why: 'finished', restarts: 0 },
    { name: 'b', code: 0, signal: null, why: 'finished', restarts: 0 },
  ]);
  t.is(supervisorExitCode(exits), 0);
  t.deepEqual(output.lines().sort(), ['[a] half a line', '[a] no newline', '[a] on stderr', '[b] b says hi']);
  t.deepEqual(warnings(), []);
});

test('a crashing worker is restarted up to the limit with a growing backoff, then left down while the other keeps running', async (t) => {
  const dir = await tempDir(t);
  // The steady worker leaves only once the test saw the crasher left down, so it ran all along.
  const env = { LEAVE: path.join(dir, 'leave') };
  const s = startSupervising([
    nodeLaunch('crasher', `console.log('start ' + Date.now()); process.exit(1);`),
    nodeLaunch('steady', `console.log('steady up'); setInterval(() => { if (require('fs').existsSync(process.env.LEAVE)) process.exit(0); }, 20);`, env),
  ]);
  await s.logText.waitFor(/worker crasher exited with code 1.*after 3 restart\(s\).*stays down; 1 other worker\(s\) keep running/);
  await writeFile(env.LEAVE, '');
  const { exits, elapsedMs } = await s.done;

  t.deepEqual(byName(exits, 'crasher'), { name: 'crasher', code: 1, signal: null, why: 'restarts-exhausted', restarts: 3 });
  t.deepEqual(byName(exits, 'steady'), { name: 'steady', code: 0, signal: null, why: 'finished', restarts: 0 });
  t.is(supervisorExitCode(exits), 1);
  t.is(countLines(s.output, '[steady] steady up'), 1);
  const restarts = s.logs().filter((l) => l.msg.startsWith('worker crasher exited with code 1 (failed); restart'));
  t.deepEqual(
    restarts.map((l) => l.msg),
    [1, 2, 3].map((n) => `worker crasher exited with code 1 (failed); restart ${n} of 3 in ${30 * 2 ** (n - 1)} ms`),
  );
  t.deepEqual(
    restarts.map((l) => l.backoffMs),
    [30, 60, 120],
  );
  // Each start comes at least its backoff after the one before (a loaded host only makes the gap longer).
  const starts = s.output.lines().flatMap((l) => (l.startsWith('[crasher] start ') ? [Number(l.slice('[crasher] start '.length))] : []));
  t.is(starts.length, 4);
  for (const [i, backoff] of [30, 60, 120].entries()) t.true(starts[i + 1] - starts[i] >= backoff - 2, `start ${i + 1} came ${starts[i + 1] - starts[i]} ms after start ${i}`);
  t.true(elapsedMs < BOUND_MS, `took ${elapsedMs} ms`);
});

test('a restarted worker gets the same command line and environment, and a death by a signal nobody sent is restarted', async (t) => {
  const dir = await tempDir(t);
  // The first process kills itself with SIGKILL, as the OOM killer would; the second finishes.
  const script = `const fs = require('fs'); const again = fs.existsSync(process.env.MARK); fs.writeFileSync(process.env.MARK, '');
    console.log(process.env.FACEFILL_SUPERVISOR_TEST_GPU + ' ' + process.argv.slice(1).join(' '));
    if (!again) process.kill(process.pid, 'SIGKILL');`;
  const { exits, output, warnings } = await supervise([
    nodeLaunch('gpu 1', script, { MARK: path.join(dir, 'mark'), FACEFILL_SUPERVISOR_TEST_GPU: '1' }, ['--gpu', '1', '--metrics-port', '9402']),
  ]);
  t.deepEqual(exits, [{ name: 'gpu 1', code: 0, signal: null, why: 'finished', restarts: 1 }]);
  t.deepEqual(output.lines(), ['[gpu 1] 1 --gpu 1 --metrics-port 9402', '[gpu 1] 1 --gpu 1 --metrics-port 9402']);
  t.deepEqual(warnings(), ['worker gpu 1 killed by SIGKILL; restart 1 of 3 in 30 ms']);
  t.is(supervisorExitCode(exits), 0);
});

test('exit codes 2 and 3 are not restarted; the others keep running, and the supervisor exits with the least restartable code', async (t) => {
  const dir = await tempDir(t);
  const env = { LEAVE: path.join(dir, 'leave') };
  const s = startSupervising([
    nodeLaunch('usage', `console.log('once'); process.exit(2);`),
    nodeLaunch('stopped', `console.log('once'); process.exit(3);`),
    nodeLaunch('steady', `setInterval(() => { if (require('fs').existsSync(process.env.LEAVE)) process.exit(0); }, 20);`, env),
  ]);
  await s.logText.waitFor(/worker usage exited with code 2 \(invalid config or usage\): a restart cannot help, so it stays down/);
  await s.logText.waitFor(/worker stopped exited with code 3 \(the run was stopped\): a restart cannot help, so it stays down/);
  await writeFile(env.LEAVE, '');
  const { exits } = await s.done;
  t.deepEqual(exits, [
    { name: 'usage', code: 2, signal: null, why: 'not-restartable', restarts: 0 },
    { name: 'stopped', code: 3, signal: null, why: 'not-restartable', restarts: 0 },
    { name: 'steady', code: 0, signal: null, why: 'finished', restarts: 0 },
  ]);
  t.deepEqual(s.output.lines().sort(), ['[stopped] once', '[usage] once']);
  t.is(supervisorExitCode(exits), 2);
  t.is(supervisorExitCode(exits.slice(1)), 3);
});

test('a signal to the supervisor stops every worker and restarts none, not even one that was backing off', async (t) => {
  // 'leaving' exits 1 on SIGTERM, a crash were it not stopped; 'crasher' waits for a restart that never comes.
  const s = startSupervising(
    [
      nodeLaunch('leaving', `process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(1); }); console.log('ready'); ${SLEEP_FOREVER}`),
      nodeLaunch('crasher', `console.log('crashing'); process.exit(1);`),
    ],
    { restarts: NEVER },
  );
  await Promise.all([s.output.waitFor('[leaving] ready'), s.logText.waitFor(/worker crasher exited with code 1 \(failed\); restart 1 of 3 in 60000 ms/)]);
  s.signals.emit('SIGTERM', 'SIGTERM');
  const { exits, elapsedMs } = await s.done;
  t.deepEqual(exits, [
    { name: 'leaving', code: 1, signal: null, why: 'stopped', restarts: 0 },
    { name: 'crasher', code: 1, signal: null, why: 'stopped', restarts: 0 },
  ]);
  t.deepEqual(s.output.lines().sort(), ['[crasher] crashing', '[leaving] got SIGTERM', '[leaving] ready']);
  t.true(s.warnings().some((w) => w.includes('received SIGTERM') && w.includes('restarting none')), s.warnings().join('\n'));
  t.is(supervisorExitCode(exits), 1);
  t.true(elapsedMs < BOUND_MS, `took ${elapsedMs} ms`);
});

test('a worker that ignores SIGTERM is killed with SIGKILL once the grace period is over', async (t) => {
  const graceMs = 500;
  const s = startSupervising([nodeLaunch('stubborn', `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('ready'); ${SLEEP_FOREVER}`)], { graceMs });
  await s.output.waitFor('[stubborn] ready');
  const signalledAt = Date.now();
  s.signals.emit('SIGTERM', 'SIGTERM');
  const { exits } = await s.done;
  t.deepEqual(exits, [{ name: 'stubborn', code: null, signal: 'SIGKILL', why: 'stopped', restarts: 0 }]);
  t.true(s.output.lines().includes('[stubborn] ignoring SIGTERM'), s.output.text);
  t.true(s.warnings().some((w) => w.includes('SIGKILL')), s.warnings().join('\n'));
  const waited = Date.now() - signalledAt;
  t.true(waited >= graceMs && waited < BOUND_MS, `took ${waited} ms`);
});

test('the launch env is added to the inherited environment', async (t) => {
  process.env.FACEFILL_SUPERVISOR_TEST_PARENT = 'inherited';
  const { exits, output } = await supervise([
    nodeLaunch('envy', `console.log(process.env.FACEFILL_SUPERVISOR_TEST_CHILD + ' ' + process.env.FACEFILL_SUPERVISOR_TEST_PARENT);`, { FACEFILL_SUPERVISOR_TEST_CHILD: 'pinned' }),
  ]);
  t.is(supervisorExitCode(exits), 0);
  t.deepEqual(output.lines(), ['[envy] pinned inherited']);
});

test('a command that cannot be started is not restarted, and the others keep running', async (t) => {
  const { exits, warnings, elapsedMs } = await supervise([
    nodeLaunch('steady', `setTimeout(() => console.log('done'), 300);`),
    { name: 'ghost', command: '/nonexistent/facefill-no-such-binary', args: [], env: {} },
  ]);
  const ghost = byName(exits, 'ghost');
  t.like(ghost, { code: null, signal: null, why: 'not-restartable', restarts: 0 });
  t.regex(ghost.error ?? '', /could not start .*ENOENT/);
  t.deepEqual(byName(exits, 'steady'), { name: 'steady', code: 0, signal: null, why: 'finished', restarts: 0 });
  t.true(warnings().some((w) => w.includes('ghost') && w.includes('could not start')), warnings().join('\n'));
  t.is(supervisorExitCode(exits), 1);
  t.true(elapsedMs < BOUND_MS, `took ${elapsedMs} ms`);
});

test('SIGINT received by the supervisor is forwarded to every worker, and its handlers are removed at the end', async (t) => {
  const graceful = `process.on('SIGINT', () => { console.log('got SIGINT'); process.exit(0); }); console.log('ready'); ${SLEEP_FOREVER}`;
  const s = startSupervising([nodeLaunch('a', graceful), nodeLaunch('b', graceful)], { graceMs: 5_000 });
  t.is(s.signals.listenerCount('SIGINT'), 1);
  t.is(s.signals.listenerCount('SIGTERM'), 1);
  await Promise.all([s.output.waitFor('[a] ready'), s.output.waitFor('[b] ready')]);
  s.signals.emit('SIGINT', 'SIGINT');
  const { exits } = await s.done;
  t.deepEqual(exits, [
    { name: 'a', code: 0, signal: null, why: 'stopped', restarts: 0 },
    { name: 'b', code: 0, signal: null, why: 'stopped', restarts: 0 },
  ]);
  t.is(supervisorExitCode(exits), 0);
  t.true(s.output.lines().includes('[a] got SIGINT') && s.output.lines().includes('[b] got SIGINT'), s.output.text);
  t.is(s.signals.listenerCount('SIGINT'), 0);
  t.is(s.signals.listenerCount('SIGTERM'), 0);
});

test('a second signal while stopping kills at once instead of waiting out the grace period', async (t) => {
  const s = startSupervising([nodeLaunch('stubborn', `process.on('SIGTERM', () => {}); console.log('ready'); ${SLEEP_FOREVER}`)], { graceMs: 60_000 });
  await s.output.waitFor('[stubborn] ready');
  s.signals.emit('SIGTERM', 'SIGTERM');
  s.signals.emit('SIGTERM', 'SIGTERM');
  const { exits, elapsedMs } = await s.done;
  t.deepEqual(exits, [{ name: 'stubborn', code: null, signal: 'SIGKILL', why: 'stopped', restarts: 0 }]);
  t.true(elapsedMs < BOUND_MS, `took ${elapsedMs} ms`);
});

test.serial('by default the handlers go on the process itself, only while supervising', async (t) => {
  const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
  const done = superviseWorkers([nodeLaunch('short', 'setTimeout(() => {}, 200);')], { graceMs: 1_000, restarts: FAST, log: pino({ level: 'silent' }), output: new Capture() });
  t.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before.map((n) => n + 1));
  t.is(supervisorExitCode(await done), 0);
  t.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before);
});

test('no launches resolve at once', async (t) => {
  t.deepEqual(await superviseWorkers([], { graceMs: 1_000, restarts: FAST, log: pino({ level: 'silent' }), output: new Capture(), signals: new EventEmitter() }), []);
});

test('the supervisor exits 0 only when every last process exited 0, else with the least restartable code; exits are described in words', (t) => {
  const exit = (name: string, code: number | null, signal: NodeJS.Signals | null = null): SupervisedExit => ({ name, code, signal, why: 'finished', restarts: 0 });
  const ok = exit('gpu 0', 0);
  const crashed = { ...exit('gpu 1', null, 'SIGSEGV'), why: 'restarts-exhausted' as const, restarts: 3 };
  const failed = exit('gpu 2', 1);
  const stopped = exit('gpu 3', 3);
  const usage = exit('gpu 4', 2);
  const ghost: SupervisedExit = { ...exit('gpu 5', null), error: 'could not start x: spawn x ENOENT' };
  t.is(supervisorExitCode([ok, ok]), 0);
  t.is(supervisorExitCode([ok, crashed]), 1);
  t.is(supervisorExitCode([ok, ghost]), 1);
  t.is(supervisorExitCode([failed, stopped, ok]), 3);
  t.is(supervisorExitCode([stopped, usage, failed]), 2);
  t.is(describeExit(crashed), 'killed by SIGSEGV');
  t.is(describeExit(stopped), 'exited with code 3 (the run was stopped)');
  t.is(describeExit({ code: 134, signal: null }), 'exited with code 134');
  t.is(describeExit(ghost), 'could not start x: spawn x ENOENT');
  t.is(describeSlotEnd(crashed), 'gpu 1 killed by SIGSEGV after 3 restart(s)');
  t.is(describeSlotEnd(failed), 'gpu 2 exited with code 1 (failed)');
});
