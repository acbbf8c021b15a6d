import { type ChildProcess, spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { ExitCode, exitCodeMeaning } from '../shared/exit-codes';
import type { Logger } from '../shared/log';
import { type ProcessEnd, type RestartPolicy, type SlotAction, type SlotEnd, type SlotEvent, type SlotState, startSlot, transition } from './slot-lifecycle';

/** One process for the supervisor to start, and to start again the same way after a crash. */
export interface WorkerLaunch {
  /** Short label (`gpu 0`, `cpu 1`) used to prefix the process's output and in logs. */
  name: string;
  command: string;
  args: readonly string[];
  /** Variables added to (not replacing) the supervisor's own environment. */
  env: Record<string, string>;
}

/** How one supervised slot ended for good: how its last process ended, why it was not restarted, and how often it was. */
export interface SupervisedExit extends ProcessEnd {
  name: string;
  why: SlotEnd;
  restarts: number;
}

/** Where the supervisor listens for SIGINT/SIGTERM; `process` unless a test passes an emitter. */
export type SignalSource = Pick<EventEmitter, 'on' | 'off'>;

/** Options of {@link superviseWorkers}. */
export interface SuperviseOptions {
  /** How long stopped processes get between SIGTERM (or a forwarded signal) and SIGKILL. */
  graceMs: number;
  /** When and how often a crashed process is started again. */
  restarts: RestartPolicy;
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

/** Says in words how a process ended, for logs. */
export function describeExit(end: ProcessEnd): string {
  if (end.error !== undefined) return end.error;
  if (end.signal !== null) return `killed by ${end.signal}`;
  const meaning = end.code === null ? undefined : exitCodeMeaning(end.code);
  return `exited with code ${end.code}${meaning === undefined ? '' : ` (${meaning})`}`;
}

/** Says in words how a slot ended for good, for logs: its name, how its last process ended, and its restarts. */
export function describeSlotEnd(exit: SupervisedExit): string {
  return `${exit.name} ${describeExit(exit)}${exit.restarts > 0 ? ` after ${exit.restarts} restart(s)` : ''}`;
}

/**
 * The exit code of a supervisor from how its slots ended: 0 only when every slot's last process
 * exited 0; else the least restartable code among them (usage, then run stopped), so whoever
 * started the supervisor knows whether starting it again can help; else 1.
 */
export function supervisorExitCode(exits: readonly SupervisedExit[]): ExitCode {
  const codes = exits.map((e) => (e.error === undefined && e.signal === null ? e.code : null));
  if (codes.every((c) => c === ExitCode.FINISHED)) return ExitCode.FINISHED;
  return [ExitCode.USAGE, ExitCode.RUN_STOPPED].find((c) => codes.includes(c)) ?? ExitCode.FAILED;
}

interface Slot {
  launch: WorkerLaunch;
  state: SlotState;
  /** The current process, once one was started. */
  child?: ChildProcess;
  /** Aborts the wait before a pending restart. */
  backoff?: AbortController;
}

/**
 * Starts one process per launch and supervises each slot on its own, like torch's local elastic
 * agent: a crash (exit code 1 or outside the exit-code contract, or a signal it was not sent) is
 * restarted after a growing backoff, at most `restarts.maxRestarts` times per slot; a slot whose
 * restarts are exhausted, or whose process exited 0, 2 or 3, stays down while the others go on.
 * SIGINT/SIGTERM sent to this process are forwarded to every live process, SIGKILL follows
 * after `graceMs` (at once on a second signal), and nothing is restarted after that. Resolves,
 * never rejects, once every slot has ended, with one exit per launch in launch order.
 */
export async function superviseWorkers(launches: readonly WorkerLaunch[], options: SuperviseOptions): Promise<SupervisedExit[]> {
  const { graceMs, restarts: policy, log } = options;
  const output = options.output ?? process.stderr;
  const signals = options.signals ?? process;
  if (launches.length === 0) return [];

  const slots: Slot[] = [];
  const children: ChildProcess[] = [];
  const drains: Promise<void>[] = [];
  // Aborted once every slot has ended, so no escalation timer outlives the supervision.
  const finished = new AbortController();
  const later = (ms: number, then: () => void) => void delay(ms, undefined, { signal: finished.signal }).then(then, () => undefined);
  let stopping = false;
  let allEnded!: () => void;
  const ended = new Promise<void>((resolve) => (allEnded = resolve));

  const dispatch = (slot: Slot, event: SlotEvent) => {
    const before = slot.state;
    const step = transition(before, event, policy);
    slot.state = step.state;
    for (const action of step.actions) carryOut(slot, action);
    if (step.state.kind === 'ended' && before.kind !== 'ended') {
      logEnd(slot.launch.name, step.state, slots.filter((s) => s.state.kind !== 'ended').length, log);
      if (slots.every((s) => s.state.kind === 'ended')) allEnded();
    }
  };

  const carryOut = (slot: Slot, action: SlotAction) => {
    const { name } = slot.launch;
    switch (action.kind) {
      case 'spawn': {
        slot.child = undefined;
        const started = start(slot.launch, output, log, slot.state.restarts);
        if ('error' in started) {
          // Told on the next tick, as a failure to start is when spawn() does not throw.
          process.nextTick(() => dispatch(slot, { kind: 'exit', end: { code: null, signal: null, error: started.error } }));
          return;
        }
        const { child } = started;
        slot.child = child;
        children.push(child);
        drains.push(started.drained);
        child.once('exit', (code, signal) => {
          if (child.pid !== undefined) dispatch(slot, { kind: 'exit', end: { code, signal } });
        });
        // Only a spawn failure matters here: a failed kill() of a running process also emits 'error'.
        child.on('error', (err) => {
          if (child.pid === undefined) dispatch(slot, { kind: 'exit', end: { code: null, signal: null, error: `could not start ${slot.launch.command}: ${err.message}` } });
        });
        return;
      }
      case 'signal':
        slot.child?.kill(action.signal);
        return;
      case 'schedule-restart': {
        const { restart, delayMs, after } = action;
        log.warn(
          { worker: name, code: after.code, signal: after.signal, restart, maxRestarts: policy.maxRestarts, backoffMs: delayMs },
          `worker ${name} ${describeExit(after)}; restart ${restart} of ${policy.maxRestarts} in ${delayMs} ms`,
        );
        const backoff = new AbortController();
        slot.backoff = backoff;
        void delay(delayMs, undefined, { signal: backoff.signal }).then(() => dispatch(slot, { kind: 'backoff-elapsed' }), () => undefined);
        return;
      }
      case 'cancel-restart':
        slot.backoff?.abort();
        return;
    }
  };

  const stopAll = (signal: NodeJS.Signals) => {
    for (const slot of slots) dispatch(slot, { kind: 'stop-requested', signal });
  };
  // Stops waiting for a process that will not die even of SIGKILL.
  const abandonLater = () =>
    later(KILL_WAIT_MS, () => {
      for (const slot of slots.filter((s) => s.state.kind === 'stopping')) {
        log.error({ worker: slot.launch.name, childPid: slot.child?.pid }, 'still running after SIGKILL; no longer waiting for it');
        dispatch(slot, { kind: 'exit', end: { code: null, signal: null, error: `still running ${KILL_WAIT_MS} ms after SIGKILL` } });
      }
    });

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn(`received ${signal} while stopping; sending SIGKILL`);
      stopAll('SIGKILL');
      abandonLater();
      return;
    }
    stopping = true;
    log.warn(`received ${signal}; forwarding it to ${slots.filter((s) => s.state.kind === 'running').length} worker(s) and restarting none`);
    stopAll(signal);
    later(graceMs, () => {
      const stubborn = slots.filter((s) => s.state.kind === 'stopping').map((s) => s.launch.name);
      if (stubborn.length === 0) return;
      log.warn({ workers: stubborn }, `still running ${graceMs} ms after ${signal}; sending SIGKILL`);
      stopAll('SIGKILL');
      abandonLater();
    });
  };
  for (const s of FORWARDED_SIGNALS) signals.on(s, onSignal);

  for (const launch of launches) {
    const first = startSlot();
    const slot: Slot = { launch, state: first.state };
    slots.push(slot);
    for (const action of first.actions) carryOut(slot, action);
  }
  await ended;
  finished.abort();
  for (const s of FORWARDED_SIGNALS) signals.off(s, onSignal);
  // A grandchild may hold a pipe open: wait a little for the last lines, then cut the pipes.
  await Promise.race([Promise.all(drains), delay(DRAIN_MS, undefined, { ref: false })]);
  for (const child of children) {
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
  return slots.map(({ launch, state }) => {
    if (state.kind !== 'ended') throw new Error(`unreachable: slot ${launch.name} is ${state.kind} after every slot ended`);
    return { name: launch.name, ...state.exit, why: state.why, restarts: state.restarts };
  });
}

function logEnd(name: string, state: Extract<SlotState, { kind: 'ended' }>, stillUp: number, log: Logger): void {
  const how = describeExit(state.exit);
  const fields = { worker: name, code: state.exit.code, signal: state.exit.signal, error: state.exit.error, why: state.why, restarts: state.restarts };
  const others = stillUp === 0 ? 'no other worker is running' : `${stillUp} other worker(s) keep running`;
  switch (state.why) {
    case 'finished':
      return log.info(fields, `worker ${name} finished`);
    case 'stopped':
      return log.info(fields, `worker ${name} stopped (${how})`);
    case 'not-restartable':
      return log.error(fields, `worker ${name} ${how}: a restart cannot help, so it stays down; ${others}`);
    case 'restarts-exhausted':
      return log.error(fields, `worker ${name} ${how} after ${state.restarts} restart(s), the most allowed; it stays down; ${others}`);
  }
}

/** Spawns one launch with its output piped, line by line, into `output`; a synchronous spawn failure is returned, not thrown. */
function start(launch: WorkerLaunch, output: NodeJS.WritableStream, log: Logger, restarts: number): { child: ChildProcess; drained: Promise<void> } | { error: string } {
  let child: ChildProcess;
  try {
    child = spawn(launch.command, launch.args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...launch.env } });
  } catch (err) {
    return { error: `could not start ${launch.command}: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (child.pid !== undefined) log.info({ worker: launch.name, childPid: child.pid, restarts }, `started worker ${launch.name}${restarts > 0 ? ` (restart ${restarts})` : ''}`);
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
  return { child, drained };
}
