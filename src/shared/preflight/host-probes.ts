import { readdir, statfs as nodeStatfs } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { runBounded } from '../util/bounded-run';
import { MIN_FREE_BYTES, MIN_FREE_FRACTION, type StatFs } from '../util/disk-space';
import type { BackendProber } from './backend-survey';
import type { HostFacts } from './preflight';
import type { ProbeRequest } from './probe-child';
import type { DiskStatus, ZeromqStatus } from './report';

/** The real host: this process's Node, environment and file systems; programs run under runBounded. */
export function hostFacts(statfs: StatFs = nodeStatfs): HostFacts {
  return {
    nodeVersion: process.versions.node,
    os: process.platform,
    arch: process.arch,
    env: process.env,
    run: (command, args, timeoutMs) => runBounded(command, args, { timeoutMs }),
    listDirectory: (dir) => readdir(dir).catch(() => []),
    zeromq: zeromqStatus,
    disk: (workDir) => diskStatus(workDir, statfs),
  };
}

/**
 * Probe children started with this Node on probe-child.js beside this file, each with `env`
 * and killed past `timeoutMs`.
 */
export function childProber(env: NodeJS.ProcessEnv, timeoutMs: number): BackendProber {
  return {
    isInstalled(pkg) {
      try {
        require.resolve(pkg);
        return true;
      } catch {
        return false;
      }
    },
    probe: (request: ProbeRequest) => runBounded(process.execPath, [join(__dirname, 'probe-child.js'), '--backends', request.backends.join(','), '--step', request.step], { timeoutMs, env }),
  };
}

/**
 * The zeromq binding's libzmq version and CURVE support. Loaded in this process: it is the
 * binding every worker loads anyway, and a require that fails throws, which is caught here.
 */
function zeromqStatus(): ZeromqStatus {
  try {
    const zmq = require('zeromq') as typeof import('zeromq');
    return { version: zmq.version, curve: zmq.capability.curve === true, error: null };
  } catch (err) {
    return { version: null, curve: false, error: (err instanceof Error ? err.message : String(err)).split('\n')[0] };
  }
}

/** Free space of the work directory's file system (its nearest existing ancestor's, before it exists). */
export async function diskStatus(workDir: string, statfs: StatFs): Promise<DiskStatus> {
  const base = { workDir: resolve(workDir), measured: null, freeBytes: null, totalBytes: null, marginBytes: null };
  for (let p = resolve(workDir); ; p = dirname(p)) {
    try {
      const s = await statfs(p);
      const total = s.blocks * s.bsize;
      return { ...base, measured: p, freeBytes: s.bavail * s.bsize, totalBytes: total, marginBytes: Math.max(MIN_FREE_BYTES, Math.ceil(total * MIN_FREE_FRACTION)), error: null };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || p === dirname(p)) return { ...base, error: (err as Error).message };
    }
  }
}
