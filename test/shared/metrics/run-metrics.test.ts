import test from 'ava';
import { Registry } from 'prom-client';
import { RUN_METRIC_NAMES, type RunSnapshot, registerRunMetrics } from '../../../src/shared/metrics/run-metrics';

const worker = (rank: number, backend: string, device: string) => ({ rank, backend, device, state: 'running', step: 3, heartbeatAgeSeconds: 0.5 });

test('registers every name it exports, and nothing else', async (t) => {
  const registry = new Registry();
  registerRunMetrics(registry, () => ({ state: 'running', step: 0, steps: 1, imagesPerSecond: 0, workers: [], checkpoint: null }));
  t.deepEqual((await registry.getMetricsAsJSON()).map((m) => m.name).sort(), [...RUN_METRIC_NAMES].sort());
});

test('facefill_worker_info is 1 for each worker, labelled with its rank, backend and device; a worker gone is gone from it', async (t) => {
  const registry = new Registry();
  let snapshot: RunSnapshot = { state: 'running', step: 3, steps: 10, imagesPerSecond: 5, workers: [worker(0, 'tensorflow-gpu', 'gpu'), worker(1, 'wasm', 'cpu')], checkpoint: null };
  registerRunMetrics(registry, () => snapshot);
  const info = async () => (await registry.getSingleMetricAsString('facefill_worker_info')).split('\n').filter((l) => !l.startsWith('#'));
  t.deepEqual(await info(), ['facefill_worker_info{rank="0",backend="tensorflow-gpu",device="gpu"} 1', 'facefill_worker_info{rank="1",backend="wasm",device="cpu"} 1']);
  snapshot = { ...snapshot, workers: [worker(0, 'tensorflow-gpu', 'gpu')] };
  t.deepEqual(await info(), ['facefill_worker_info{rank="0",backend="tensorflow-gpu",device="gpu"} 1']);
});
