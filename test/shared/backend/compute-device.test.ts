import test from 'ava';
import pino from 'pino';
import type { BackendName, BackendProbe, SelectedBackend } from '../../../src/shared/backend/api';
import { selectComputeBackend } from '../../../src/shared/backend/compute-device';
import { BackendUnavailableError, ConfigInvalidError, GpuUnavailableError } from '../../../src/shared/errors';
import { ExitCode, exitCodeFor } from '../../../src/shared/exit-codes';

const NO_CUDART = "2024-08-24 15:40:49.279326: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library 'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared object file: No such file or directory";
const NO_CUDNN = "2024-08-24 15:40:49.412001: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or directory";

/** A probe whose selection gives `selected` (or throws it), whose 'tensorflow' backend is `tensorflow`, and whose GPU load printed `transcript`. */
function fakeProbe(selected: SelectedBackend | Error, tensorflow?: object, transcript = ''): BackendProbe & { asked: ('auto' | BackendName)[]; transcripts: number } {
  const probe = {
    asked: [] as ('auto' | BackendName)[],
    transcripts: 0,
    select: async (preference: 'auto' | BackendName) => {
      probe.asked.push(preference);
      if (selected instanceof Error) throw selected;
      return selected;
    },
    find: (id: string) => (id === 'tensorflow' ? tensorflow : undefined),
    gpuLoadTranscript: async () => {
      probe.transcripts++;
      return transcript;
    },
  };
  return probe;
}

/** tfjs-node-gpu's backend, as tfjs registers it: `isUsingGpuDevice` says whether TensorFlow found a GPU device. */
const tfjsNodeBackend = (isUsingGpuDevice: boolean) => ({ isUsingGpuDevice, binding: {} });
const gpuLoaded: SelectedBackend = { name: 'tensorflow-gpu', tfjsBackend: 'tensorflow', skipped: [] };
const fellToWasm: SelectedBackend = {
  name: 'wasm',
  tfjsBackend: 'wasm',
  skipped: [
    { name: 'tensorflow-gpu', reason: "Cannot find module '@tensorflow/tfjs-node-gpu'" },
    { name: 'tensorflow', reason: "Cannot find module '@tensorflow/tfjs-node'" },
  ],
};

function memoryLog() {
  const records: { level: number; msg: string }[] = [];
  return { log: pino({ level: 'warn' }, { write: (line: string) => void records.push(JSON.parse(line) as { level: number; msg: string }) }), records };
}

test('a GPU worker whose tfjs-node-gpu backend is on its GPU device computes on gpu, with no diagnosis run', async (t) => {
  const probe = fakeProbe(gpuLoaded, tfjsNodeBackend(true));
  const chosen = await selectComputeBackend({ preference: 'auto', gpu: 0, allowCpuFallback: false, probe });
  t.is(chosen.device, 'gpu');
  t.is(chosen.name, 'tensorflow-gpu');
  t.is(probe.transcripts, 0);
});

test('tfjs-node-gpu loaded without a GPU device (libtensorflow went on on the CPU): an error naming the GPU and the libraries it could not load, exit 2', async (t) => {
  const probe = fakeProbe(gpuLoaded, tfjsNodeBackend(false), `${NO_CUDART}\n${NO_CUDNN}\n`);
  const err = await t.throwsAsync(selectComputeBackend({ preference: 'auto', gpu: 3, allowCpuFallback: false, probe }), { instanceOf: GpuUnavailableError });
  t.is(err.gpu, 3);
  t.regex(err.message, /^GPU 3 cannot be used: tfjs-node-gpu loaded but TensorFlow registered no GPU device, so this worker would compute on the CPU/);
  t.regex(err.message, /likely cause: the CUDA libraries were not found: libcudart\.so\.11\.0, libcudnn\.so\.8/);
  t.regex(err.message, /`facefill doctor`/);
  t.regex(err.message, /--allow-cpu-fallback/);
  t.is(probe.transcripts, 1);
  t.is(exitCodeFor(err), ExitCode.USAGE, 'a broken GPU is not restarted: the same worker fails the same way');
});

