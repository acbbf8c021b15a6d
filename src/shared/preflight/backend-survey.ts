import { parseTensorflowLog, type TensorflowGpuLog } from '../backend/tensorflow-log';
import type { BackendName } from '../config';
import type { RunOutcome } from '../util/bounded-run';
import type { ProbeRequest } from './probe-child';
import { type ProbeReport, readProbeEvents, type StepOutcome } from './probe-protocol';
import type { BackendStatus } from './report';
import { tinyStepConfig } from './tiny-step';

/** The npm package each native backend loads (the others ship with @tensorflow/tfjs). */
export const NATIVE_PACKAGES = { 'tensorflow-gpu': '@tensorflow/tfjs-node-gpu', tensorflow: '@tensorflow/tfjs-node' } as const;

/** The backends a probe child of their own loads, each alone (they both register 'tensorflow'). */
const NATIVE: readonly (keyof typeof NATIVE_PACKAGES)[] = ['tensorflow-gpu', 'tensorflow'];
/** The backends one shared probe child loads: JavaScript and WebAssembly, nothing a failure could poison. */
const PORTABLE: readonly BackendName[] = ['wasm', 'cpu'];

/** How the survey reaches packages and probe children (real ones in host-probes.ts, fakes in tests). */
export interface BackendProber {
  /** Whether an npm package resolves from facefill's code. */
  isInstalled(pkg: string): boolean;
  /** Runs a probe child to its end or its time limit. */
  probe(request: ProbeRequest): Promise<RunOutcome>;
}

/** Every backend's status, the one a worker would choose, its timed step, and TensorFlow's own GPU log. */
export interface BackendSurvey {
  backends: BackendStatus[];
  chosen: BackendName | null;
  step: StepOutcome | null;
  /** What libtensorflow-gpu logged while loading (null when tfjs-node-gpu is not installed). */
  gpuLog: TensorflowGpuLog | null;
}

/**
 * Tries every backend in auto's order (tensorflow-gpu, tensorflow, wasm, cpu), each native one
 * in a probe child of its own and only when its package is installed, and times the tiny step
 * in the child of the backend a worker would choose: the first that loads among those
 * `preference` allows. The order is sequential because the choice of where to step depends on
 * the loads before it; the children of packages that are not installed are never started.
 */
export async function surveyBackends(preference: 'auto' | BackendName, prober: BackendProber): Promise<BackendSurvey> {
  const wanted = (name: BackendName) => preference === 'auto' || preference === name;
  const statuses: BackendStatus[] = [];
  let chosen: BackendName | null = null;
  let step: StepOutcome | null = null;
  let gpuLog: TensorflowGpuLog | null = null;
  for (const name of NATIVE) {
    const pkg = NATIVE_PACKAGES[name];
    if (!prober.isInstalled(pkg)) {
      statuses.push(status(name, pkg, { reason: `${pkg} is not installed` }));
      continue;
    }
    const stepHere = chosen === null && wanted(name);
    const run = await prober.probe({ backends: [name], step: stepHere ? name : 'none' });
    if (name === 'tensorflow-gpu') gpuLog = parseTensorflowLog(run.stderr);
    const report = readProbeEvents(run.stdout);
    const s = fromReport(name, pkg, report, run);
    statuses.push(s);
    if (stepHere && s.loaded) {
      chosen = name;
      step = stepOf(name, report, run);
    }
  }
  const portable = PORTABLE;
  const stepTarget = chosen !== null ? 'none' : preference === 'auto' ? 'auto' : portable.includes(preference) ? preference : 'none';
  const run = await prober.probe({ backends: [...portable], step: stepTarget });
  const report = readProbeEvents(run.stdout);
  for (const name of portable) statuses.push(fromReport(name, null, report, run));
  if (chosen === null) {
    const first = statuses.find((s) => portable.includes(s.name) && s.loaded && wanted(s.name));
    if (first) {
      chosen = first.name;
      step = stepOf(first.name, report, run);
    }
  }
  return { backends: statuses, chosen, step, gpuLog };
}

function status(name: BackendName, pkg: string | null, over: Partial<BackendStatus>): BackendStatus {
  return { name, package: pkg, loaded: false, reason: null, loadSeconds: null, usesGpu: null, libtensorflow: null, ...over };
}

/** A backend's status from its child's report; a child that ended before reporting it says why. */
function fromReport(name: BackendName, pkg: string | null, report: ProbeReport, run: RunOutcome): BackendStatus {
  const load = report.backends.find((b) => b.name === name);
  if (!load) return status(name, pkg, { reason: `its probe ended before loading it: ${childEnd(run)}` });
  return status(name, pkg, { loaded: load.loaded, reason: load.reason ?? null, loadSeconds: load.loadSeconds, usesGpu: load.usesGpu, libtensorflow: load.libtensorflow });
}

/** The step's outcome, or, for a child that ended mid-step (killed at its time limit, crashed), a failed step saying so. */
function stepOf(name: BackendName, report: ProbeReport, run: RunOutcome): StepOutcome {
  if (report.step?.backend === name) return report.step;
  const config = tinyStepConfig();
  const why = report.stepStarted === name ? `the step did not finish: ${childEnd(run)}` : `the step never started: ${childEnd(run)}`;
  return { backend: name, ok: false, error: why, imageSize: config.data.imageSize, batchSize: config.data.batchSize, buildSeconds: null, firstStepSeconds: null, stepSeconds: null };
}

function childEnd(run: RunOutcome): string {
  const lastError = run.stderr.trim().split('\n').at(-1);
  return run.status === 'ok' ? 'it exited without a word' : `${run.detail}${run.status === 'failed' && lastError ? ` (${lastError})` : ''}`;
}
