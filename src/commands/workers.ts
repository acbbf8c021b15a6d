import { execFile } from 'node:child_process';
import path from 'node:path';
import { NVIDIA_SMI_TIMEOUT_MS, parseNvidiaSmiList } from '../shared/backend/nvidia-smi';
import { ConfigInvalidError } from '../shared/errors';
import { ExitCode } from '../shared/exit-codes';
import type { Logger } from '../shared/log';
import { type DeviceRequest, parseGpuList, planWorkers, type WorkerSlot } from '../worker/launch-plan';
import type { RestartPolicy } from '../worker/slot-lifecycle';
import { describeSlotEnd, superviseWorkers, supervisorExitCode, type WorkerLaunch } from '../worker/supervisor';
import type { ClientSecurityFlags } from './control-security';

/** Options of `facefill workers`. */
export interface WorkersCommandOptions {
  /** How every worker reaches the coordinator (a join file's path, never a token, goes on their command lines). */
  security: ClientSecurityFlags;
  /** `all` or comma-separated GPU ordinals; exclusive with `cpu`. */
  gpus?: string;
  /** Number of CPU workers; exclusive with `gpus`. */
  cpu?: number;
  /** Extra arguments appended to every `facefill worker` command line. */
  workerArgs: string[];
  /** Passes `--allow-cpu-fallback` to every worker: a GPU worker computes on the CPU rather than exit when its GPU cannot be used. */
  allowCpuFallback?: boolean;
  /** Time between SIGTERM and SIGKILL when stopping workers; {@link DEFAULT_GRACE_MS} by default. */
  graceMs?: number;
  /** Restarts per worker after a crash; {@link DEFAULT_MAX_RESTARTS} by default. */
  maxRestarts?: number;
  /** Metrics port of the first worker; worker i gets this + i (0: any free port for all). */
  metricsPort: number;
  log: Logger;
}

/** Default time a worker gets to finish its step and leave cleanly before it is killed. */
export const DEFAULT_GRACE_MS = 15_000;
/** Default number of times a crashed worker is restarted before it is left down. */
export const DEFAULT_MAX_RESTARTS = 3;
/** The wait before a worker's first restart; it doubles each time up to the cap, so a worker that fails at once (a broken GPU) does not spin. */
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 30_000;

/**
 * `facefill workers`: starts one `facefill worker` per requested GPU (or N CPU workers) on
 * this host, restarts each one that crashes (at most `maxRestarts` times) and leaves down one
 * that cannot go on, while the others keep running. Returns the process exit code
 * ({@link supervisorExitCode}): 0 when every worker's last process exited 0.
 */
export async function runWorkers(o: WorkersCommandOptions): Promise<ExitCode> {
  const request = deviceRequest(o);
  const restarts = restartPolicy(o.maxRestarts ?? DEFAULT_MAX_RESTARTS);
  const detected = 'gpus' in request ? await detectGpus(o.log) : [];
  const slots = planWorkers(request, detected);
  const exits = await superviseWorkers(
    slots.map((slot) =>
      workerLaunch(slot, o.security, ['--metrics-port', String(o.metricsPort === 0 ? 0 : o.metricsPort + slot.local), ...(o.allowCpuFallback ? ['--allow-cpu-fallback'] : []), ...o.workerArgs]),
    ),
    { graceMs: o.graceMs ?? DEFAULT_GRACE_MS, restarts, log: o.log },
  );
  const code = supervisorExitCode(exits);
  if (code === ExitCode.FINISHED) o.log.info({ workers: exits.length }, 'all workers exited cleanly');
  else o.log.error({ exits, exitCode: code }, `workers ended: ${exits.map(describeSlotEnd).join('; ')}`);
  return code;
}

/** The `facefill worker` command line for one slot, run with this Node binary and the compiled CLI beside this file. */
export function workerLaunch(slot: WorkerSlot, security: ClientSecurityFlags, workerArgs: readonly string[]): WorkerLaunch {
  return {
    name: slot.gpu >= 0 ? `gpu ${slot.gpu}` : `cpu ${slot.local}`,
    command: process.execPath,
    args: [path.join(__dirname, '..', 'cli.js'), 'worker', ...securityArgs(security), '--gpu', String(slot.gpu), ...workerArgs],
    env: slot.env,
  };
}

// The security flags as a worker's command line: paths and an address only (FACEFILL_JOIN, if set, is inherited).
function securityArgs(s: ClientSecurityFlags): string[] {
  const flag = (name: string, value: string | undefined) => (value === undefined ? [] : [name, value]);
  return [...flag('--join', s.join), ...flag('--coordinator', s.coordinator), ...(s.insecure ? ['--insecure'] : []), ...flag('--tls-cert', s.tlsCert), ...flag('--tls-key', s.tlsKey)];
}

/** The restart policy of `facefill workers` (and the demo's workers): at most `maxRestarts` restarts per worker, 1 s, 2 s, 4 s … apart, capped. */
export function restartPolicy(maxRestarts: number): RestartPolicy {
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) throw new ConfigInvalidError(`--max-restarts ${maxRestarts}: expected 0 or more`);
  return { maxRestarts, backoffBaseMs: BACKOFF_BASE_MS, backoffCapMs: BACKOFF_CAP_MS };
}

function deviceRequest(o: Pick<WorkersCommandOptions, 'gpus' | 'cpu'>): DeviceRequest {
  if (o.gpus !== undefined && o.cpu === undefined) return { gpus: parseGpuList(o.gpus) };
  if (o.cpu !== undefined && o.gpus === undefined) return { cpu: o.cpu };
  throw new ConfigInvalidError(`facefill workers: expected exactly one of --gpus all|0,1,3 or --cpu N, got ${o.gpus === undefined ? 'neither' : 'both'}`);
}

/** GPU ordinals listed by `nvidia-smi -L`; none when it is missing, fails or hangs, so planWorkers reports it. */
function detectGpus(log: Logger): Promise<number[]> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['-L'], { timeout: NVIDIA_SMI_TIMEOUT_MS }, (err, stdout) => {
      if (err === null) return resolve(parseNvidiaSmiList(stdout).map((gpu) => gpu.index));
      // A missing binary simply means no NVIDIA GPU; anything else (no driver, timeout) deserves a word.
      if (err.code !== 'ENOENT') log.warn({ err: err.message }, 'nvidia-smi -L failed; treating this host as having no GPU');
      resolve([]);
    });
  });
}
