import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Compression } from '../src/shared/collective';
import type { ConfigOverlay } from '../src/shared/config';
import { Cluster, evidence, exitWithin, type LogLine } from './_cluster';
import { busyBetween, cpuSample } from './_host-cpu';
import type { SwitchedHosts } from './_netns';
import { median } from './_table';

/** One point of the scaling sweep: ranks, emulated compute per step, the ring's encryption and compression. */
export interface ScalingPoint {
  ranks: number;
  computeMs: number;
  encryption: 'curve' | 'none';
  compression: Compression;
}

/** What every point shares. */
export interface PointSetting {
  root: string;
  /** The ingested dataset the coordinator serves. */
  data: string;
  hosts: SwitchedHosts;
  /** Steps run before the measured ones (JIT, fresh connections). */
  warmUpSteps: number;
  measuredSteps: number;
  /** How long a point's run may take, start to exit. */
  boundMs: number;
}

/** A point's medians over its measured steps. */
export interface PointResult {
  /** Between rank 0's reports of consecutive steps, as the coordinator receives them: the whole step, whatever it waits on. */
  stepSeconds: number;
  /** Rank 0's D and G all-reduces of a step, waits for slower ranks included. */
  reduceSeconds: number;
  /** How busy the host's cores were over the measured steps (every process's work, not only the run's). */
  hostBusy: number;
}

const STEP_LINE = /^step (\d+)\/\d+$/;

/**
 * Runs one point: a coordinator and `ranks` workers, each in its own namespace on the switch,
 * started from the CLI with the run's real defaults (TLS, run token, the `default` preset) and
 * `train.emulateComputeMs`, trained for the warm-up and measured steps. The coordinator logs
 * rank 0's report of every step (at debug level); the step and all-reduce times come from those lines.
 * Nothing outlives the call; `onCleanup` is given a synchronous cleanup for a signal meanwhile.
 * Throws with the processes' evidence when the run does not finish in time.
 */
export async function runPoint(p: ScalingPoint, s: PointSetting, onCleanup: (cleanup: (() => void) | null) => void): Promise<PointResult> {
  const name = `n${p.ranks}-c${p.computeMs}-${p.encryption}-${p.compression}`;
  const steps = s.warmUpSteps + s.measuredSteps;
  const config: ConfigOverlay = {
    preset: 'default',
    // The final checkpoint only; no probe (it would run the real generator); logEvery as by
    // default (only rank 0 reports every step), the coordinator's debug lines time each step.
    train: { steps, checkpointEvery: 0, emulateComputeMs: p.computeMs },
    monitor: { probeEvery: 0 },
    cluster: { ringEncryption: p.encryption, compression: p.compression, rendezvousTimeoutSeconds: s.boundMs / 1000 },
  };
  const configFile = join(s.root, `${name}.json`);
  writeFileSync(configFile, JSON.stringify(config));
  const began = Date.now();
  let cluster: Cluster | null = null;
  onCleanup(() => cluster?.killAll());
  try {
    const c = new Cluster({ root: s.root, name, config: configFile, data: s.data, workers: p.ranks, minWorkers: p.ranks, placement: s.hosts.placement(), coordinatorLogLevel: 'debug' });
    cluster = c;
    const left = () => s.boundMs - (Date.now() - began);
    const reported = (step: number) => c.coordinator.waitFor((l) => l.msg === `step ${step}/${steps}`, left());
    // The host's CPU over the measured steps: from the last warm-up step's report to the last step's.
    const from = (await reported(s.warmUpSteps)) ? cpuSample() : null;
    const to = from && (await reported(steps)) ? cpuSample() : null;
    const exit = await exitWithin(c.coordinator, left());
    const lines = c.coordinator.lines.filter((l) => STEP_LINE.test(l.msg));
    if (exit?.code !== 0 || lines.length < steps) {
      throw new Error([`${name}: the run ${exit ? `ended (exit ${exit.code}) after ${lines.length} of ${steps} steps` : `did not end within ${s.boundMs / 1000} s`}`, ...evidence(c.all, began)].join('\n'));
    }
    // Workers end on their own once the run is over; those that do not are killed below.
    await Promise.all(c.workers.map((w) => exitWithin(w, 10_000)));
    return { ...measure(lines, s.warmUpSteps, steps), hostBusy: from && to ? busyBetween(from, to) : Number.NaN };
  } finally {
    cluster?.killAll();
    onCleanup(null);
  }
}

// Medians over the measured steps: the gap from each step's report to the one before, and rank 0's all-reduce seconds.
function measure(lines: LogLine[], warmUp: number, steps: number): Omit<PointResult, 'hostBusy'> {
  const at = new Map(lines.map((l) => [Number(STEP_LINE.exec(l.msg)?.[1]), l]));
  const gaps: number[] = [];
  const reduces: number[] = [];
  for (let step = warmUp + 1; step <= steps; step++) {
    const [line, before] = [at.get(step), at.get(step - 1)];
    if (!line || !before) throw new Error(`the coordinator logged no report of step ${line ? step - 1 : step}`);
    gaps.push((line.time - before.time) / 1000);
    reduces.push(Number(line.reduceSeconds));
  }
  return { stepSeconds: median(gaps) ?? Number.NaN, reduceSeconds: median(reduces) ?? Number.NaN };
}
