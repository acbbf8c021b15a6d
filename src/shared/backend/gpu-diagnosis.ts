import { CUDA_VERSION, CUDNN_VERSION, LIBTENSORFLOW_VERSION, MIN_DRIVER_VERSION } from './gpu-requirements';
import { type DlopenFailure, parseTensorflowLog, withoutLogPrefix } from './tensorflow-log';

/**
 * Why tfjs-node-gpu found no GPU, read from what TensorFlow printed while it loaded: pure, so
 * every cause is tested on real messages. libtensorflow does not fail when its CUDA libraries
 * are missing: it prints why (one dlopen line per library, the driver's diagnostics) and goes
 * on without a GPU device, so those lines are the only account of the cause there is.
 */

// What tfjs-node-gpu needs of a host, as the messages below say it.
const TFJS_NODE_GPU_NEEDS = { libtensorflow: LIBTENSORFLOW_VERSION, cuda: CUDA_VERSION, cudnn: CUDNN_VERSION, driver: MIN_DRIVER_VERSION } as const;

/** The likely cause of a GPU that tfjs-node-gpu did not use, most specific first. */
export type GpuLoadCause =
  /** `@tensorflow/tfjs-node-gpu` is not installed. */
  | 'package-missing'
  /** The package is there but its native addon or libtensorflow did not load. */
  | 'addon-broken'
  /** No NVIDIA driver: libcuda.so.1 missing, or the kernel module not loaded. */
  | 'driver-missing'
  /** A driver older than CUDA 11.2 needs, or one out of step with its kernel module. */
  | 'driver-too-old'
  /** CUDA or cuDNN libraries of another version than libtensorflow 2.9.1 was built for. */
  | 'cuda-version'
  /** The CUDA or cuDNN libraries were not found on the library path. */
  | 'libraries-missing'
  /** CUDA works but sees no device (CUDA_VISIBLE_DEVICES, a GPU in a bad state). */
  | 'no-device'
  /** Nothing TensorFlow printed says. */
  | 'unknown';

/** A diagnosis: the cause, the libraries TensorFlow could not load, and what to do, in words. */
export interface GpuDiagnosis {
  cause: GpuLoadCause;
  /** Libraries TensorFlow tried to dlopen and could not, in the order it tried them (e.g. libcudart.so.11.0). */
  missing: string[];
  /** The cause with its evidence, e.g. "the CUDA libraries were not found: libcudart.so.11.0, libcudnn.so.8". */
  summary: string;
  /** What to do about it. */
  advice: string;
}

const NEEDS = `libtensorflow ${TFJS_NODE_GPU_NEEDS.libtensorflow} needs CUDA ${TFJS_NODE_GPU_NEEDS.cuda}, cuDNN ${TFJS_NODE_GPU_NEEDS.cudnn} and an NVIDIA driver >= ${TFJS_NODE_GPU_NEEDS.driver}`;

const KERNEL_VERSION = /kernel reported version is: (\d+)\.(\d+)(?:\.(\d+))?/;

/** The likely cause of a GPU tfjs-node-gpu did not use, from `text`: TensorFlow's log lines and the error of a failed load. */
export function diagnoseGpuLoad(text: string): GpuDiagnosis {
  const lines = text.split(/\r?\n/);
  const failed = parseTensorflowLog(text).dlopenFailures;
  const missing = [...new Set(failed.map((f) => f.unopened))];
  const has = (re: RegExp) => lines.find((l) => re.test(l));
  const diagnosis = (cause: GpuLoadCause, summary: string, advice: string): GpuDiagnosis => ({ cause, missing, summary, advice });

  if (has(/Cannot find module '@tensorflow\/tfjs-node-gpu'/)) {
    return diagnosis('package-missing', '@tensorflow/tfjs-node-gpu is not installed', `install it on this host (npm install @tensorflow/tfjs-node-gpu; ${NEEDS})`);
  }
  const addon = has(/tfjs_binding\.node|libtensorflow(_framework)?\.so[.\d]*: cannot open shared object file/);
  if (addon) return diagnosis('addon-broken', `tfjs-node-gpu's native addon did not load (${withoutLogPrefix(addon)})`, 'reinstall it (npm rebuild @tensorflow/tfjs-node-gpu)');

  if (missing.includes('libcuda.so.1') || has(/kernel driver does not appear to be running|\/proc\/driver\/nvidia\/version does not exist/)) {
    return diagnosis('driver-missing', 'no NVIDIA driver was found (libcuda.so.1 is missing, or its kernel module is not loaded)', `install the NVIDIA driver (>= ${TFJS_NODE_GPU_NEEDS.driver}), or, in a container, run it with the GPU runtime (--gpus, nvidia-container-toolkit)`);
  }
  const tooOld = driverTooOld(lines);
  if (tooOld) return diagnosis('driver-too-old', tooOld, `upgrade the NVIDIA driver to >= ${TFJS_NODE_GPU_NEEDS.driver} (CUDA ${TFJS_NODE_GPU_NEEDS.cuda}), then reboot so that its kernel module matches`);

  const version = wrongVersion(failed, lines);
  if (version) return diagnosis('cuda-version', version, `install CUDA ${TFJS_NODE_GPU_NEEDS.cuda} and cuDNN ${TFJS_NODE_GPU_NEEDS.cudnn} (they can sit beside other versions) and put their lib64 on LD_LIBRARY_PATH`);
  if (missing.length > 0) {
    return diagnosis('libraries-missing', `the CUDA libraries were not found: ${missing.join(', ')}`, `install CUDA ${TFJS_NODE_GPU_NEEDS.cuda} and cuDNN ${TFJS_NODE_GPU_NEEDS.cudnn}, and put the folder holding them on LD_LIBRARY_PATH (or register it with ldconfig)`);
  }
  const noDevice = has(/CUDA_ERROR_NO_DEVICE|no CUDA-capable device/);
  if (noDevice) return diagnosis('no-device', `CUDA sees no GPU (${withoutLogPrefix(noDevice)})`, 'check nvidia-smi and CUDA_VISIBLE_DEVICES (facefill workers sets it to the GPU it starts the worker for)');
  return diagnosis('unknown', 'TensorFlow registered no GPU device and printed no reason facefill knows', `run with TF_CPP_MIN_LOG_LEVEL=0 to see TensorFlow's log (${NEEDS})`);
}

