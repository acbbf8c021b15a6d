import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecoveryView } from '../src/coordinator/api';
import type { TrialPlan } from './_chaos-plan';
import { Cluster, evidence, exitText, exitWithin, type LogLine, loopback, type Proc } from './_cluster';
import { HostMesh } from './_netns';
import { RunWatcher } from './_run-watch';

/** What every trial shares: the dataset, the config file and its numbers, the bounds. */
export interface TrialSetting {
  root: string;
  data: string;
  config: string;
  steps: number;
  workers: number;
  minWorkers: number;
  /** How long the run may take to reach the fault's step. */
  reachBoundMs: number;
  /** How long every process still meant to run may take to exit after the fault. */
  exitBoundMs: number;
  /** How long a link stays cut (Infinity: to the end of the trial). */
  cutMs: number;
}

/** One trial's outcome, as the table shows it. */
export interface TrialResult {
  plan: TrialPlan;
  /** The fault as done, naming the worker's rank when known. */
  fault: string;
  /** Most steps any process logged completing before the fault; null when the fault's step was never reached. */
  reachedAtFault: number | null;
  /** Fault to the first new recovery record in run.json (s); null when none appeared. */
  detectS: number | null;
  /** Fault to the first step of the last new ring (s): that record's detection plus its `seconds`; null when no new ring trained. */
  resumeS: number | null;
  /** Sum of the new records' `lostSteps`. */
  lostRecord: number | null;
  /** `reachedAtFault` less the earliest step a new ring resumed from. */
  lostObserved: number | null;
  recoveries: RecoveryView[];
  finished: boolean;
  /** The final merged checkpoint exists and the coordinator logged every replica's digest agreeing (how many). */
  digests: { agreed: boolean; replicas: number | null };
  /** Processes that did not exit within the bound (killed). */
  hung: string[];
  notes: string[];
  /** Process output worth reading when the trial went wrong. */
  evidence: string[];
  wallS: number;
}

const STEP_LINE = /^step (\d+)\/\d+$/;
/** How long the coordinator gets to exit after the run while a SIGSTOPped worker still lives. */
const STOPPED_GRACE_MS = 5_000;

/**
 * Runs one trial: a coordinator and its workers train until the plan's step, the fault is
 * injected, and every process still meant to run must then exit within the bound (a hang
 * otherwise: it is killed). Measures from `run.json` (polled every 100 ms) and the processes'
 * log lines. Nothing outlives the call: processes are killed and namespaces removed in `finally`,
 * and `onCleanup` is given a synchronous cleanup for a signal that ends the bench meanwhile.
 */
