import * as tf from '@tensorflow/tfjs';
import { BACKENDS, type BackendName } from '../config/schema';
import { BackendUnavailableError } from '../errors';
import type { Logger } from '../log';
import { registerWasmConvGradients } from './wasm-kernels';

/** The backend a process computes on, and why the ones before it in the order were passed over. */
export interface SelectedBackend {
  name: BackendName;
  /** Backends tried before it, each with the reason it could not load. */
  skipped: { name: BackendName; reason: string }[];
}

// tfjs-node and tfjs-node-gpu are optional native packages: loaded with a guarded
// require so that this file compiles and runs where they are not installed.
const loaders: Record<BackendName, () => Promise<void>> = {
  'tensorflow-gpu': () => loadNative('@tensorflow/tfjs-node-gpu'),
  tensorflow: () => loadNative('@tensorflow/tfjs-node'),
  wasm: async () => {
    require('@tensorflow/tfjs-backend-wasm');
    registerWasmConvGradients();
    await activate('wasm');
  },
  cpu: () => activate('cpu'),
};

/**
 * Activates a tensor backend: the preferred one, or with `auto` the first that loads of
 * tensorflow-gpu → tensorflow → wasm → cpu. Logs the one in use. Model code is backend-agnostic.
 */
export async function selectBackend(preference: 'auto' | BackendName, log?: Logger): Promise<SelectedBackend> {
  // Production mode: tfjs otherwise prints console banners (such as advice to install
  // tfjs-node) through the command's output; the backend in use is logged here instead.
  tf.env().set('PROD', true);
  const order = preference === 'auto' ? BACKENDS : [preference];
  const skipped: SelectedBackend['skipped'] = [];
  for (const name of order) {
    try {
      await loaders[name]();
      for (const s of skipped) log?.debug({ backend: s.name, reason: s.reason }, 'backend unavailable');
      log?.info({ backend: name, requested: preference }, `tensor backend: ${name}`);
      return { name, skipped };
    } catch (err) {
      skipped.push({ name, reason: firstLine(err) });
    }
  }
  const reasons = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new BackendUnavailableError(`backend '${preference}' is unavailable (${reasons})`);
}

async function loadNative(pkg: string): Promise<void> {
  require(pkg);
  await activate('tensorflow');
}

async function activate(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
  await tf.ready();
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
