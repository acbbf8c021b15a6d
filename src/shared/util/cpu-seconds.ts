/**
 * CPU seconds this process has used so far, user and system, all its threads (the main
 * thread, libuv's pool, ZeroMQ's I/O threads): what a run's last log line reports, so that a
 * slow run can be told apart from a starved one.
 */
export function processCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return Number(((user + system) / 1e6).toFixed(2));
}
