import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { freePort } from '../test/_free-port';

// Real `facefill` processes for benches that drive a cluster as a user would: started from
// the CLI (in a network namespace when asked), their JSON log lines kept with the time each
// was logged, every wait bounded.
const CLI = resolve(__dirname, '../src/cli.js');

/** One JSON log line of a process (pino: `time` in ms since the epoch, `level` 30 info, 40 warn, 50 error). */
export interface LogLine {
  time: number;
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When it ended (ms since the epoch). */
  atMs: number;
}

/** A started CLI process: its log lines as they come, its whole output, its exit. */
export interface Proc {
  name: string;
  child: ChildProcess;
  lines: LogLine[];
  /** Everything it printed so far (log lines and anything else). */
  output: () => string;
  exited: Promise<Exit>;
  /** The exit once it happened, else null. */
  exit: () => Exit | null;
  /** Resolves with the first line (already logged or to come) that `match` accepts; null when the process ends first or `ms` pass. */
  waitFor: (match: (l: LogLine) => boolean, ms: number) => Promise<LogLine | null>;
  /** Sends `signal` unless the process already ended. */
  kill: (signal: NodeJS.Signals) => void;
}

/** Starts `facefill <args>` logging at `level`; with `netns`, inside that network namespace (`ip netns exec` execs, so the pid is node's). */
export function startCli(name: string, args: string[], o: { level?: string; netns?: string } = {}): Proc {
  const argv = [CLI, ...args];
  const [command, commandArgs] = o.netns ? ['ip', ['netns', 'exec', o.netns, process.execPath, ...argv]] : [process.execPath, argv];
  const child = spawn(command, commandArgs, { env: { ...process.env, FACEFILL_LOG_LEVEL: o.level ?? 'info', FACEFILL_LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const listeners = new Set<(l: LogLine) => void>();
  let text = '';
  let partial = '';
  const take = (b: Buffer) => {
    const chunk = b.toString();
    text += chunk;
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const raw of parts) {
      if (!raw.startsWith('{')) continue;
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        continue;
      }
      lines.push(line);
      for (const l of listeners) l(line);
    }
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  let exit: Exit | null = null;
  const exited = new Promise<Exit>((done) => {
    child.on('exit', (code, signal) => done((exit = { code, signal, atMs: Date.now() })));
    child.on('error', () => done((exit = { code: null, signal: null, atMs: Date.now() })));
  });
  const waitFor = (match: (l: LogLine) => boolean, ms: number): Promise<LogLine | null> => {
    const seen = lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((done) => {
      const finish = (l: LogLine | null) => {
        clearTimeout(timer);
        listeners.delete(listener);
        done(l);
      };
      const listener = (l: LogLine) => match(l) && finish(l);
      const timer = setTimeout(() => finish(null), ms);
      listeners.add(listener);
      void exited.then(() => setImmediate(() => finish(lines.find(match) ?? null)));
    });
  };
  const kill = (signal: NodeJS.Signals) => {
    if (exit === null) child.kill(signal);
  };
  return { name, child, lines, output: () => text, exited, exit: () => exit, waitFor, kill };
}

/** Resolves with the process's exit, or with null once `ms` passed (the process is left running). */
export async function exitWithin(p: Proc, ms: number): Promise<Exit | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((done) => (timer = setTimeout(() => done(null), Math.max(0, ms))));
  try {
    return await Promise.race([p.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Where a cluster's processes run: loopback, or one network namespace per process. */
export interface Placement {
  /** The coordinator's control address as workers dial it. */
  address: string;
  /** Flags that make the coordinator listen there. */
  coordinatorArgs: string[];
  coordinatorNetns?: string;
  /** Worker i's namespace and the address it advertises (loopback: none; it finds its own). */
  worker: (i: number) => { netns?: string; host?: string };
}

/** Loopback placement on a free port. */
export async function loopback(): Promise<Placement> {
  const port = await freePort();
  return { address: `127.0.0.1:${port}`, coordinatorArgs: ['--port', String(port), '--bind', '127.0.0.1'], worker: () => ({}) };
}

/** What a cluster runs: its folders, config file, dataset and size. */
export interface ClusterSpec {
  /** Its run folder is `<root>/<name>`, worker i's work folder `<root>/<name>-w<i>`. */
  root: string;
  name: string;
  config: string;
  data: string;
  workers: number;
  minWorkers: number;
  placement: Placement;
  /** The coordinator's log level (default info). */
  coordinatorLogLevel?: string;
}

/** A coordinator and its workers, started from the CLI: the coordinator can be started again with --resume. */
export class Cluster {
  readonly out: string;
  /** The workers' join file. */
  readonly joinFile: string;
  readonly workers: Proc[];
  private coordinators: Proc[] = [];

  constructor(private readonly spec: ClusterSpec) {
    this.out = join(spec.root, spec.name);
    // Secure, as by default: the run's credentials made first (where the coordinator looks for
    // them), so that the workers started beside it have their join file.
    const credentials = join(this.out, 'credentials');
    execFileSync(process.execPath, [CLI, 'credentials', '--out', credentials, '--address', spec.placement.address], { stdio: 'ignore' });
    this.joinFile = join(credentials, 'join.json');
    this.startCoordinator(false);
    this.workers = Array.from({ length: spec.workers }, (_, i) => {
      const at = spec.placement.worker(i);
      const host = at.host ? ['--host', at.host] : [];
      const args = ['worker', '--join', this.joinFile, '--work-dir', `${this.out}-w${i}`, '--register-timeout', '60', '--metrics-port', '0', ...host];
      return startCli(`w${i}`, args, { netns: at.netns });
    });
  }

  /** The coordinator started last. */
  get coordinator(): Proc {
    return this.coordinators[this.coordinators.length - 1];
  }

  /** Starts `facefill coordinator` on this cluster's address, folder and config; `resume` takes up the run recorded there. */
  startCoordinator(resume: boolean): Proc {
    const { spec } = this;
    const args = [
      'coordinator', '--config', spec.config, '--data', spec.data, '--workers', String(spec.workers), '--min-workers', String(spec.minWorkers),
      ...spec.placement.coordinatorArgs, '--out', this.out, '--metrics-port', '0', '--failure-linger', '0', '--no-progress', '--exit-when-done',
      ...(resume ? ['--resume'] : []),
    ];
    const p = startCli(this.coordinators.length === 0 ? 'coord' : `coord#${this.coordinators.length + 1}`, args, { netns: spec.placement.coordinatorNetns, level: spec.coordinatorLogLevel });
    this.coordinators.push(p);
    return p;
  }

  /** Every process started, coordinators first. */
  get all(): Proc[] {
    return [...this.coordinators, ...this.workers];
  }

  /** SIGKILLs every process still running (a stopped one dies too: SIGKILL needs no SIGCONT). */
  killAll(): void {
    for (const p of this.all) p.kill('SIGKILL');
  }
}

/** How a process ended, in words: `exit 1`, `killed by SIGKILL`. */
export const exitText = (e: Exit): string => (e.signal ? `killed by ${e.signal}` : `exit ${e.code}`);

/** Each process's exit, its first and last warnings and errors, and its last lines, timed from `zeroMs`: what to read when a run went wrong. */
export function evidence(procs: readonly Proc[], zeroMs: number): string[] {
  const out: string[] = [];
  const at = (ms: number) => `${ms >= zeroMs ? '+' : ''}${((ms - zeroMs) / 1000).toFixed(1)}s`;
  const show = (l: LogLine) => {
    const err = (l.err as { message?: string } | undefined)?.message;
    const level = l.level >= 50 ? 'error' : l.level >= 40 ? 'warn' : 'info';
    return `${at(l.time)} ${level}: ${l.msg}${err && !l.msg.includes(err) ? ` (${err})` : ''}`.slice(0, 400);
  };
  for (const p of procs) {
    const exit = p.exit();
    out.push(`  ${p.name} (pid ${p.child.pid}): ${exit ? `${exitText(exit)} at ${at(exit.atMs)}` : 'still running'}`);
    const notable = p.lines.filter((l) => l.level >= 40 && l.time >= zeroMs);
    const picked = new Set([...notable.slice(0, 3), ...notable.slice(-3), ...p.lines.slice(-2)]);
    for (const l of p.lines.filter((x) => picked.has(x))) out.push(`    ${show(l)}`);
    const raw = p.output().split('\n').filter((t) => t.trim() !== '' && !t.startsWith('{')).slice(-4);
    for (const t of raw) out.push(`    ${t.slice(0, 400)}`);
  }
  return out;
}
