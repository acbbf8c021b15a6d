import * as tf from '@tensorflow/tfjs';
import { BACKENDS, type BackendName } from '../config/schema';
import { BackendUnavailableError } from '../errors';
import type { Logger } from '../log';
import type { BackendLoader, SelectedBackend, SkippedBackend, TfjsBackendId } from './api';
import { registerWasmConvGradients } from './wasm-kernels';
import { registerWasmSamePaddingFix } from './wasm-same-padding';

// tfjs-node and tfjs-node-gpu are optional native packages: loaded with a guarded
// require so that this file compiles and runs where they are not installed.
const LOADERS: Record<BackendName, BackendLoader> = {
  'tensorflow-gpu': native('tensorflow-gpu', '@tensorflow/tfjs-node-gpu'),
  tensorflow: native('tensorflow', '@tensorflow/tfjs-node'),
  wasm: {
    name: 'wasm',
    tfjsBackend: 'wasm',
    async load() {
      require('@tensorflow/tfjs-backend-wasm');
      registerWasmSamePaddingFix();
      registerWasmConvGradients();
      await activate('wasm');
    },
  },
  cpu: { name: 'cpu', tfjsBackend: 'cpu', load: () => activate('cpu') },
};

/**
 * Activates a tensor backend: the preferred one, or with `auto` the first that loads of
 * tensorflow-gpu → tensorflow → wasm → cpu. Logs the one in use (info) and why each one
 * before it was skipped (debug). Safe to call again, with the same or another preference.
 * @throws BackendUnavailableError when the preferred backend (or, with `auto`, every one) cannot load.
 */
export async function selectBackend(preference: 'auto' | BackendName, log?: Logger): Promise<SelectedBackend> {
  // Production mode: tfjs otherwise prints console banners (such as advice to install
  // tfjs-node) through the command's output; the backend in use is logged here instead.
  tf.env().set('PROD', true);
  const order = preference === 'auto' ? BACKENDS : [preference];
  const skipped: SkippedBackend[] = [];
  for (const name of order) {
    const loader = LOADERS[name];
    try {
      await loader.load();
    } catch (err) {
      skipped.push({ name, reason: firstLine(err) });
      continue;
    }
    for (const s of skipped) log?.debug({ backend: s.name, reason: s.reason }, `tensor backend ${s.name} skipped`);
    log?.info({ backend: name, requested: preference }, `tensor backend: ${name}`);
    return { name, tfjsBackend: loader.tfjsBackend, skipped };
  }
  const reasons = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new BackendUnavailableError(`backend '${preference}' is unavailable (${reasons})`);
}

function native(name: BackendName, pkg: string): BackendLoader {
  return {
    name,
    tfjsBackend: 'tensorflow',
    async load() {
      require(pkg);
      await activate('tensorflow');
    },
  };
}

async function activate(id: TfjsBackendId): Promise<void> {
  if (!(await tf.setBackend(id))) throw new Error(`tf.setBackend('${id}') failed`);
  await tf.ready();
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
