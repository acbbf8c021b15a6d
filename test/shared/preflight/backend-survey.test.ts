import test from 'ava';
import { NATIVE_PACKAGES, surveyBackends } from '../../../src/shared/preflight/backend-survey';
import { events, fakeProber, loaded, outcome, portableChild, stepped } from './_fakes';

const GPU_PKG = NATIVE_PACKAGES['tensorflow-gpu'];

test('no native package installed: no native child starts; wasm and cpu share one child, which steps on wasm', async (t) => {
  const prober = fakeProber([], portableChild);
  const s = await surveyBackends('auto', prober);
  t.deepEqual(prober.requests, [{ backends: ['wasm', 'cpu'], step: 'auto' }]);
  t.deepEqual(
    s.backends.map((b) => [b.name, b.loaded, b.reason]),
    [
      ['tensorflow-gpu', false, '@tensorflow/tfjs-node-gpu is not installed'],
      ['tensorflow', false, '@tensorflow/tfjs-node is not installed'],
      ['wasm', true, null],
      ['cpu', true, null],
    ],
  );
  t.is(s.chosen, 'wasm');
  t.is(s.step?.backend, 'wasm');
  t.is(s.gpuLog, null);
});

test('tensorflow-gpu installed and loading: it is chosen and steps in its own child; its TensorFlow log is read; the others only load', async (t) => {
  const prober = fakeProber([GPU_PKG], (r) =>
    r.backends[0] === 'tensorflow-gpu'
      ? outcome({ stdout: events(loaded('tensorflow-gpu', true), stepped('tensorflow-gpu')), stderr: 'W gpu_device.cc:1979] TensorFlow was not built with CUDA kernel binaries compatible with compute capability 9.0.\n' })
      : portableChild(r),
  );
  const s = await surveyBackends('auto', prober);
  t.deepEqual(prober.requests, [
    { backends: ['tensorflow-gpu'], step: 'tensorflow-gpu' },
    { backends: ['wasm', 'cpu'], step: 'none' },
  ]);
  t.is(s.chosen, 'tensorflow-gpu');
  t.true(s.step?.ok);
  t.true(s.backends[0].usesGpu);
  t.deepEqual(s.gpuLog?.jitComputeCapabilities, [9]);
});

test('a native child killed at its time limit mid-step: the backend loaded, the step failed saying it did not finish', async (t) => {
  const prober = fakeProber([GPU_PKG], (r) =>
    r.backends[0] === 'tensorflow-gpu'
      ? outcome({ status: 'timeout', code: null, detail: 'node did not finish within 120 s and was killed', stdout: events(loaded('tensorflow-gpu', true), { stepStarted: 'tensorflow-gpu' }) })
      : portableChild(r),
  );
  const s = await surveyBackends('auto', prober);
  t.is(s.chosen, 'tensorflow-gpu');
  t.false(s.step?.ok);
  t.regex(s.step?.error ?? '', /^the step did not finish: node did not finish within 120 s and was killed$/);
});

test('a native child that crashes before a word: the backend did not load, and why (its last stderr line) is said', async (t) => {
  const prober = fakeProber([GPU_PKG], (r) =>
    r.backends[0] === 'tensorflow-gpu' ? outcome({ status: 'failed', code: null, detail: 'node was killed by SIGSEGV', stderr: 'loading libtensorflow\nSegmentation fault\n' }) : portableChild(r),
  );
  const s = await surveyBackends('auto', prober);
  t.false(s.backends[0].loaded);
  t.is(s.backends[0].reason, 'its probe ended before loading it: node was killed by SIGSEGV (Segmentation fault)');
  t.is(s.chosen, 'wasm');
});

test('an explicit preference steps only where it says: cpu steps on cpu; an unavailable one chooses nothing', async (t) => {
  const cpu = fakeProber([], portableChild);
  const s = await surveyBackends('cpu', cpu);
  t.deepEqual(cpu.requests, [{ backends: ['wasm', 'cpu'], step: 'cpu' }]);
  t.is(s.chosen, 'cpu');
  t.is(s.step?.backend, 'cpu');
  const gpu = fakeProber([], portableChild);
  const none = await surveyBackends('tensorflow-gpu', gpu);
  t.deepEqual(gpu.requests, [{ backends: ['wasm', 'cpu'], step: 'none' }]);
  t.is(none.chosen, null);
  t.is(none.step, null);
});
