import test from 'ava';
import { parseTensorflowLog } from '../../../src/shared/backend/tensorflow-log';

// libtensorflow 2.9 at TF_CPP_MIN_LOG_LEVEL=0 on a host without cuDNN: it gives up on the GPU.
const NO_CUDNN = `2024-03-01 10:00:00.000001: I tensorflow/core/platform/cpu_feature_guard.cc:193] This TensorFlow binary is optimized with oneAPI Deep Neural Network Library (oneDNN) to use the following CPU instructions in performance-critical operations:  AVX2 FMA
2024-03-01 10:00:00.100000: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or directory; LD_LIBRARY_PATH: /usr/local/nvidia/lib:/usr/local/nvidia/lib64
2024-03-01 10:00:00.100100: W tensorflow/core/common_runtime/gpu/gpu_device.cc:1850] Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are installed properly if you would like to use GPU. Follow the guide at https://www.tensorflow.org/install/gpu for how to download and setup the required libraries for your platform.
Skipping registering GPU devices...
2024-03-01 10:00:00.100200: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or directory
`;

// An H100 (compute capability 9.0), which libtensorflow 2.9.1 has no kernels for.
const HOPPER = `2024-03-01 10:00:00.200000: W tensorflow/core/common_runtime/gpu/gpu_device.cc:1979] TensorFlow was not built with CUDA kernel binaries compatible with compute capability 9.0. CUDA kernels will be jit-compiled from PTX, which could take 30 minutes or longer.
2024-03-01 10:00:00.300000: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1532] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 79078 MB memory:  -> device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 0000:19:00.0, compute capability: 9.0
`;

// No driver reachable: cuInit fails.
const NO_DRIVER = `2024-03-01 10:00:00.400000: W tensorflow/stream_executor/cuda/cuda_driver.cc:269] failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected
`;

test('each failed dlopen is read with dlerror\'s words and the library path, a retry too; the refusal line is kept as TensorFlow wrote it', (t) => {
  const log = parseTensorflowLog(NO_CUDNN);
  const dlerror = 'libcudnn.so.8: cannot open shared object file: No such file or directory';
  t.deepEqual(log.dlopenFailures, [
    { library: 'libcudnn.so.8', dlerror, unopened: 'libcudnn.so.8', ldLibraryPath: '/usr/local/nvidia/lib:/usr/local/nvidia/lib64' },
    { library: 'libcudnn.so.8', dlerror, unopened: 'libcudnn.so.8', ldLibraryPath: '' },
  ]);
  t.is(log.refusals.length, 1);
  t.regex(log.refusals[0], /^Cannot dlopen some GPU libraries/);
});

test('the PTX JIT warning names the compute capability; a GPU device created without trouble is no failure', (t) => {
  const log = parseTensorflowLog(HOPPER);
  t.deepEqual(log.jitComputeCapabilities, [9]);
  t.deepEqual(log.dlopenFailures, []);
  t.deepEqual(log.refusals, []);
});

test('a failed cuInit is a refusal; unrelated lines and an empty log yield nothing', (t) => {
  t.deepEqual(parseTensorflowLog(NO_DRIVER).refusals, ['failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected']);
  t.deepEqual(parseTensorflowLog(''), { dlopenFailures: [], jitComputeCapabilities: [], refusals: [] });
  t.deepEqual(parseTensorflowLog('Overriding the gradient for Max\nsome other line\n').refusals, []);
});

test('the file dlopen could not open may be one the library needs; a line without dlerror or path still names the library', (t) => {
  const log = parseTensorflowLog(
    [
      "W dso_loader.cc:64] Could not load dynamic library 'libcusolver.so.11'; dlerror: libnvJitLink.so.12: cannot open shared object file: No such file or directory\r",
      "W dso_loader.cc:64] Could not load dynamic library 'libcufft.so.10'",
    ].join('\n'),
  );
  t.deepEqual(
    log.dlopenFailures.map((f) => [f.library, f.unopened, f.ldLibraryPath]),
    [
      ['libcusolver.so.11', 'libnvJitLink.so.12', ''],
      ['libcufft.so.10', 'libcufft.so.10', ''],
    ],
  );
});
