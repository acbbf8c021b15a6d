import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { ConfigOverlay } from '../../src/shared/config';
import type { ControlClient } from '../../src/shared/control/client';
import { writeClusterConfig } from '../_cluster-config';
import { makeRunCredentials } from '../_run-credentials';
import { freePort } from '../_free-port';

// Real processes on loopback: coordinators and workers started as a user would, from the CLI.
const CLI = resolve(__dirname, '../../src/cli.js');

/** A started CLI process: its child, everything it printed so far, and its exit. */
export interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

/** Starts `facefill <args>` with warnings and errors logged. */
export function cli(args: string[]): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, FACEFILL_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (b: Buffer) => (text += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (text += b.toString()));
  const started = performance.now();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((done) =>
    child.on('exit', (code, signal) => done({ code, signal, ms: performance.now() - started })),
  );
  return { child, output: () => text, exited };
}

/** Resolves with the exit, or rejects (killing the process) when it takes longer than `ms`. */
export async function within(p: Proc, ms: number, what: string) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.child.kill('SIGKILL');
      reject(new Error(`${what} did not exit within ${ms} ms; output:\n${p.output()}`));
    }, ms);
  });
  try {
    return await Promise.race([p.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `probe` until it gives a value; on timeout the error carries the processes' output. */
export async function until<T>(probe: () => Promise<T | null>, ms: number, what: string, procs: Proc[] = []): Promise<T> {
  const deadline = performance.now() + ms;
  let last = '';
  while (performance.now() < deadline) {
    const v = await probe().catch((err: Error) => ((last = err.message), null));
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  const outputs = procs.map((p, i) => `--- process ${i}:\n${p.output()}`).join('\n');
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last error: ${last || 'none'})\n${outputs}`);
}

/** A local cluster's parts: where it listens, its run folder, its processes. */
export interface Cluster {
  port: number;
  address: string;
  out: string;
  config: string;
  /** The workers' join file (the run's credentials are made before the coordinator starts). */
  joinFile: string;
  /** A client holding the run token, as a user's `facefill status` is; the caller closes it. */
  client: () => Promise<ControlClient>;
  coordinator: Proc;
  ranks: Proc[];
  /** Starts `facefill coordinator` on this cluster's port, folder and config (again, with --resume, after a kill). */
  startCoordinator: (extra?: string[]) => Proc;
  /** Starts one more worker (work dir `<name>-w<i>`). */
  startWorker: (i: number, extra?: string[]) => Proc;
  /** Kills every process still running. */
  kill: () => void;
}

/** What a local cluster runs: its config (over the tiny cluster config), size and flags. */
export interface ClusterSpec {
  root: string;
  data: string;
  name: string;
  workers: number;
  config: Omit<ConfigOverlay, 'data'>;
  coordinatorArgs?: string[];
  /** Extra flags of worker i. */
  workerArgs?: (i: number) => string[];
  /** Workers started with the coordinator (default: all). */
  start?: number;
}

/** Starts a coordinator and its workers on loopback. */
export async function startCluster(spec: ClusterSpec): Promise<Cluster> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const out = join(spec.root, spec.name);
  const config = writeClusterConfig(join(spec.root, `${spec.name}.json`), spec.config);
  const credentials = await makeRunCredentials(out, address);
  const procs: Proc[] = [];
  const startCoordinator = (extra: string[] = []) => {
    const p = cli(['coordinator', '--config', config, '--data', spec.data, '--workers', String(spec.workers), '--port', String(port), '--bind', '127.0.0.1', '--out', out, '--metrics-port', '0', '--failure-linger', '0', '--no-progress', ...(spec.coordinatorArgs ?? []), ...extra]);
    procs.push(p);
    return p;
  };
  const startWorker = (i: number, extra: string[] = []) => {
    const p = cli(['worker', '--join', credentials.joinFile, '--work-dir', join(spec.root, `${spec.name}-w${i}`), '--register-timeout', '60', '--metrics-port', '0', ...(spec.workerArgs?.(i) ?? []), ...extra]);
    procs.push(p);
    return p;
  };
  const coordinator = startCoordinator();
  const ranks = Array.from({ length: spec.start ?? spec.workers }, (_, i) => startWorker(i));
  return { port, address, out, config, joinFile: credentials.joinFile, client: credentials.client, coordinator, ranks, startCoordinator, startWorker, kill: () => procs.forEach((p) => p.child.kill('SIGKILL')) };
}
