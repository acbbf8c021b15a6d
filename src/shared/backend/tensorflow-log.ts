/** A library TensorFlow tried to dlopen and could not, as its dso_loader line tells it. */
export interface DlopenFailure {
  /** The soname TensorFlow asked for, e.g. libcudart.so.11.0. */
  library: string;
  /** dlerror's words, e.g. "libcudnn.so.8: cannot open shared object file: No such file or directory"; '' when the line has none. */
  dlerror: string;
  /** The file that could not be opened: the library itself, or one it needs (libcusolver.so.11 needing libnvJitLink.so.12). */
  unopened: string;
  /** LD_LIBRARY_PATH as TensorFlow printed it; '' when it printed none. */
  ldLibraryPath: string;
}

/** What TensorFlow's own log (its stderr at TF_CPP_MIN_LOG_LEVEL=0) says about the GPUs it tried. */
export interface TensorflowGpuLog {
  /** Each failed dlopen TF printed, in order: a library it tried again is there again, maybe failing otherwise. */
  dlopenFailures: DlopenFailure[];
  /** Compute capabilities TF has no kernels for and JIT-compiles PTX for at the first start. */
  jitComputeCapabilities: number[];
  /** Lines on which TF gave up on a GPU (too old a GPU, a failed cuInit, GPU libraries missing), without their log prefix. */
  refusals: string[];
}

// "Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or directory; LD_LIBRARY_PATH: /usr/local/cuda/lib64"
const DLOPEN = /Could not load dynamic library '([^']+)'(?:; dlerror: (.*?)(?:; LD_LIBRARY_PATH: (\S*))?\s*$)?/;
const JIT = /not built with CUDA kernel binaries compatible with compute capability (\d+\.\d+)/;
const REFUSAL = /Cannot dlopen some GPU libraries|Ignoring visible gpu device|failed call to cuInit|CUDA_ERROR_\w+|no CUDA-capable device/;

/**
 * Reads TensorFlow's C++ log lines that matter for the GPU: pure, so each is tested on real
 * lines. The wording is TensorFlow 2.9's (gpu_device.cc, dso_loader.cc, cuda_driver.cc); an
 * unknown line is ignored, so a newer libtensorflow that words them otherwise yields less,
 * never a wrong answer.
 */
export function parseTensorflowLog(stderr: string): TensorflowGpuLog {
  const log: TensorflowGpuLog = { dlopenFailures: [], jitComputeCapabilities: [], refusals: [] };
  for (const line of stderr.split(/\r?\n/)) {
    const dlopen = DLOPEN.exec(line);
    if (dlopen) {
      const [, library, dlerror = '', ldLibraryPath = ''] = dlopen;
      log.dlopenFailures.push({ library, dlerror, unopened: unopened(dlerror) ?? library, ldLibraryPath });
      continue;
    }
    const jit = JIT.exec(line);
    if (jit) {
      if (!log.jitComputeCapabilities.includes(Number(jit[1]))) log.jitComputeCapabilities.push(Number(jit[1]));
      continue;
    }
    if (REFUSAL.test(line)) {
      const text = withoutLogPrefix(line);
      if (!log.refusals.includes(text)) log.refusals.push(text);
    }
  }
  return log;
}

/** A TensorFlow log line without its timestamp, level and source location ("… W gpu_device.cc:1850] "), trimmed. */
export function withoutLogPrefix(line: string): string {
  return line.replace(/^.*?\.(?:cc|h):\d+\] /, '').trim();
}

// The file a dlerror says it could not open ("libnvJitLink.so.12: cannot open shared object file: …"), or null.
function unopened(dlerror: string): string | null {
  const m = /^(?:\S*\/)?([^/\s:]+): cannot open shared object file/.exec(dlerror);
  return m ? m[1] : null;
}
