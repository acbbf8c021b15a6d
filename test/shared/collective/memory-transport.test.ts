import test from 'ava';
import { MemoryRing } from '../../../src/shared/collective/memory-transport';
import { ringSuite } from './_ring-suite';

ringSuite(test, 'memory', async (n) => {
  const ring = new MemoryRing(n);
  return { transports: Array.from({ length: n }, (_, r) => ring.transport(r)), close: async () => undefined };
}, 16);
