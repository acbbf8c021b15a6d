import { writeSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../backend/select';
import { BACKENDS, type BackendName } from '../config';
import { type BackendLoad, type ProbeEvent, probeEventLine, type StepOutcome } from './probe-protocol';
import { timeTinySteps, tinyStepConfig } from './tiny-step';

/*
 * A probe child: `node probe-child.js --backends tensorflow-gpu --step auto`. It loads each
 * listed backend in turn, then runs the timed tiny step on the one `--step` names (`auto`: the
 * first that loaded; `none`: no step), printing each event as it happens (probe-protocol.ts).
 *
 * Why a process of its own: a native backend that fails to load may leave the process in a
 * state no later attempt recovers from (a half-initialised CUDA context, libtensorflow's
 * globals), the two native packages both register 'tensorflow' and cannot share a process,
 * and only a process can be killed when a CUDA call or the first start's PTX JIT runs past
 * the doctor's bound. Starting one costs about a second (loading tfjs), measured on a 2-core
 * host; the doctor starts one per installed native package and one for wasm and cpu together.
 */

/** What a probe child was asked to do. */
export interface ProbeRequest {
  backends: BackendName[];
  step: 'auto' | 'none' | BackendName;
}

/** Parses a probe child's arguments; throws naming the bad one. */
export function parseProbeArgs(argv: readonly string[]): ProbeRequest {
  const value = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at < 0 ? undefined : argv[at + 1];
  };
  const backends = (value('--backends') ?? '').split(',').filter(Boolean);
  const unknown = backends.filter((b) => !isBackend(b));
  if (backends.length === 0 || unknown.length > 0) throw new Error(`--backends '${value('--backends') ?? ''}': expected a comma-separated list of ${BACKENDS.join(', ')}`);
  const step = value('--step') ?? 'none';
  if (step !== 'auto' && step !== 'none' && !isBackend(step)) throw new Error(`--step '${step}': expected auto, none or a backend`);
  return { backends: backends.filter(isBackend), step };
}

function isBackend(name: string): name is BackendName {
  return (BACKENDS as readonly string[]).includes(name);
}

/** Runs a probe as `request` says, telling `emit` each event as it happens (the child's main, apart from printing). */
export async function runProbe(request: ProbeRequest, emit: (event: ProbeEvent) => void): Promise<void> {
  const loaded: BackendName[] = [];
  for (const name of request.backends) {
    const result = await load(name);
    emit({ load: result });
    if (result.loaded) loaded.push(name);
  }
  const target = request.step === 'auto' ? loaded[0] : request.step === 'none' ? undefined : loaded.find((b) => b === request.step);
  if (target === undefined) return;
  emit({ stepStarted: target });
  emit({ step: await step(target) });
}

async function load(name: BackendName): Promise<BackendLoad> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    await selectBackend(name);
    // A backend that loads but cannot compute (a broken CUDA setup fails here) is not loaded.
    tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
    const native = backendFacts();
    return { name, loaded: true, loadSeconds: seconds(), usesGpu: native.usesGpu ?? (isNative(name) ? null : false), libtensorflow: native.libtensorflow };
  } catch (err) {
    return { name, loaded: false, reason: loadFailure(err), loadSeconds: seconds(), usesGpu: null, libtensorflow: null };
  }
}

async function step(name: BackendName): Promise<StepOutcome> {
  const config = tinyStepConfig();
  const base = { backend: name, imageSize: config.data.imageSize, batchSize: config.data.batchSize };
  try {
    await selectBackend(name);
    return { ...base, ok: true, ...(await timeTinySteps(config)) };
  } catch (err) {
    return { ...base, ok: false, error: firstLine(err), buildSeconds: null, firstStepSeconds: null, stepSeconds: null };
  }
}

const isNative = (name: BackendName) => name === 'tensorflow' || name === 'tensorflow-gpu';

/** What tfjs-node's backend object says of itself (fields of its NodeJSKernelBackend, read defensively: other backends lack them). */
function backendFacts(): { usesGpu: boolean | null; libtensorflow: string | null } {
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: unknown; binding?: { TF_Version?: unknown } };
  return {
    usesGpu: typeof backend.isUsingGpuDevice === 'boolean' ? backend.isUsingGpuDevice : null,
    libtensorflow: typeof backend.binding?.TF_Version === 'string' ? backend.binding.TF_Version : null,
  };
}

// selectBackend wraps the loader's error as "backend 'x' is unavailable (x: <reason>)": keep the reason.
function loadFailure(err: unknown): string {
  const text = firstLine(err);
  return /^backend '[^']+' is unavailable \([^:]+: (.*)\)$/.exec(text)?.[1] ?? text;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

if (require.main === module) {
  // Synchronous writes: a line is out before the next (possibly endless) step starts.
  const emit = (event: ProbeEvent) => writeSync(1, probeEventLine(event));
  Promise.resolve()
    .then(() => runProbe(parseProbeArgs(process.argv.slice(2)), emit))
    .catch((err: unknown) => {
      process.stderr.write(`probe failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    })
    // A native runtime may keep threads that hold the process open.
    .finally(() => process.exit());
}
