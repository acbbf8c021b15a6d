import { spawn } from 'node:child_process';

/** How a bounded run ended: exited 0, the program is not installed, it failed, or it ran past its time and was killed. */
export type RunStatus = 'ok' | 'absent' | 'failed' | 'timeout';

/** What a bounded run printed and how it ended. */
export interface RunOutcome {
  status: RunStatus;
  /** Exit code, or null when it was killed or never started. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why it did not run, or how it died, in a few words; empty when it exited 0. */
  detail: string;
  seconds: number;
}

/** Limits of a bounded run. */
export interface RunLimits {
  /** Past this the process is killed (SIGKILL: a hung driver call ignores SIGTERM). */
  timeoutMs: number;
  /** Its whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Bytes of each stream kept; past it the oldest are dropped, since the end says why a program stopped. */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 4 * 2 ** 20;

/**
 * Runs a program (no shell) to its end or to its time limit, whichever comes first, and
 * resolves with what it printed; never rejects. Every blocking step of `facefill doctor`, and
 * a GPU worker's look at why its GPU went unused, goes through here, so none can hang: a CUDA
 * driver call that never returns, a PTX JIT that takes half an hour, an nvidia-smi waiting on
 * a wedged GPU.
 */
export function runBounded(command: string, args: readonly string[], limits: RunLimits): Promise<RunOutcome> {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: limits.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = new Tail(maxBytes);
    const err = new Tail(maxBytes);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limits.timeoutMs);
    const finish = (o: Omit<RunOutcome, 'stdout' | 'stderr' | 'seconds'>) => {
      clearTimeout(timer);
      resolve({ ...o, stdout: out.text(), stderr: err.text(), seconds: (performance.now() - started) / 1000 });
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') finish({ status: 'absent', code: null, detail: `${command} not found` });
      else finish({ status: 'failed', code: null, detail: `${command} could not start: ${e.message}` });
    });
    child.once('close', (code, signal) => {
      if (timedOut) finish({ status: 'timeout', code: null, detail: `${command} did not finish within ${limits.timeoutMs / 1000} s and was killed` });
      else if (code === 0) finish({ status: 'ok', code, detail: '' });
      else finish({ status: 'failed', code, detail: signal ? `${command} was killed by ${signal}` : `${command} exited ${code}` });
    });
  });
}

/** The last `max` bytes of a stream. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0].length >= this.max) this.size -= this.chunks.shift()?.length ?? 0;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString('utf8');
  }
}
