import { readFileSync } from 'node:fs';

/** The host's CPU time so far (all cores, in clock ticks, from /proc/stat): all of it, and how much was idle. */
export interface CpuSample {
  total: number;
  idle: number;
}

/** Reads the host's CPU times now (Linux). */
export function cpuSample(): CpuSample {
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"; guest time is already in user.
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: ticks.reduce((a, b) => a + b, 0), idle: ticks[3] + ticks[4] };
}

/** The fraction of the host's CPU time between two samples that was busy (any process, ours or not). */
export function busyBetween(a: CpuSample, b: CpuSample): number {
  const total = b.total - a.total;
  return total > 0 ? 1 - (b.idle - a.idle) / total : Number.NaN;
}
