import * as tf from '@tensorflow/tfjs';
import type { Logger } from '../log';
import type { BackendProbe } from './api';
import { captureGpuLoad } from './gpu-load-transcript';
import { selectBackend } from './select';

/** The real {@link BackendProbe}: tfjs's backends, selected by `selectBackend` (which logs to `log`). */
export function tfjsBackendProbe(log?: Logger): BackendProbe {
  return {
    select: (preference) => selectBackend(preference, log),
    find: (id) => tf.findBackend(id) ?? undefined,
    gpuLoadTranscript: () => captureGpuLoad(),
  };
}
