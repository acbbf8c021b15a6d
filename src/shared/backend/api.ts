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
