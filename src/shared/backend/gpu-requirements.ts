/*
 * What the tensorflow-gpu backend needs of a host, as @tensorflow/tfjs-node-gpu 4.22 implies it:
 * its install script downloads libtensorflow 2.9.1 (scripts/deps-constants.js), a build for
 * CUDA 11.2 and cuDNN 8.1 (the package README's table). Recheck every value here on a tfjs
 * upgrade that moves LIBTENSORFLOW_VERSION; docs/gpu.md says where each one comes from.
 */

/** The libtensorflow version @tensorflow/tfjs-node-gpu 4.x downloads. */
export const LIBTENSORFLOW_VERSION = '2.9.1';

/** The CUDA toolkit and cuDNN that libtensorflow 2.9.1 was built against. */
export const CUDA_VERSION = '11.2';
/** The cuDNN release libtensorflow 2.9.1 was built against (any 8.x from 8.1 keeps its ABI). */
export const CUDNN_VERSION = '8.1';

/**
 * The oldest NVIDIA driver CUDA 11.x runs on (CUDA's minor version compatibility); older ones
 * cannot create a CUDA 11 context at all.
 */
export const MIN_DRIVER_VERSION = '450.80.02';

/**
 * The highest compute capability libtensorflow 2.9.1 carries kernels for: TF 2.9 release builds
 * compile sm_35, sm_50, sm_60, sm_70, sm_75 and compute_80 (cubin and PTX for 8.0). On a newer
 * GPU TF warns and the driver JIT-compiles the 8.0 PTX at the first start, which TF's own
 * warning puts at "30 minutes or longer" unless the CUDA cache keeps the result.
 */
export const MAX_BUILT_COMPUTE_CAPABILITY = 8.0;

/** One shared library libtensorflow opens at run time, by the name the dynamic loader looks up. */
export interface RequiredLibrary {
  /** The soname, as dlopen asks for it. */
  soname: string;
  /** What it is, for messages. */
  what: string;
}

/**
 * The CUDA and cuDNN libraries libtensorflow 2.9.1 dlopens when it starts (by soname: CUDA 11's
 * libraries keep one soname per major version, cudart the 11.0 one). One missing is enough for
 * TF to log "Cannot dlopen some GPU libraries" and quietly compute on the CPU.
 */
export const REQUIRED_CUDA_LIBRARIES: readonly RequiredLibrary[] = [
  { soname: 'libcudart.so.11.0', what: 'CUDA runtime' },
  { soname: 'libcublas.so.11', what: 'cuBLAS' },
  { soname: 'libcublasLt.so.11', what: 'cuBLASLt' },
  { soname: 'libcufft.so.10', what: 'cuFFT' },
  { soname: 'libcurand.so.10', what: 'cuRAND' },
  { soname: 'libcusolver.so.11', what: 'cuSOLVER' },
  { soname: 'libcusparse.so.11', what: 'cuSPARSE' },
  { soname: 'libcudnn.so.8', what: 'cuDNN' },
];

/**
 * The driver's own CUDA library: installed with the NVIDIA driver (in a container, mounted by
 * the NVIDIA Container Toolkit), never by a CUDA image. Missing it means no driver is reachable.
 */
export const DRIVER_LIBRARY: RequiredLibrary = { soname: 'libcuda.so.1', what: 'NVIDIA driver (CUDA driver API)' };
