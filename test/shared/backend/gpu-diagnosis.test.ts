import test from 'ava';
import { describeDiagnosis, diagnoseGpuLoad } from '../../../src/shared/backend/gpu-diagnosis';

// What libtensorflow 2.9.1 (tfjs-node-gpu 4.22) prints, as it prints it: a timestamp, a level, the source line.
const at = (level: string, source: string, text: string) => `2024-08-24 15:40:49.279326: ${level} ${source}] ${text}`;
const dso = (library: string, dlerror = `${library}: cannot open shared object file: No such file or directory`, path?: string) =>
  at('W', 'tensorflow/stream_executor/platform/default/dso_loader.cc:64', `Could not load dynamic library '${library}'; dlerror: ${dlerror}${path === undefined ? '' : `; LD_LIBRARY_PATH: ${path}`}`);
const CUDART_STUB = at('I', 'tensorflow/stream_executor/cuda/cudart_stub.cc:29', 'Ignore above cudart dlerror if you do not have a GPU set up on your machine.');
const CANNOT_DLOPEN = at('W', 'tensorflow/core/common_runtime/gpu/gpu_device.cc:1850', 'Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are installed properly if you would like to use GPU. Follow the guide at https://www.tensorflow.org/install/gpu for how to download and setup the required libraries for your platform.\nSkipping registering GPU devices...');
const ONEDNN = at('I', 'tensorflow/core/util/util.cc:169', 'oneDNN custom operations are on. You may see slightly different numerical results due to floating-point round-off errors from different computation orders.');
const lines = (...l: string[]) => l.join('\n');

test('the CUDA runtime and cuDNN not found: the libraries TensorFlow could not dlopen, named', (t) => {
  const d = diagnoseGpuLoad(lines(ONEDNN, dso('libcudart.so.11.0'), CUDART_STUB, dso('libcublas.so.11'), dso('libcudnn.so.8'), CANNOT_DLOPEN));
  t.is(d.cause, 'libraries-missing');
  t.deepEqual(d.missing, ['libcudart.so.11.0', 'libcublas.so.11', 'libcudnn.so.8']);
  t.is(d.summary, 'the CUDA libraries were not found: libcudart.so.11.0, libcublas.so.11, libcudnn.so.8');
  t.regex(d.advice, /CUDA 11\.2 and cuDNN 8\.1.*LD_LIBRARY_PATH/);
  t.regex(describeDiagnosis(d), /^likely cause: the CUDA libraries were not found: libcudart\.so\.11\.0, .*; install CUDA 11\.2/);
});

