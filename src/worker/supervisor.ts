import { type ChildProcess, spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import type { Logger } from '../shared/log';

/** One process for the supervisor to start. */
export interface WorkerLaunch {
  /** Short label (`gpu 0`, `cpu 1`) used to prefix the process's output and in logs. */
  name: string;
  command: string;
  args: readonly string[];
  /** Variables added to (not replacing) the supervisor's own environment. */
  env: Record<string, string>;
}

/** How one supervised process ended. */
export interface SupervisedExit {
  name: string;
  /** Exit code, or null when the process died by a signal or never ran. */
  code: number | null;
  /** Signal that ended the process, or null. */
  signal: NodeJS.Signals | null;
  /** True when the supervisor had signalled the process to stop (another one failed, or it got SIGINT/SIGTERM). */
  stopped: boolean;
  /** Set when the process could not be started, or was abandoned because it outlived SIGKILL. */
  error?: string;
}

/** Where the supervisor listens for SIGINT/SIGTERM; `process` unless a test passes an emitter. */
export type SignalSource = Pick<EventEmitter, 'on' | 'off'>;

/** Options of {@link superviseWorkers}. */
export interface SuperviseOptions {
  /** How long stopped processes get between SIGTERM (or a forwarded signal) and SIGKILL. */
  graceMs: number;
  log: Logger;
  /** Receives every output line of every process, prefixed `[name] `; process.stderr by default. */
  output?: NodeJS.WritableStream;
  signals?: SignalSource;
}

/** How long to wait for a process to exit after SIGKILL before giving up on it (e.g. stuck in the kernel). */
const KILL_WAIT_MS = 5_000;
/** How long to wait for the last output after every process has exited; a grandchild may hold the pipe open. */
const DRAIN_MS = 1_000;
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** Whether an exit counts as a failure: anything but a clean exit code 0. */
export function isFailedExit(exit: SupervisedExit): boolean {
  return exit.code !== 0;
}

/**
 * The failure that brought the group down, or null when every process exited 0: a process
 * that failed on its own comes before one that died because the supervisor stopped it.
 */
export function firstFailure(exits: readonly SupervisedExit[]): SupervisedExit | null {
  return exits.find((e) => isFailedExit(e) && !e.stopped) ?? exits.find(isFailedExit) ?? null;
}

/** Says in words how a process ended, for logs. */
export function describeExit(exit: SupervisedExit): string {
  if (exit.error !== undefined) return exit.error;
  if (exit.signal !== null) return `killed by ${exit.signal}`;
  return `exited with code ${exit.code}`;
}

interface Supervised {
  launch: WorkerLaunch;
  child?: ChildProcess;
  exit?: SupervisedExit;
  /** Whether the supervisor has sent it a signal. */
  signalled: boolean;
  /** Why spawn() threw, when it did (then there is no child). */
  spawnError?: string;
  /** Resolves once both output streams have ended and their last lines are written. */
  drained: Promise<void>;
}

/**
 * Starts every launch and waits for all of them, as one unit: when one fails (non-zero
 * exit, death by a signal, or failure to start) the others get SIGTERM, and SIGKILL if
 * still alive after `graceMs`. SIGINT/SIGTERM sent to this process are forwarded to every
 * live process with the same escalation; a second one kills at once. Resolves, never
 * rejects, with one exit per launch in launch order; the caller picks the exit code.
 */
export async function superviseWorkers(launches: readonly WorkerLaunch[], options: SuperviseOptions): Promise<SupervisedExit[]> {
  const { graceMs, log } = options;
  const output = options.output ?? process.stderr;
  const signals = options.signals ?? process;
  if (launches.length === 0) return [];

  const procs: Supervised[] = [];
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  let finish!: () => void;
  const allExited = new Promise<void>((resolve) => (finish = resolve));

  const live = () => procs.filter((p) => p.exit === undefined && p.child?.pid !== undefined);
  const killLive = (signal: NodeJS.Signals) => {
    for (const p of live()) {
      p.signalled = true;
      p.child?.kill(signal);
    }
  };

  const record = (p: Supervised, ended: Omit<SupervisedExit, 'stopped'>) => {
    if (p.exit !== undefined) return;
    const exit: SupervisedExit = { ...ended, stopped: p.signalled };
    p.exit = exit;
    if (isFailedExit(exit) && !stopping) {
      log.warn({ worker: exit.name, code: exit.code, signal: exit.signal, error: exit.error }, `worker ${exit.name} failed first (${describeExit(exit)}); stopping the others`);
      stop('SIGTERM');
    }
    if (procs.every((q) => q.exit !== undefined)) finish();
  };

  // Escalates to SIGKILL after the grace period, then stops waiting for anything that still will not die.
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    killLive(signal);
    timers.push(
      setTimeout(() => {
        const stubborn = live();
        if (stubborn.length > 0) log.warn({ workers: stubborn.map((p) => p.launch.name) }, `still running ${graceMs} ms after ${signal}; sending SIGKILL`);
        killLive('SIGKILL');
        timers.push(setTimeout(abandon, KILL_WAIT_MS));
      }, graceMs),
    );
  };

  const abandon = () => {
    for (const p of live()) {
      log.error({ worker: p.launch.name, childPid: p.child?.pid }, 'still running after SIGKILL; no longer waiting for it');
      record(p, { name: p.launch.name, code: null, signal: null, error: `still running ${KILL_WAIT_MS} ms after SIGKILL` });
    }
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn(`received ${signal} while stopping; sending SIGKILL`);
      killLive('SIGKILL');
      timers.push(setTimeout(abandon, KILL_WAIT_MS));
      return;
    }
    log.warn(`received ${signal}; forwarding it to ${live().length} worker(s)`);
    stop(signal);
  };
  for (const s of FORWARDED_SIGNALS) signals.on(s, onSignal);

  for (const launch of launches) procs.push(start(launch, output, log));
  // Listeners go on only once every process exists, so a failure stops all the others.
  for (const p of procs) {
    const { child, launch } = p;
    if (child === undefined) {
      record(p, { name: launch.name, code: null, signal: null, error: p.spawnError });
      continue;
    }
    child.once('exit', (code, signal) => record(p, { name: launch.name, code, signal }));
    // Only a spawn failure matters here: a failed kill() of a running process also emits 'error'.
    child.on('error', (err) => {
      if (child.pid === undefined) record(p, { name: launch.name, code: null, signal: null, error: `could not start ${launch.command}: ${err.message}` });
    });
  }

  await allExited;
  for (const t of timers) clearTimeout(t);
  for (const s of FORWARDED_SIGNALS) signals.off(s, onSignal);
  await bounded(Promise.all(procs.map((p) => p.drained)), DRAIN_MS);
  for (const p of procs) {
    p.child?.stdout?.destroy();
    p.child?.stderr?.destroy();
  }
  return procs.map((p) => p.exit ?? { name: p.launch.name, code: null, signal: null, stopped: p.signalled, error: 'no exit recorded' });
}

/** Spawns one launch with its output piped, line by line, into `output`; a synchronous spawn failure is kept, not thrown. */
function start(launch: WorkerLaunch, output: NodeJS.WritableStream, log: Logger): Supervised {
  let child: ChildProcess;
  try {
    child = spawn(launch.command, launch.args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...launch.env } });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { launch, signalled: false, drained: Promise.resolve(), spawnError: `could not start ${launch.command}: ${message}` };
  }
  if (child.pid !== undefined) log.info({ worker: launch.name, childPid: child.pid }, `started worker ${launch.name}`);
  const prefix = `[${launch.name}] `;
  const drained = Promise.all(
    [child.stdout, child.stderr].map(
      (stream) =>
        new Promise<void>((resolve) => {
          if (stream === null) return resolve();
          // readline joins chunks, so a line split across reads is printed whole under one prefix.
          const lines = createInterface({ input: stream, crlfDelay: Infinity });
          lines.on('line', (line) => output.write(`${prefix}${line}\n`));
          lines.once('close', resolve);
        }),
    ),
  ).then(() => undefined);
  return { launch, child, signalled: false, drained };
}

/** Waits for a promise, but at most `ms`. */
async function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
