import { Counter, Gauge, type Registry } from 'prom-client';

/** Every collapse metric's name, for the dashboard and alert checks. */
export const COLLAPSE_METRIC_NAMES = [
  'facefill_mode_collapse',
  'facefill_mode_collapse_score',
  'facefill_mode_collapse_events_total',
  'facefill_output_diversity_ratio',
] as const;

/** One judgement of the mode-collapse detector, as exported. */
export interface CollapseReading {
  collapsed: boolean;
  /** 0 (healthy) .. 1 (surely collapsed). */
  score: number;
  /** True when this reading turned the state from healthy to collapsed. */
  event: boolean;
  /** Generated-hole diversity over real-hole diversity at the last probe, or null when none ran. */
  diversityRatio: number | null;
}

/** The mode-collapse detector's state: whether the GAN collapsed, how sure it is, how often it happened. */
export class CollapseMetrics {
  private readonly collapsed: Gauge;
  private readonly score: Gauge;
  private readonly events: Counter;
  private readonly diversity: Gauge;

  constructor(registry: Registry) {
    const on = { registers: [registry] };
    this.collapsed = new Gauge({ name: 'facefill_mode_collapse', help: '1 while the generator is judged mode-collapsed, else 0.', ...on });
    this.score = new Gauge({ name: 'facefill_mode_collapse_score', help: 'How strongly the signals point to mode collapse, 0 (healthy) to 1.', ...on });
    this.events = new Counter({ name: 'facefill_mode_collapse_events_total', help: 'Times the generator was judged to have collapsed.', ...on });
    this.diversity = new Gauge({ name: 'facefill_output_diversity_ratio', help: 'Mean pairwise distance of generated holes over that of the real holes, on the probe batch.', ...on });
    this.collapsed.set(0);
    this.score.set(0);
    // Unset gauges export 0, and a diversity of 0 reads as total collapse: NaN until the first probe.
    this.diversity.set(Number.NaN);
  }

  update(r: CollapseReading): void {
    this.collapsed.set(r.collapsed ? 1 : 0);
    this.score.set(r.score);
    if (r.event) this.events.inc();
    if (r.diversityRatio !== null) this.diversity.set(r.diversityRatio);
  }
}
