import type { RecoveryView } from '../src/coordinator/api';
import { readRunState, type RunState } from '../src/coordinator/run-state';

/** A recovery record as the watcher saw it: the record (latest reading) and when it first appeared in `run.json`. */
export interface Sighting {
  record: RecoveryView;
  /** When the record was first read (ms since the epoch). */
  firstSeenMs: number;
}

/**
 * Reads a coordinator's `run.json` every `everyMs` and notes when each recovery record (by
 * generation, which only grows, across coordinator restarts too) first appeared: the
 * coordinator writes the file the moment it detects a fault, so that is its detection time,
 * to within the polling interval.
 */
export class RunWatcher {
  /** The latest state read, or null before the file exists. */
  state: RunState | null = null;
  readonly sightings = new Map<number, Sighting>();
  private timer: NodeJS.Timeout | null = null;
  private reading: Promise<void> | null = null;

  constructor(
    private readonly outDir: string,
    private readonly everyMs = 100,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.poll(), this.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads the file once more now (after any read in flight). */
  async poll(): Promise<void> {
    if (this.reading) return this.reading;
    this.reading = this.read().finally(() => (this.reading = null));
    return this.reading;
  }

  private async read(): Promise<void> {
    let state: RunState;
    try {
      state = await readRunState(this.outDir);
    } catch {
      return; // Not written yet.
    }
    const now = Date.now();
    this.state = state;
    for (const record of state.recoveries) {
      const seen = this.sightings.get(record.generation);
      this.sightings.set(record.generation, { record, firstSeenMs: seen?.firstSeenMs ?? now });
    }
  }
}
