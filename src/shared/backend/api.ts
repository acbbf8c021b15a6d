import type { BackendName } from '../config/schema';

export type { BackendName };

/** The id a tensor backend registers under in tfjs (`tf.getBackend()`); both native packages register 'tensorflow'. */
export type TfjsBackendId = 'tensorflow' | 'wasm' | 'cpu';

/** A backend that was tried before the selected one, and why it could not load. */
export interface SkippedBackend {
  name: BackendName;
  reason: string;
}

/** The backend a process computes on, and why the ones before it in the order were passed over. */
export interface SelectedBackend {
  name: BackendName;
  /** What `tf.getBackend()` now returns. */
  tfjsBackend: TfjsBackendId;
  /** Backends tried before it, in order, each with the reason it could not load. */
  skipped: SkippedBackend[];
}

/** One way to bring up a tensor backend; `load` throws when it is unavailable here and may run again. */
export interface BackendLoader {
  name: BackendName;
  tfjsBackend: TfjsBackendId;
  load(): Promise<void>;
}

/** What a backend computes on, as a ring compares its members: the kinds a worker may report. */
export const DEVICE_KINDS = ['gpu', 'cpu'] as const;

/** `gpu` when tfjs-node-gpu runs on a GPU device; `cpu` for every other backend, and for tfjs-node-gpu without a device. */
export type DeviceKind = (typeof DEVICE_KINDS)[number];

/** A selected backend and the device it computes on. */
export interface ComputeBackend extends SelectedBackend {
  device: DeviceKind;
}

/**
 * What a process can learn of its tensor backend, behind a seam so that tests can fake a
 * tfjs-node backend with or without a GPU device (the real one: `tfjsBackendProbe`).
 */
export interface BackendProbe {
  /** Activates a backend, as `selectBackend` does. */
  select(preference: 'auto' | BackendName): Promise<SelectedBackend>;
  /** The backend object tfjs registered under `id` (`tf.findBackend`), or undefined; tfjs-node's carries `isUsingGpuDevice`. */
  find(id: TfjsBackendId): object | undefined;
  /**
   * What TensorFlow prints while tfjs-node-gpu loads and looks for its GPU (the dlopen lines of
   * the CUDA libraries, the driver's diagnostics), captured for a diagnosis; '' when it cannot be had.
   */
  gpuLoadTranscript(): Promise<string>;
}
