import { Registry } from 'prom-client';
import { COLLAPSE_METRIC_NAMES, CollapseMetrics } from '../../src/shared/metrics/collapse-metrics';
import { COLLECTIVE_METRIC_NAMES, CollectiveMetrics } from '../../src/shared/metrics/collective-metrics';
import { RECOVERY_METRIC_NAMES, RecoveryMetrics } from '../../src/shared/metrics/recovery-metrics';
import { createRegistry } from '../../src/shared/metrics/registry';
import { RUN_METRIC_NAMES, registerRunMetrics } from '../../src/shared/metrics/run-metrics';
import { TRAINING_METRIC_NAMES, TrainingMetrics } from '../../src/shared/metrics/training-metrics';

/** Every facefill metric family's exported names. */
export const FACEFILL_METRIC_NAMES: readonly string[] = [
  ...TRAINING_METRIC_NAMES,
  ...COLLECTIVE_METRIC_NAMES,
  ...RUN_METRIC_NAMES,
  ...COLLAPSE_METRIC_NAMES,
  ...RECOVERY_METRIC_NAMES,
];

/** Series Prometheus itself adds to every scrape that the dashboard and alerts may use. */
const PROMETHEUS_SERIES = ['up'];

/** The series names one metric of `type` exports. */
function seriesOf(name: string, type: string): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === 'summary') return [name, `${name}_sum`, `${name}_count`];
  return [name];
}

/**
 * Every series name a query may select: the names the facefill families list (a histogram's as
 * its `_bucket`, `_sum` and `_count`, its type read from the metric as registered), the
 * default process metrics as prom-client really exports them, and `up`.
 */
export async function exportedSeriesNames(): Promise<Set<string>> {
  const families = new Registry();
  new TrainingMetrics(families);
  new CollectiveMetrics(families);
  new CollapseMetrics(families);
  new RecoveryMetrics(families);
  registerRunMetrics(families, () => ({ state: 'running', step: 0, steps: 1, imagesPerSecond: 0, workers: [], checkpoint: null }));
  const types = new Map((await families.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));

  const names = new Set<string>(PROMETHEUS_SERIES);
  for (const name of FACEFILL_METRIC_NAMES) {
    const type = types.get(name);
    if (type === undefined) throw new Error(`${name} is listed in a *_METRIC_NAMES list but its family does not register it`);
    for (const s of seriesOf(name, type)) names.add(s);
  }
  for (const m of await createRegistry().getMetricsAsJSON()) for (const s of seriesOf(m.name, String(m.type))) names.add(s);
  return names;
}
