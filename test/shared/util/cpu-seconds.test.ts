import test from 'ava';
import { processCpuSeconds } from '../../../src/shared/util/cpu-seconds';

test('the CPU seconds grow with work done on the main thread, at least by its wall time', (t) => {
  const before = processCpuSeconds();
  const start = performance.now();
  let x = 0;
  while (performance.now() - start < 120) x += Math.sqrt(x + 1);
  t.true(x > 0);
  // Rounded to 10 ms: 120 ms of busy wall time are at least 0.1 CPU seconds more.
  t.true(processCpuSeconds() - before >= 0.1, `from ${before} to ${processCpuSeconds()}`);
});