test('another CUDA version: a library path of CUDA 12, a library needing a CUDA 12 one, a symbol missing, cuDNN of an older minor', (t) => {
  const cuda12 = diagnoseGpuLoad(lines(dso('libcudart.so.11.0', undefined, '/usr/local/cuda-12.2/lib64:/usr/local/nvidia/lib64'), dso('libcudnn.so.8', undefined, '/usr/local/cuda-12.2/lib64')));
  t.is(cuda12.cause, 'cuda-version');
  t.regex(cuda12.summary, /the library path holds CUDA 12\.2, not 11\.2 \(libcudart\.so\.11\.0, libcudnn\.so\.8 not found\)/);
  // CUDA 11 on the path as well: the libraries are simply missing from it.
  t.is(diagnoseGpuLoad(dso('libcudnn.so.8', undefined, '/usr/local/cuda-12.2/lib64:/usr/local/cuda-11.2/lib64')).cause, 'libraries-missing');

  const jit = diagnoseGpuLoad(lines(dso('libcusolver.so.11', 'libnvJitLink.so.12: cannot open shared object file: No such file or directory'), CANNOT_DLOPEN));
  t.is(jit.cause, 'cuda-version');
  t.deepEqual(jit.missing, ['libnvJitLink.so.12']);
  t.regex(jit.summary, /^libcusolver\.so\.11 is of another CUDA version \(libnvJitLink\.so\.12: cannot open/);

  const symbol = diagnoseGpuLoad(dso('libcudnn.so.8', '/usr/lib/x86_64-linux-gnu/libcudnn_ops_infer.so.8: undefined symbol: _ZN5cudnn3ops18GetInternalStreamsEP12cudnnContextiPP11CUstream_st, version libcudnn_ops_infer.so.8'));
  t.is(symbol.cause, 'cuda-version');

  const cudnn = diagnoseGpuLoad(
    at('E', 'tensorflow/stream_executor/cuda/cuda_dnn.cc:361', 'Loaded runtime CuDNN library: 8.0.4 but source was compiled with: 8.1.0.  CuDNN library needs to have matching major version and equal or higher minor version.'),
  );
  t.is(cudnn.cause, 'cuda-version');
  t.is(cudnn.summary, 'cuDNN 8.0.4 is installed, but libtensorflow 2.9.1 was built with 8.1.0');

  // A missing library of CUDA 11 that another needs is a library missing, not another version.
  t.is(diagnoseGpuLoad(dso('libcusolver.so.11', 'libcublasLt.so.11: cannot open shared object file: No such file or directory')).cause, 'libraries-missing');
});

test('a driver too old for CUDA 11.2, by its version or by what CUDA says of it', (t) => {
  const old = diagnoseGpuLoad(
    lines(
      at('E', 'tensorflow/stream_executor/cuda/cuda_driver.cc:271', 'failed call to cuInit: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: system has unsupported display driver / cuda driver combination'),
      at('I', 'tensorflow/stream_executor/cuda/cuda_diagnostics.cc:169', 'retrieving CUDA diagnostic information for host: gpu-node-3'),
      at('I', 'tensorflow/stream_executor/cuda/cuda_diagnostics.cc:200', 'libcuda reported version is: 440.33.1'),
      at('I', 'tensorflow/stream_executor/cuda/cuda_diagnostics.cc:204', 'kernel reported version is: 440.33.1'),
    ),
  );
  t.is(old.cause, 'driver-too-old');
  t.is(old.summary, 'the NVIDIA driver is too old (version 440.33.1; CUDA 11.2 needs >= 450.80.02)');
  t.regex(old.advice, /upgrade the NVIDIA driver to >= 450\.80\.02/);

  const insufficient = diagnoseGpuLoad('Error: cudaGetDevice() failed. Status: CUDA driver version is insufficient for CUDA runtime version');
  t.is(insufficient.cause, 'driver-too-old');
  t.regex(insufficient.summary, /cannot run CUDA 11\.2 \(Error: cudaGetDevice\(\) failed\. Status: CUDA driver version is insufficient/);

  const mismatch = diagnoseGpuLoad(
    lines(
      at('I', 'tensorflow/stream_executor/cuda/cuda_diagnostics.cc:204', 'kernel reported version is: 470.57.2'),
      at('E', 'tensorflow/stream_executor/cuda/cuda_diagnostics.cc:313', 'kernel version 470.57.2 does not match DSO version 470.82.1 -- cannot find working devices in this configuration'),
    ),
  );
  t.is(mismatch.cause, 'driver-too-old');
  t.regex(mismatch.summary, /driver \(version 470\.57\.2\) cannot run CUDA 11\.2 \(kernel version 470\.57\.2 does not match DSO version 470\.82\.1/);
});

test('no driver at all: libcuda.so.1 missing, or no kernel module', (t) => {
  const missing = diagnoseGpuLoad(
    lines(
      dso('libcudart.so.11.0'),
      dso('libcuda.so.1'),
      at('W', 'tensorflow/stream_executor/cuda/cuda_driver.cc:269', 'failed call to cuInit: UNKNOWN ERROR (303)'),
      at('I', 'tensorflow/stream_executor/cuda/cuda_diagnostics.cc:156', 'kernel driver does not appear to be running on this host (pod-7): /proc/driver/nvidia/version does not exist'),
    ),
  );
  t.is(missing.cause, 'driver-missing');
  t.deepEqual(missing.missing, ['libcudart.so.11.0', 'libcuda.so.1']);
  t.regex(missing.advice, /nvidia-container-toolkit/);
});

test('CUDA without a device, the package missing, its addon broken, and nothing known', (t) => {
  const none = diagnoseGpuLoad(at('E', 'tensorflow/stream_executor/cuda/cuda_driver.cc:271', 'failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected'));
  t.is(none.cause, 'no-device');
  t.regex(none.summary, /^CUDA sees no GPU \(failed call to cuInit: CUDA_ERROR_NO_DEVICE/);
  t.regex(none.advice, /CUDA_VISIBLE_DEVICES/);

  const pkg = diagnoseGpuLoad("Cannot find module '@tensorflow/tfjs-node-gpu'\nRequire stack:\n- /opt/facefill/dist/src/shared/backend/select.js");
  t.is(pkg.cause, 'package-missing');
  t.regex(pkg.advice, /npm install @tensorflow\/tfjs-node-gpu; libtensorflow 2\.9\.1 needs CUDA 11\.2, cuDNN 8\.1 and an NVIDIA driver >= 450\.80\.02/);

  const addon = diagnoseGpuLoad('The Node.js native addon module (tfjs_binding.node) can not be found at path: /opt/facefill/node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v8/tfjs_binding.node. ');
  t.is(addon.cause, 'addon-broken');
  t.regex(addon.advice, /npm rebuild @tensorflow\/tfjs-node-gpu/);
  t.is(diagnoseGpuLoad('Error: libtensorflow.so.2: cannot open shared object file: No such file or directory').cause, 'addon-broken');

  const unknown = diagnoseGpuLoad(lines(ONEDNN, ''));
  t.is(unknown.cause, 'unknown');
  t.deepEqual(unknown.missing, []);
  t.regex(unknown.advice, /TF_CPP_MIN_LOG_LEVEL=0/);
});
