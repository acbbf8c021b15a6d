import test from 'ava';
import { REQUIRED_CUDA_LIBRARIES } from '../../../src/shared/backend/gpu-requirements';
import { parseTensorflowLog } from '../../../src/shared/backend/tensorflow-log';
import { type GpuEvidence, judgeGpu } from '../../../src/shared/preflight/gpu-verdict';
import type { BackendStatus, GpuInventory } from '../../../src/shared/preflight/report';

const A100 = { index: 0, name: 'NVIDIA A100', uuid: 'GPU-1', computeCapability: 8, memoryMiB: 40960 };
const H100 = { index: 1, name: 'NVIDIA H100', uuid: 'GPU-2', computeCapability: 9, memoryMiB: 81559 };
const inventory = (over: Partial<GpuInventory> = {}): GpuInventory => ({ nvidiaSmi: 'ok', detail: null, driverVersion: '535.104.05', devices: [A100, H100], ...over });
const libs = (missing: string[] = []) => REQUIRED_CUDA_LIBRARIES.map((l) => ({ ...l, path: missing.includes(l.soname) ? null : `/usr/lib/${l.soname}`, via: missing.includes(l.soname) ? null : ('ldconfig' as const) }));
const tfGpu = (over: Partial<BackendStatus> = {}): BackendStatus => ({ name: 'tensorflow-gpu', package: '@tensorflow/tfjs-node-gpu', loaded: true, reason: null, loadSeconds: 2, usesGpu: true, libtensorflow: '2.9.1', ...over });
const evidence = (over: Partial<GpuEvidence> = {}): GpuEvidence => ({
  gpus: inventory(),
  cudaLibraries: libs(),
  driverLibrary: { soname: 'libcuda.so.1', what: 'driver', path: '/usr/lib/libcuda.so.1', via: 'ldconfig' },
  tensorflowGpu: tfGpu(),
  gpuLog: parseTensorflowLog(''),
  step: { backend: 'tensorflow-gpu', ok: true, imageSize: 32, batchSize: 4, buildSeconds: 0.1, firstStepSeconds: 3, stepSeconds: 0.01 },
  ...over,
});

test('a listed GPU with its libraries, a loading backend on a GPU device and a step that ran is usable', (t) => {
  t.deepEqual(judgeGpu(0, evidence()), { index: 0, usable: true, problems: [] });
});

test('no driver: nvidia-smi absent, the libraries missing and the package not installed are all named', (t) => {
  const v = judgeGpu(0, evidence({
    gpus: inventory({ nvidiaSmi: 'absent', detail: 'nvidia-smi not found', driverVersion: null, devices: [] }),
    cudaLibraries: libs(REQUIRED_CUDA_LIBRARIES.map((l) => l.soname)),
    driverLibrary: { soname: 'libcuda.so.1', what: 'driver', path: null, via: null },
    tensorflowGpu: tfGpu({ loaded: false, reason: '@tensorflow/tfjs-node-gpu is not installed', usesGpu: null }),
    gpuLog: null,
    step: null,
  }));
  t.false(v.usable);
  t.is(v.problems.length, 3, v.problems.join('\n'));
  t.regex(v.problems[0], /nvidia-smi not found/);
  t.regex(v.problems[1], /libcudart\.so\.11\.0.*libcudnn\.so\.8/);
  t.regex(v.problems[2], /does not load: @tensorflow\/tfjs-node-gpu is not installed/);
});

test('a GPU nvidia-smi does not list, an old driver and a missing cuDNN are each a problem', (t) => {
  const v = judgeGpu(4, evidence({ gpus: inventory({ driverVersion: '418.67' }), cudaLibraries: libs(['libcudnn.so.8']) }));
  t.deepEqual(v.problems.slice(0, 3), [
    'nvidia-smi lists no GPU 4 (this host has 0, 1)',
    'NVIDIA driver 418.67 is older than 450.80.02, the oldest CUDA 11 runs on',
    'CUDA/cuDNN libraries not found by the loader: libcudnn.so.8 (CUDA 11.2 and cuDNN 8.1; see docs/gpu.md)',
  ]);
});

test('a backend that loads but computes on the CPU says what TensorFlow logged, each library once', (t) => {
  const dso = "W dso_loader.cc:64] Could not load dynamic library 'libcudnn.so.8'; dlerror: x\n";
  const log = parseTensorflowLog(`${dso}W gpu_device.cc:1850] Cannot dlopen some GPU libraries. Please make sure\n${dso}`);
  const v = judgeGpu(0, evidence({ tensorflowGpu: tfGpu({ usesGpu: false }), gpuLog: log }));
  t.deepEqual(v.problems, ['TensorFlow found no usable GPU and computes on the CPU: could not load libcudnn.so.8; Cannot dlopen some GPU libraries. Please make sure']);
});

test('a step that did not finish on a GPU above compute capability 8.0 points at the first start\'s PTX JIT', (t) => {
  const step = { backend: 'tensorflow-gpu' as const, ok: false, error: 'the step did not finish: node did not finish within 120 s and was killed', imageSize: 32, batchSize: 4, buildSeconds: null, firstStepSeconds: null, stepSeconds: null };
  const hopper = judgeGpu(1, evidence({ step }));
  t.is(hopper.problems.length, 1);
  t.regex(hopper.problems[0], /^the train step failed on GPU 1: the step did not finish.*compute capability 9: the first start JIT-compiles PTX/);
  t.notRegex(judgeGpu(0, evidence({ step })).problems[0], /JIT/);
});

test('a probe killed while loading on such a GPU (the context\'s JIT) gets the same hint; another failure does not', (t) => {
  const killed = tfGpu({ loaded: false, reason: 'its probe ended before loading it: node did not finish within 120 s and was killed', usesGpu: null });
  t.regex(judgeGpu(1, evidence({ tensorflowGpu: killed, step: null })).problems[0], /^the tensorflow-gpu backend does not load: its probe ended.*compute capability 9: the first start JIT-compiles PTX/);
  const crashed = tfGpu({ loaded: false, reason: 'its probe ended before loading it: node was killed by SIGSEGV', usesGpu: null });
  t.notRegex(judgeGpu(1, evidence({ tensorflowGpu: crashed, step: null })).problems[0], /JIT/);
});
