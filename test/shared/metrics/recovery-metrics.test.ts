import test from 'ava';
import { Registry } from 'prom-client';
import { RECOVERY_CAUSES, RECOVERY_METRIC_NAMES, RecoveryMetrics } from '../../../src/shared/metrics/recovery-metrics';

/** A fresh family on its own registry, and its text exposition. */
function family(): { metrics: RecoveryMetrics; text: () => Promise<string> } {
  const registry = new Registry();
  return { metrics: new RecoveryMetrics(registry), text: () => registry.metrics() };
}

test('registers every name it exports, and nothing else', async (t) => {
  const registry = new Registry();
  new RecoveryMetrics(registry);
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
  t.deepEqual(names.sort(), [...RECOVERY_METRIC_NAMES].sort());
});

test('before any fault: every cause at 0, no generation, empty histogram, counters at 0', async (t) => {
  const text = await family().text();
  for (const cause of RECOVERY_CAUSES) t.regex(text, new RegExp(`^facefill_recoveries_total\\{cause="${cause}"\\} 0$`, 'm'));
  // prom-client writes NaN as Nan, which Prometheus reads as NaN.
  t.regex(text, /^facefill_ring_generation nan$/im);
  t.regex(text, /^facefill_recovery_seconds_count 0$/m);
  t.regex(text, /^facefill_recovery_seconds_bucket\{le="\+Inf"\} 0$/m);
  t.regex(text, /^facefill_skipped_steps_total 0$/m);
  t.regex(text, /^facefill_lost_steps_total 0$/m);
});

test('generation, recoveries, skipped steps show in the text exposition', async (t) => {
  const { metrics, text } = family();
  metrics.generation(2);
  metrics.recovered('worker_lost', 3, 7);
  metrics.recovered('worker_lost', 40, 0);
  metrics.recovered('rollback', 0.2, 5);
  metrics.skippedSteps();
  metrics.skippedSteps(3);
  const out = await text();
  t.regex(out, /^facefill_ring_generation 2$/m);
  t.regex(out, /^facefill_recoveries_total\{cause="worker_lost"\} 2$/m);
  t.regex(out, /^facefill_recoveries_total\{cause="rollback"\} 1$/m);
  t.regex(out, /^facefill_recoveries_total\{cause="stall"\} 0$/m);
  t.regex(out, /^facefill_recovery_seconds_count 3$/m);
  t.regex(out, /^facefill_recovery_seconds_sum 43.2$/m);
  // 0.2 s in the 0.25 s bucket, 3 s in the 5 s one, 40 s in the 60 s one.
  t.regex(out, /^facefill_recovery_seconds_bucket\{le="0.1"\} 0$/m);
  t.regex(out, /^facefill_recovery_seconds_bucket\{le="0.25"\} 1$/m);
  t.regex(out, /^facefill_recovery_seconds_bucket\{le="5"\} 2$/m);
  t.regex(out, /^facefill_recovery_seconds_bucket\{le="30"\} 2$/m);
  t.regex(out, /^facefill_recovery_seconds_bucket\{le="600"\} 3$/m);
  t.regex(out, /^facefill_lost_steps_total 12$/m);
  t.regex(out, /^facefill_skipped_steps_total 4$/m);
});

test('a negative or non-finite duration or step count is refused, and nothing of that call recorded', async (t) => {
  const { metrics, text } = family();
  const before = await text();
  t.throws(() => metrics.recovered('stall', 1, -1), { instanceOf: RangeError, message: '-1 lost steps: expected an integer >= 0' });
  t.throws(() => metrics.recovered('stall', 1, Number.NaN), { instanceOf: RangeError, message: /NaN lost steps/ });
  t.throws(() => metrics.recovered('stall', -0.5, 0), { instanceOf: RangeError, message: 'recovery of cause stall took -0.5 s: expected a finite number >= 0' });
  t.throws(() => metrics.recovered('stall', Number.POSITIVE_INFINITY, 0), { instanceOf: RangeError });
  t.throws(() => metrics.skippedSteps(1.5), { instanceOf: RangeError, message: '1.5 skipped steps: expected an integer >= 0' });
  t.is(await text(), before);
});
