import test from 'ava';
import { processCpuSeconds } from '../../../src/shared/util/cpu-seconds';

test('the CPU seconds are the process\'s user and system time, in seconds', (t) => {
  const before = processCpuSeconds();
  // Work until the kernel has counted 200 ms more CPU (bounded by wall time, for a starved host).
  const used = process.cpuUsage();
  const start = performance.now();
  let x = 0;
  while (performance.now() - start < 20_000) {
    x += Math.sqrt(x + 1);
    const now = process.cpuUsage(used);
    if (now.user + now.system >= 200_000) break;
  }
  t.true(x > 0);
  const grown = processCpuSeconds() - before;
  t.true(grown >= 0.19 && grown < 20, `grew by ${grown}`);
});