test('tensorflow-gpu did not load and auto fell to wasm: an error naming the GPU, the backend it fell to and why', async (t) => {
  const err = await t.throwsAsync(selectComputeBackend({ preference: 'auto', gpu: 0, allowCpuFallback: false, probe: fakeProbe(fellToWasm) }), { instanceOf: GpuUnavailableError });
  t.regex(err.message, /^GPU 0 cannot be used: tfjs-node-gpu did not load, so this worker would compute on wasm \(the CPU\)/);
  t.regex(err.message, /likely cause: @tensorflow\/tfjs-node-gpu is not installed/);
});

test('tensorflow-gpu asked for by name and unavailable: the same GPU error; asking a GPU worker for a CPU-only backend is a usage error', async (t) => {
  const unavailable = new BackendUnavailableError(`backend 'tensorflow-gpu' is unavailable (tensorflow-gpu: ${NO_CUDART.replace(/^.*\] /, '')})`);
  const err = await t.throwsAsync(selectComputeBackend({ preference: 'tensorflow-gpu', gpu: 1, allowCpuFallback: false, probe: fakeProbe(unavailable) }), { instanceOf: GpuUnavailableError });
  t.regex(err.message, /^GPU 1 cannot be used: tfjs-node-gpu did not load; likely cause: the CUDA libraries were not found: libcudart\.so\.11\.0;/);
  t.regex(err.message, /libcudart\.so\.11\.0/);

  const probe = fakeProbe(fellToWasm);
  const usage = await t.throwsAsync(selectComputeBackend({ preference: 'wasm', gpu: 0, allowCpuFallback: false, probe }), { instanceOf: ConfigInvalidError });
  t.regex(usage.message, /--gpu 0 starts a GPU worker, but --backend wasm never computes on a GPU/);
  t.deepEqual(probe.asked, [], 'refused before loading anything');
});

test('--allow-cpu-fallback: the worker goes on on the CPU, warning with the same diagnosis', async (t) => {
  const { log, records } = memoryLog();
  const chosen = await selectComputeBackend({ preference: 'auto', gpu: 2, allowCpuFallback: true, probe: fakeProbe(gpuLoaded, tfjsNodeBackend(false), NO_CUDNN), log });
  t.deepEqual([chosen.name, chosen.device], ['tensorflow-gpu', 'cpu']);
  t.is(records.length, 1);
  t.regex(records[0].msg, /^GPU 2 cannot be used: .*libcudnn\.so\.8.*\(going on: --allow-cpu-fallback\)$/);

  const wasm = await selectComputeBackend({ preference: 'wasm', gpu: 0, allowCpuFallback: true, probe: fakeProbe({ name: 'wasm', tfjsBackend: 'wasm', skipped: [] }), log });
  t.deepEqual([wasm.name, wasm.device], ['wasm', 'cpu']);
});

test('a CPU worker (--gpu -1) is never checked: its device is cpu, even on tfjs-node-gpu without a GPU', async (t) => {
  const probe = fakeProbe(gpuLoaded, tfjsNodeBackend(false));
  t.is((await selectComputeBackend({ preference: 'auto', gpu: -1, allowCpuFallback: false, probe })).device, 'cpu');
  t.is((await selectComputeBackend({ preference: 'wasm', gpu: -1, allowCpuFallback: false, probe: fakeProbe(fellToWasm) })).device, 'cpu');
  t.is(probe.transcripts, 0);
  // A backend object without the property (not tfjs-node) never counts as a GPU.
  t.is((await selectComputeBackend({ preference: 'auto', gpu: -1, allowCpuFallback: false, probe: fakeProbe(gpuLoaded, {}) })).device, 'cpu');
});
