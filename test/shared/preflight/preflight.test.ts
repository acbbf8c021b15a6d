import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { NATIVE_PACKAGES } from '../../../src/shared/preflight/backend-survey';
import { probeEnvironment, REQUIRED_NODE, runPreflight } from '../../../src/shared/preflight/preflight';
import { events, fakeHost, fakeProber, loaded, outcome, portableChild, stepped } from './_fakes';

const options = { preference: 'auto' as const, gpu: null, workDir: '/work' };

test('REQUIRED_NODE is package.json\'s engines.node', (t) => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '../../../../package.json'), 'utf8')) as { engines: { node: string } };
  t.is(pkg.engines.node, `>=${REQUIRED_NODE}`);
});

test('a host without GPU or native packages: wasm chosen, no GPU, no verdict, and nothing to note', async (t) => {
  const r = await runPreflight(options, fakeHost(), fakeProber([], portableChild));
  t.is(r.chosenBackend, 'wasm');
  t.true(r.trainStep?.ok);
  t.like(r.gpus, { nvidiaSmi: 'absent', devices: [] });
  t.is(r.requestedGpu, null);
  t.true(r.cudaLibraries.every((l) => l.path === null));
  t.is(r.cudaLibraries.length, 8);
  t.is(r.driverLibrary.soname, 'libcuda.so.1');
  t.deepEqual(r.notes, ['the loader cache could not be read (ldconfig not found): libraries were looked up in LD_LIBRARY_PATH only']);
});

test('a GPU host: nvidia-smi and the loader cache are read, the GPU judged usable, a Hopper GPU noted with the cache settings', async (t) => {
  const libs = ['libcuda.so.1', 'libcudart.so.11.0', 'libcublas.so.11', 'libcublasLt.so.11', 'libcufft.so.10', 'libcurand.so.10', 'libcusolver.so.11', 'libcusparse.so.11', 'libcudnn.so.8'];
  const host = fakeHost(
    {
      'nvidia-smi': (args) =>
        args[0] === '-L'
          ? outcome({ stdout: 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-abc)\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-def)\n' })
          : outcome({ stdout: '0, GPU-abc, NVIDIA H100 80GB HBM3, 9.0, 535.104.05, 81559\n1, GPU-def, NVIDIA H100 80GB HBM3, 9.0, 535.104.05, 81559\n' }),
      '/sbin/ldconfig': outcome({ stdout: `${libs.length} libs found\n${libs.map((l) => `\t${l} (libc6,x86-64) => /usr/lib/${l}`).join('\n')}\n` }),
    },
    { env: { CUDA_VISIBLE_DEVICES: '1', CUDA_CACHE_MAXSIZE: '268435456' } },
  );
  const prober = fakeProber([NATIVE_PACKAGES['tensorflow-gpu']], (r) =>
    r.backends[0] === 'tensorflow-gpu' ? outcome({ stdout: events(loaded('tensorflow-gpu', true), stepped('tensorflow-gpu')) }) : portableChild(r),
  );
  const r = await runPreflight({ ...options, gpu: 0 }, host, prober);
  t.deepEqual(r.gpus.devices.map((d) => d.computeCapability), [9, 9]);
  t.is(r.gpus.driverVersion, '535.104.05');
  t.true(r.cudaLibraries.every((l) => l.path !== null));
  t.deepEqual(r.requestedGpu, { index: 0, usable: true, problems: [] });
  t.is(r.chosenBackend, 'tensorflow-gpu');
  t.is(r.notes.length, 4, r.notes.join('\n'));
  t.regex(r.notes[0], /compute capability 9 is above 8\.0.*30 minutes or longer/);
  t.regex(r.notes[1], /^CUDA_CACHE_MAXSIZE is 268435456: set 4294967296/);
  t.regex(r.notes[2], /^CUDA_CACHE_PATH is unset/);
  t.regex(r.notes[3], /^CUDA_VISIBLE_DEVICES=1 hides GPU 0/);
});

test('a probe child gets TensorFlow\'s log at INFO and, for --gpu, that GPU alone as facefill workers gives it', (t) => {
  t.deepEqual(probeEnvironment({ PATH: '/bin', TF_CPP_MIN_LOG_LEVEL: '2' }, null), { PATH: '/bin', TF_CPP_MIN_LOG_LEVEL: '0' });
  t.deepEqual(probeEnvironment({ CUDA_VISIBLE_DEVICES: '0,1' }, 1), { CUDA_VISIBLE_DEVICES: '1', TF_CPP_MIN_LOG_LEVEL: '0', TF_FORCE_GPU_ALLOW_GROWTH: 'true' });
});

test('zeromq without CURVE and a disk under its margin are noted', async (t) => {
  const host = fakeHost(
    {},
    {
      zeromq: () => ({ version: '4.3.5', curve: false, error: null }),
      disk: async (workDir) => ({ workDir, measured: workDir, freeBytes: 100, totalBytes: 1000, marginBytes: 500, error: null }),
    },
  );
  const r = await runPreflight(options, host, fakeProber([], portableChild));
  t.true(r.notes.some((n) => /without CURVE/.test(n)));
  t.true(r.notes.some((n) => /^only 100 bytes free under \/work, less than the 500/.test(n)));
});
