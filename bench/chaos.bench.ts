import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigOverlay } from '../src/shared/config';
import { ingest } from '../src/shared/data/ingest';
import { SyntheticSource } from '../src/shared/data/synthetic-source';
import { FAULTS, type Fault, planTrials } from './_chaos-plan';
import { runTrial, type TrialResult, type TrialSetting } from './_chaos-trial';
import { netnsUnavailable } from './_netns';
import { type Bench, type BenchOptions, type BenchTable, median } from './_table';

const TRIALS = 20;
const WORKERS = 3;
const MIN_WORKERS = 2;
const STEPS = 60;
const CHECKPOINT_EVERY = 10;
/** Faults land after one of these steps. */
const FAULT_STEPS = { first: 10, last: 45 };
/** The bench stops starting trials once this much time has gone (the rest count as not finished). */
const BUDGET_MS = 15 * 60_000;
const TARGET_RECOVERY_S = 10;
const CUT_MS = Infinity;

// The tiny cluster of the tests (16x16 faces, tiny networks on wasm, heartbeats every 0.5 s
// timing out after 4 s), trained 60 steps by 3 workers that go on with 2. A collective waits
// at most 10 s (the tests' 60 s would make a cut link the slowest fault to notice by far).
const CONFIG: ConfigOverlay = {
  backend: 'wasm',
  data: { imageSize: 16, batchSize: 8 },
  generator: { layers: 4, baseFilters: 4, maxFilters: 8, kernelSize: 3 },
  discriminator: { layers: 2, baseFilters: 4, maxFilters: 8, kernelSize: 3, minibatchKernels: 4, minibatchDims: 2 },
  train: { steps: STEPS, checkpointEvery: CHECKPOINT_EVERY, logEvery: 1 },
  cluster: { heartbeatSeconds: 0.5, heartbeatTimeoutSeconds: 4, collectiveTimeoutSeconds: 10, rendezvousTimeoutSeconds: 120, minWorkers: MIN_WORKERS, reconnectSeconds: 60 },
};

const fixed = (v: number | null, digits = 1): string => (v === null ? '-' : Number.isFinite(v) ? v.toFixed(digits) : 'inf');
const yes = (b: boolean): string => (b ? 'yes' : 'NO');
const isWorkerFault = (f: Fault): boolean => f === 'kill-worker' || f === 'stop-worker' || f === 'link-cut';
// The steps a trial lost: the coordinator's record, or what the processes' logs show when that is more.
const lostOf = (r: TrialResult): number | null => (r.lostRecord === null && r.lostObserved === null ? null : Math.max(r.lostRecord ?? 0, r.lostObserved ?? 0));

/**
 * Fault tolerance under chaos: 20 trials, one after another, of a 3-worker tiny run on loopback,
 * each with one fault at a random step (seeded: `--seed` replays, `--trial N` runs one): SIGKILL
 * or SIGSTOP of a worker, SIGKILL of the coordinator and a restart with --resume, and, where
 * network namespaces can be made, the link between two workers' namespaces cut. A row per trial:
 * seconds to detect and to resume, steps lost, whether the run finished with agreeing digests,
 * whether any process hung; the last line sums up.
 */
