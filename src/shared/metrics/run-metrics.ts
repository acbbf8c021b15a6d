import { Gauge, type Registry } from 'prom-client';

/** Every run metric's name (the coordinator's), for the dashboard and alert checks. */
export const RUN_METRIC_NAMES = [
  'facefill_run_state',
  'facefill_run_step',
  'facefill_run_target_steps',
  'facefill_run_images_per_second',
  'facefill_workers',
  'facefill_worker_step',
  'facefill_worker_heartbeat_age_seconds',
  'facefill_worker_info',
  'facefill_checkpoint_step',
  'facefill_checkpoint_age_seconds',
  'facefill_checkpoint_size_bytes',
] as const;

/** The coordinator's view at scrape time. */
export interface RunSnapshot {
  state: 'rendezvous' | 'running' | 'recovering' | 'finished' | 'failed';
  /** Step every worker has completed. */
  step: number;
  steps: number;
  imagesPerSecond: number;
  workers: { rank: number; backend: string; device: string; state: string; step: number; heartbeatAgeSeconds: number }[];
  /** The latest merged checkpoint, or null. */
  checkpoint: { step: number; ageSeconds: number; bytes: number } | null;
}

const RUN_STATES: RunSnapshot['state'][] = ['rendezvous', 'running', 'recovering', 'finished', 'failed'];
const WORKER_STATES = ['running', 'stopped', 'failed'];

/**
 * The coordinator's metrics of a run: its state, progress and throughput, the workers by state
 * with each one's step, heartbeat age and backend and device (labelled by rank: bounded by the
 * world size; backend and device are the few values the coordinator admits), and the latest
 * merged checkpoint. All are read from `snapshot` when Prometheus scrapes.
 */
export function registerRunMetrics(registry: Registry, snapshot: () => RunSnapshot): void {
  const on = { registers: [registry] };
  const gauge = (name: string, help: string, set: (g: Gauge) => void) =>
    new Gauge({ name, help, ...on, collect() { set(this); } });
  const labelled = (name: string, help: string, label: string, set: (g: Gauge<string>) => void) =>
    new Gauge<string>({ name, help, labelNames: [label], ...on, collect() { this.reset(); set(this); } });

  labelled('facefill_run_state', 'The run state (1 for the current one).', 'state', (g) => {
    const s = snapshot().state;
    for (const state of RUN_STATES) g.set({ state }, state === s ? 1 : 0);
  });
  gauge('facefill_run_step', 'Training steps every worker has completed.', (g) => g.set(snapshot().step));
  gauge('facefill_run_target_steps', 'Steps the run trains for.', (g) => g.set(snapshot().steps));
  gauge('facefill_run_images_per_second', 'Global images per second, from rank 0\'s reports.', (g) => g.set(snapshot().imagesPerSecond));
  labelled('facefill_workers', 'Workers by state.', 'state', (g) => {
    const workers = snapshot().workers;
    for (const state of WORKER_STATES) g.set({ state }, workers.filter((w) => w.state === state).length);
  });
  labelled('facefill_worker_step', 'Last step each worker reported.', 'rank', (g) => {
    for (const w of snapshot().workers) g.set({ rank: String(w.rank) }, w.step);
  });
  labelled('facefill_worker_heartbeat_age_seconds', 'Seconds since each worker was last heard from.', 'rank', (g) => {
    for (const w of snapshot().workers) g.set({ rank: String(w.rank) }, w.heartbeatAgeSeconds);
  });
  // An info metric: the labels carry the facts, so a mixed ring (or a GPU worker on the CPU) shows in one query.
  new Gauge<string>({
    name: 'facefill_worker_info',
    help: 'Each worker\'s tensor backend and the device it computes on (gpu or cpu), by rank (value 1).',
    labelNames: ['rank', 'backend', 'device'],
    ...on,
    collect() {
      this.reset();
      for (const w of snapshot().workers) this.set({ rank: String(w.rank), backend: w.backend, device: w.device }, 1);
    },
  });
  const checkpoint = (name: string, help: string, field: 'step' | 'ageSeconds' | 'bytes') =>
    gauge(name, help, (g) => {
      const c = snapshot().checkpoint;
      // No checkpoint yet: NaN (no value), since prom-client exports an unset gauge as a misleading 0.
      g.set(c ? c[field] : Number.NaN);
    });
  checkpoint('facefill_checkpoint_step', 'Step of the latest merged checkpoint.', 'step');
  checkpoint('facefill_checkpoint_age_seconds', 'Seconds since the latest checkpoint was merged.', 'ageSeconds');
  checkpoint('facefill_checkpoint_size_bytes', 'Size of the latest merged checkpoint.', 'bytes');
}
