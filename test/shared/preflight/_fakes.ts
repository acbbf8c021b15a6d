import type { BackendProber } from '../../../src/shared/preflight/backend-survey';
import type { HostFacts } from '../../../src/shared/preflight/preflight';
import type { ProbeRequest } from '../../../src/shared/preflight/probe-child';
import { type ProbeEvent, probeEventLine } from '../../../src/shared/preflight/probe-protocol';
import type { BackendStatus } from '../../../src/shared/preflight/report';
import type { RunOutcome } from '../../../src/shared/util/bounded-run';

/** A finished run that printed `stdout` and `stderr`. */
export function outcome(over: Partial<RunOutcome> = {}): RunOutcome {
  return { status: 'ok', code: 0, stdout: '', stderr: '', detail: '', seconds: 0.1, ...over };
}

/** The stdout of a probe child that reported these events. */
export const events = (...list: ProbeEvent[]): string => list.map(probeEventLine).join('');

/** A backend that loaded, as a probe child reports it. */
export const loaded = (name: BackendStatus['name'], usesGpu: boolean | null = false): ProbeEvent => ({ load: { name, loaded: true, loadSeconds: 0.5, usesGpu, libtensorflow: null } });

/** A step that ran, as a probe child reports it. */
export const stepped = (backend: BackendStatus['name']): ProbeEvent => ({
  step: { backend, ok: true, imageSize: 32, batchSize: 4, buildSeconds: 0.1, firstStepSeconds: 0.5, stepSeconds: 0.2 },
});

/** A prober whose packages are `installed` and whose children answer with `answer`; it records each request. */
export function fakeProber(installed: readonly string[], answer: (r: ProbeRequest) => RunOutcome): BackendProber & { requests: ProbeRequest[] } {
  const requests: ProbeRequest[] = [];
  return {
    requests,
    isInstalled: (pkg) => installed.includes(pkg),
    probe: async (r) => {
      requests.push(r);
      return answer(r);
    },
  };
}

/** The wasm-and-cpu child of a host where both load and the step runs on the first. */
export const portableChild = (r: ProbeRequest): RunOutcome =>
  outcome({ stdout: events(...r.backends.map((b) => loaded(b)), ...(r.step === 'none' ? [] : [stepped(r.step === 'auto' ? r.backends[0] : r.step)])) });

/** A host whose programs answer from `programs` (by command, then absent) and whose other facts are plain. */
export function fakeHost(programs: Record<string, RunOutcome | ((args: readonly string[]) => RunOutcome)> = {}, over: Partial<HostFacts> = {}): HostFacts {
  return {
    nodeVersion: '20.20.2',
    os: 'linux',
    arch: 'x64',
    env: {},
    run: async (command, args) => {
      const p = programs[command];
      if (p === undefined) return outcome({ status: 'absent', code: null, detail: `${command} not found` });
      return typeof p === 'function' ? p(args) : p;
    },
    listDirectory: async () => [],
    zeromq: () => ({ version: '4.3.5', curve: true, error: null }),
    disk: async (workDir) => ({ workDir, measured: workDir, freeBytes: 50 * 2 ** 30, totalBytes: 100 * 2 ** 30, marginBytes: 2 ** 30, error: null }),
    ...over,
  };
}
