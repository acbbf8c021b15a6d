/** What TensorFlow's own log (its stderr at TF_CPP_MIN_LOG_LEVEL=0) says about the GPUs it tried. */
export interface TensorflowGpuLog {
  /** GPU devices TF created: its device ordinal (after CUDA_VISIBLE_DEVICES) and compute capability. */
  created: { device: number; name: string; computeCapability: number | null }[];
  /** Sonames TF could not dlopen (`Could not load dynamic library 'libcudnn.so.8'`). */
  missingLibraries: string[];
  /** Compute capabilities TF has no kernels for and JIT-compiles PTX for at the first start. */
  jitComputeCapabilities: number[];
  /** Lines on which TF gave up on a GPU (too old a GPU, a failed cuInit, GPU libraries missing), as written. */
  refusals: string[];
}

/**
 * Reads TensorFlow's C++ log lines that matter for the GPU. The wording is TensorFlow 2.9's
 * (gpu_device.cc, dso_loader.cc, cuda_driver.cc); an unknown line is ignored, so a newer
 * libtensorflow that words them otherwise yields less, never a wrong answer.
 */
export function parseTensorflowLog(stderr: string): TensorflowGpuLog {
  const log: TensorflowGpuLog = { created: [], missingLibraries: [], jitComputeCapabilities: [], refusals: [] };
  for (const line of stderr.split('\n')) {
    const created = /Created device \S*device:GPU:(\d+) with .*?-> device: \d+, name: (.*?), pci bus id: [^,]*, compute capability: (\d+\.\d+)/.exec(line);
    if (created) {
      log.created.push({ device: Number(created[1]), name: created[2], computeCapability: Number(created[3]) });
      continue;
    }
    const missing = /Could not load dynamic library '([^']+)'/.exec(line);
    if (missing) {
      if (!log.missingLibraries.includes(missing[1])) log.missingLibraries.push(missing[1]);
      continue;
    }
    const jit = /not built with CUDA kernel binaries compatible with compute capability (\d+\.\d+)/.exec(line);
    if (jit) {
      if (!log.jitComputeCapabilities.includes(Number(jit[1]))) log.jitComputeCapabilities.push(Number(jit[1]));
      continue;
    }
    if (/Cannot dlopen some GPU libraries|Ignoring visible gpu device|failed call to cuInit|CUDA_ERROR_\w+|no CUDA-capable device/.test(line)) {
      const text = line.replace(/^.*?\] /, '').trim();
      if (!log.refusals.includes(text)) log.refusals.push(text);
    }
  }
  return log;
}