export async function runTrial(plan: TrialPlan, s: TrialSetting, onCleanup: (cleanup: (() => void) | null) => void): Promise<TrialResult> {
  const began = Date.now();
  const mesh = plan.fault === 'link-cut' ? new HostMesh(`${process.pid % 100_000}t${plan.index}`, s.workers) : null;
  let cluster: Cluster | null = null;
  let healTimer: NodeJS.Timeout | null = null;
  const watcher = new RunWatcher(join(s.root, `trial-${plan.index}`));
  const cleanup = () => {
    if (healTimer) clearTimeout(healTimer);
    watcher.stop();
    cluster?.killAll();
    mesh?.tearDown();
  };
  onCleanup(cleanup);
  const r: TrialResult = {
    plan,
    fault: describe(plan, null),
    reachedAtFault: null,
    detectS: null,
    resumeS: null,
    lostRecord: null,
    lostObserved: null,
    recoveries: [],
    finished: false,
    digests: { agreed: false, replicas: null },
    hung: [],
    notes: [],
    evidence: [],
    wallS: 0,
  };
  let faultAt = 0;
  try {
    mesh?.setUp();
    const placement = mesh ? mesh.placement() : await loopback();
    const c = new Cluster({ root: s.root, name: `trial-${plan.index}`, config: s.config, data: s.data, workers: s.workers, minWorkers: s.minWorkers, placement });
    cluster = c;
    watcher.start();
    const reached = await c.coordinator.waitFor((l) => l.msg === `step ${plan.atStep}/${s.steps}`, s.reachBoundMs);
    if (!reached) {
      r.notes.push(`step ${plan.atStep} not reached`);
      r.evidence.push(`step ${plan.atStep} was not reached within ${s.reachBoundMs / 1000} s; no fault injected`, ...evidence(c.all, began));
      return r;
    }
    await watcher.poll();
    const generationAtFault = watcher.state?.generation ?? 0;
    const target = c.workers[plan.worker];
    const rank = (p: Proc) => watcher.state?.members.find((m) => m.pid === p.child.pid)?.rank ?? null;
    r.fault = describe(plan, plan.fault === 'link-cut' ? [rank(target), rank(c.workers[plan.peer])] : [rank(target)]);
    faultAt = Date.now();
    // Processes that must exit on their own by the bound; the faulted worker is not one of them.
    let expected: Proc[] = [c.coordinator, ...c.workers];
    switch (plan.fault) {
      case 'kill-worker':
        target.kill('SIGKILL');
        expected = expected.filter((p) => p !== target);
        break;
      case 'stop-worker':
        target.kill('SIGSTOP');
        expected = expected.filter((p) => p !== target);
        break;
      case 'kill-coordinator': {
        const old = c.coordinator;
        old.kill('SIGKILL');
        if ((await exitWithin(old, 10_000)) === null) r.hung.push(`${old.name} (did not die of SIGKILL)`);
        expected = [c.startCoordinator(true), ...c.workers];
        break;
      }
      case 'link-cut':
        mesh?.cut(plan.worker, plan.peer);
        if (Number.isFinite(s.cutMs)) healTimer = setTimeout(() => mesh?.heal(plan.worker, plan.peer), s.cutMs);
        break;
    }
    r.reachedAtFault = Math.max(0, ...c.all.flatMap((p) => p.lines.filter((l) => l.time <= faultAt).map(stepOf)));
    const left = () => faultAt + s.exitBoundMs - Date.now();
    if (plan.fault === 'stop-worker') {
      // The stopped worker dies once the run is over for the others: the survivors have exited.
      const [coordinator, ...survivors] = expected;
      await Promise.all(survivors.map((p) => exitWithin(p, left())));
      const lingered = (await exitWithin(coordinator, Math.min(left(), STOPPED_GRACE_MS))) === null;
      const killedAt = Date.now();
      target.kill('SIGKILL');
      const exit = lingered ? await exitWithin(coordinator, left()) : null;
      if (exit) r.notes.push(`coord exit waited for the stopped worker: up > ${STOPPED_GRACE_MS / 1000} s after the run, exited ${((exit.atMs - killedAt) / 1000).toFixed(1)} s after its SIGKILL`);
    }
    const exits = await Promise.all(expected.map((p) => exitWithin(p, left())));
    for (const [i, exit] of exits.entries()) {
      if (exit !== null) continue;
      r.hung.push(expected[i].name);
      expected[i].kill('SIGKILL');
    }
    await watcher.poll();
    measure(r, watcher, generationAtFault, faultAt);
    const state = watcher.state;
    r.finished = state?.state === 'finished' && state.latestCheckpoint?.step === s.steps;
    if (state && state.state !== 'finished') r.notes.push(`run ${state.state}`);
    const final = join(c.out, 'checkpoints', `step-${String(s.steps).padStart(6, '0')}`, 'meta.json');
    const merged = c.coordinator.lines.find((l) => l.msg.startsWith(`merged checkpoint of step ${s.steps}: all `));
    const replicas = merged ? Number(/all (\d+) replicas agree/.exec(merged.msg)?.[1] ?? NaN) : null;
    r.digests = { agreed: existsSync(final) && replicas !== null, replicas };
    const odd: string[] = [];
    for (const [i, exit] of exits.entries()) if (exit && exit.code !== 0) odd.push(`${expected[i].name} ${exitText(exit)}`);
    // The last ring: all workers after a coordinator restart, one fewer after a lost worker or a lasting cut (either after a mended one).
    const wanted = plan.fault === 'kill-coordinator' ? [s.workers] : plan.fault === 'link-cut' && Number.isFinite(s.cutMs) ? [s.workers - 1, s.workers] : [s.workers - 1];
    if (replicas !== null && !wanted.includes(replicas)) odd.push(`final ring of ${replicas}`);
    r.notes.push(...odd);
    if (!r.finished || r.hung.length > 0 || !r.digests.agreed || odd.length > 0) r.evidence.push(...evidence(c.all, faultAt));
    return r;
  } catch (err) {
    r.notes.push(`bench error: ${(err as Error).message.split('\n')[0]}`);
    r.evidence.push(String((err as Error).stack ?? err), ...(cluster ? evidence(cluster.all, faultAt || began) : []));
    return r;
  } finally {
    cleanup();
    onCleanup(null);
    // Every process's whole output beside the run folder, for reading a trial afterwards.
    for (const p of cluster?.all ?? []) writeFileSync(join(s.root, `trial-${plan.index}.${p.name.replace(/\W+/g, '-')}.log`), p.output());
    r.wallS = (Date.now() - began) / 1000;
  }
}

// Detection, resumption and lost steps from the recovery records that appeared after the fault.
function measure(r: TrialResult, watcher: RunWatcher, generationAtFault: number, faultAt: number): void {
  const fresh = [...watcher.sightings.values()].filter((x) => x.record.generation > generationAtFault).sort((a, b) => a.record.generation - b.record.generation);
  r.recoveries = fresh.map((x) => x.record);
  if (fresh.length === 0) return;
  r.detectS = (fresh[0].firstSeenMs - faultAt) / 1000;
  const trained = fresh.filter((x) => x.record.step >= 0 && x.record.seconds > 0);
  const last = trained.at(-1);
  if (last && last === fresh.at(-1)) r.resumeS = (last.firstSeenMs - faultAt) / 1000 + last.record.seconds;
  r.lostRecord = fresh.reduce((sum, x) => sum + x.record.lostSteps, 0);
  const resumed = fresh.filter((x) => x.record.step >= 0).map((x) => x.record.step);
  if (resumed.length > 0 && r.reachedAtFault !== null) r.lostObserved = Math.max(0, r.reachedAtFault - Math.min(...resumed));
}

const stepOf = (l: LogLine): number => Number(STEP_LINE.exec(l.msg)?.[1] ?? 0);

function describe(plan: TrialPlan, ranks: (number | null)[] | null): string {
  const who = (i: number, k: number) => `w${i}${ranks?.[k] !== null && ranks?.[k] !== undefined ? `/r${ranks[k]}` : ''}`;
  switch (plan.fault) {
    case 'kill-worker':
      return `SIGKILL ${who(plan.worker, 0)}`;
    case 'stop-worker':
      return `SIGSTOP ${who(plan.worker, 0)}`;
    case 'kill-coordinator':
      return 'SIGKILL coord, --resume';
    case 'link-cut':
      return `cut ${who(plan.worker, 0)}-${who(plan.peer, 1)}`;
  }
}