/** "likely cause: …; …": the diagnosis as one clause of a message. */
export function describeDiagnosis(d: GpuDiagnosis): string {
  return `likely cause: ${d.summary}; ${d.advice}`;
}

// A driver CUDA 11.2 cannot use: cuInit refuses it, the runtime says it is too old, or its kernel module is older than 450.
function driverTooOld(lines: readonly string[]): string | null {
  const kernel = lines.map((l) => KERNEL_VERSION.exec(l)).find((m) => m !== null);
  const version = kernel ? kernel.slice(1).filter((p) => p !== undefined).join('.') : null;
  const minimum = Number(TFJS_NODE_GPU_NEEDS.driver.split('.')[0]);
  if (kernel && Number(kernel[1]) < minimum) return `the NVIDIA driver is too old (version ${version}; CUDA ${TFJS_NODE_GPU_NEEDS.cuda} needs >= ${TFJS_NODE_GPU_NEEDS.driver})`;
  const refused = lines.find((l) => /CUDA driver version is insufficient|CUDA_ERROR_SYSTEM_DRIVER_MISMATCH|CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE|does not match DSO version/.test(l));
  if (!refused) return null;
  return `the NVIDIA driver${version ? ` (version ${version})` : ''} cannot run CUDA ${TFJS_NODE_GPU_NEEDS.cuda} (${withoutLogPrefix(refused)})`;
}

// Libraries of another CUDA or cuDNN than libtensorflow 2.9.1's: a library that loads but lacks a
// symbol or pulls in a CUDA 12 one, cuDNN's own version check, or a library path of another CUDA.
function wrongVersion(failed: readonly DlopenFailure[], lines: readonly string[]): string | null {
  const cudnn = lines.map((l) => /Loaded runtime CuDNN library: (\S+) but source was compiled with: (\d+(?:\.\d+)*)/.exec(l)).find((m) => m !== null);
  if (cudnn) return `cuDNN ${cudnn[1]} is installed, but libtensorflow ${TFJS_NODE_GPU_NEEDS.libtensorflow} was built with ${cudnn[2]}`;
  const mismatched = failed.find((f) => /undefined symbol|version `[^']+' not found/.test(f.dlerror) || soMajor(f.unopened) !== soMajor(f.library));
  if (mismatched) return `${mismatched.library} is of another CUDA version (${mismatched.dlerror})`;
  const cudas = new Set(failed.flatMap((f) => [...f.ldLibraryPath.matchAll(/cuda-(\d+(?:\.\d+)?)/g)].map((m) => m[1])));
  const needed = TFJS_NODE_GPU_NEEDS.cuda.split('.')[0];
  if (cudas.size === 0 || [...cudas].some((v) => v.split('.')[0] === needed)) return null;
  return `the library path holds CUDA ${[...cudas].join(', ')}, not ${TFJS_NODE_GPU_NEEDS.cuda} (${[...new Set(failed.map((f) => f.library))].join(', ')} not found)`;
}

// The major version of a shared library's name: 11 for libcudart.so.11.0, '' for none.
function soMajor(name: string): string {
  return /\.so\.(\d+)/.exec(name)?.[1] ?? '';
}