export const chaosBench: Bench = {
  name: 'chaos',
  onlyWhenNamed: true,
  async run(options: BenchOptions = {}): Promise<BenchTable> {
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    const netns = netnsUnavailable();
    const faults = netns === null ? FAULTS : FAULTS.filter((f) => f !== 'link-cut');
    const plans = planTrials(seed, TRIALS, faults, FAULT_STEPS, WORKERS).filter((p) => options.trial === undefined || p.index === options.trial);
    const root = mkdtempSync(join(tmpdir(), 'facefill-bench-chaos-'));
    const data = join(root, 'data');
    await ingest({ source: new SyntheticSource(120, 5), out: data, size: 16 });
    const config = join(root, 'config.json');
    writeFileSync(config, JSON.stringify(CONFIG));
    const setting: TrialSetting = { root, data, config, steps: STEPS, workers: WORKERS, minWorkers: MIN_WORKERS, reachBoundMs: 90_000, exitBoundMs: 60_000, cutMs: CUT_MS };

    // A signal that ends the bench mid-trial still kills its processes and removes its namespaces.
    let cleanup: (() => void) | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      cleanup?.();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    const began = Date.now();
    const results: TrialResult[] = [];
    const skipped: number[] = [];
    try {
      for (const plan of plans) {
        if (Date.now() - began > BUDGET_MS) {
          skipped.push(plan.index);
          continue;
        }
        const r = await runTrial(plan, setting, (c) => (cleanup = c));
        results.push(r);
        console.error(`chaos trial ${plan.index}/${TRIALS} (${r.fault} at step ${plan.atStep}): ${r.finished ? 'finished' : 'NOT finished'}${r.hung.length ? `, hung: ${r.hung.join(', ')}` : ''} in ${r.wallS.toFixed(1)} s`);
      }
    } finally {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    }
    const totalS = (Date.now() - began) / 1000;
    const keep = !results.every((r) => r.finished && r.evidence.length === 0);
    if (!keep) rmSync(root, { recursive: true, force: true });

    const rows = results.map((r) => [
      String(r.plan.index),
      r.fault,
      String(r.plan.atStep),
      fixed(r.detectS),
      fixed(r.resumeS),
      r.lostRecord === null ? '-' : r.lostObserved !== null && r.lostObserved !== r.lostRecord ? `${r.lostRecord} (logs: ${r.lostObserved})` : String(r.lostRecord),
      yes(r.finished),
      r.digests.agreed ? `yes (${r.digests.replicas})` : 'NO',
      r.hung.length ? `YES: ${r.hung.join(' ')}` : 'no',
      causes(r),
      fixed(r.wallS, 0),
      r.notes.join('; '),
    ]);
    const finished = results.filter((r) => r.finished).length;
    const hangs = results.filter((r) => r.hung.length > 0).length;
    const lost = results.map(lostOf).filter((x): x is number => x !== null);
    const lostWorker = results.filter((r) => isWorkerFault(r.plan.fault)).map(lostOf).filter((x): x is number => x !== null);
    const lostCoordinator = results.filter((r) => r.plan.fault === 'kill-coordinator').map(lostOf).filter((x): x is number => x !== null);
    // A fault detected whose new ring never trained counts as an endless recovery.
    const recovery = median(results.filter((r) => r.detectS !== null).map((r) => r.resumeS ?? Infinity));
    const count = plans.length;
    const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
    const notes = [
      `seed ${seed} (replay: npm run bench chaos -- --seed ${seed}; one trial: add --trial N); ${count} trials in ${(totalS / 60).toFixed(1)} min${skipped.length ? `; not run, the ${BUDGET_MS / 60_000} min budget spent: trials ${skipped.join(', ')}` : ''}`,
      `run: ${WORKERS} workers, --min-workers ${MIN_WORKERS}, ${STEPS} steps, checkpointEvery ${CHECKPOINT_EVERY}, heartbeat 0.5 s / timeout 4 s, collective timeout 10 s; fault after a step in ${FAULT_STEPS.first}..${FAULT_STEPS.last}`,
      netns === null
        ? `link cut: both ends of the veth link between two workers' network namespaces set down${Number.isFinite(CUT_MS) ? ` for ${CUT_MS / 1000} s` : ' for the rest of the trial'} (coordinator and workers each in a namespace)`
        : `link cut: skipped (${netns})`,
      'detected: fault to the first new recovery record in run.json (polled every 0.1 s); resumed: the last new record\'s detection + its seconds (to its ring\'s first step; "-" when it never trained, counted as inf in the median); lost: the records\' lostSteps (logs: steps logged before the fault less the step resumed from, when different)',
      `hung: a process meant to keep running not exited ${setting.exitBoundMs / 1000} s after the fault (then killed); a SIGSTOPped worker is SIGKILLed after its run`,
      ...(keep ? [`run folders and logs kept in ${root}`] : []),
      ...evidenceNotes(results),
      `targets: finished ${finished}/${count} (${met(finished === count)}), hangs ${hangs} (${met(hangs === 0)}), lost steps worker faults max ${fixed(lostWorker.length ? Math.max(...lostWorker) : null, 0)} (target 0: ${met(lostWorker.every((x) => x === 0))}), coordinator faults max ${fixed(lostCoordinator.length ? Math.max(...lostCoordinator) : null, 0)} (target <= ${CHECKPOINT_EVERY}: ${met(lostCoordinator.every((x) => x <= CHECKPOINT_EVERY))}), median recovery ${fixed(recovery)} s (target <= ${TARGET_RECOVERY_S}: ${met(recovery !== null && recovery <= TARGET_RECOVERY_S)})`,
      `summary: finished=${finished}/${count} hangs=${hangs} lost_steps_max=${lost.length ? Math.max(...lost) : '-'} recovery_s_median=${fixed(recovery)}`,
    ];
    return {
      title: `chaos: one fault per trial on a ${WORKERS}-worker tiny run (seed ${seed})`,
      columns: ['trial', 'fault', 'at step', 'detected s', 'resumed s', 'lost steps', 'finished', 'digests agree', 'hung', 'recoveries', 'wall s', 'notes'],
      rows,
      notes,
    };
  },
};

// The recoveries' causes in order, a run of the same one counted: `worker_lost x5`.
function causes(r: TrialResult): string {
  const runs: [string, number][] = [];
  for (const { cause } of r.recoveries) {
    const last = runs.at(-1);
    if (last && last[0] === cause) last[1]++;
    else runs.push([cause, 1]);
  }
  return runs.map(([c, n]) => (n > 1 ? `${c} x${n}` : c)).join('+') || '-';
}

// The output of the trials that went wrong, under the table.
function evidenceNotes(results: TrialResult[]): string[] {
  return results.filter((r) => r.evidence.length > 0).flatMap((r) => [`trial ${r.plan.index} (${r.fault} at step ${r.plan.atStep}), times from the fault:`, ...r.evidence]);
}
