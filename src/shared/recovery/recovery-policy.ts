import type { OptimizerConfig, RunConfig } from '../config';

/**
 * What went wrong in a run, as the recovery policy sees it: the collapse detector turned
 * collapsed; `streak` consecutive steps were skipped for a non-finite value; a member of the
 * ring was lost (`alive` members remain); or a world below `cluster.minWorkers` waited for
 * replacements in vain.
 */
export type Fault =
  | { kind: 'collapse'; step: number; reason: string }
  | { kind: 'nonfinite'; step: number; streak: number; what: string }
  | { kind: 'member-lost'; alive: number; who: string }
  | { kind: 'rejoin-expired'; alive: number };

/** Where a run stands when a fault is judged. */
export interface RecoveryContext {
  config: Pick<RunConfig, 'monitor' | 'train' | 'cluster'>;
  /** The optimizer settings the run trains with now (earlier rollbacks lowered them). */
  optimizer: OptimizerConfig;
  /** Rollbacks taken so far. */
  rollbacks: number;
  /** Step of the newest checkpoint saved while the run was healthy, or null. */
  healthyStep: number | null;
}

/** What to do about a fault. */
export type Recovery =
  /** Nothing yet (a skipped step under the streak limit). */
  | { action: 'continue' }
  /** Log it and train on. */
  | { action: 'warn'; reason: string }
  /** End the run as failed. */
  | { action: 'stop'; reason: string }
  /** Go back to the checkpoint of `toStep` and train on with `optimizer`. */
  | { action: 'rollback'; toStep: number; optimizer: OptimizerConfig; reason: string }
  /** Train on with the members still alive, from their last completed step. */
  | { action: 'regroup'; reason: string }
  /** Too few members: wait up to `seconds` for replacements. */
  | { action: 'wait'; seconds: number; reason: string };

/**
 * The one recovery policy of a run, for `facefill train` and the coordinator alike: a collapse
 * does what `monitor.collapseAction` says (a rollback lowers D's learning rate by
 * `monitor.rollbackLrFactor`); `train.maxSkippedSteps` non-finite steps in a row roll back with
 * both learning rates lowered (a diverging run needs smaller steps on both sides); a rollback
 * needs a healthy checkpoint and one of `monitor.maxRollbacks` left, else the run stops, naming
 * why. A lost member regroups the ring while `cluster.minWorkers` remain, else the run waits
 * `cluster.rejoinSeconds` for replacements and then stops. Pure: the caller carries it out.
 */
export function decideRecovery(fault: Fault, c: RecoveryContext): Recovery {
  const { monitor, train, cluster } = c.config;
  switch (fault.kind) {
    case 'collapse': {
      const what = `mode collapse at step ${fault.step}: ${fault.reason}`;
      if (monitor.collapseAction === 'warn') return { action: 'warn', reason: `${what} (monitor.collapseAction=warn: training goes on)` };
      if (monitor.collapseAction === 'stop') return { action: 'stop', reason: `${what} (monitor.collapseAction=stop)` };
      return rollback(what, c, { ...c.optimizer, lrD: c.optimizer.lrD * monitor.rollbackLrFactor });
    }
    case 'nonfinite': {
      if (fault.streak < train.maxSkippedSteps) return { action: 'continue' };
      const what = `${fault.streak} steps in a row skipped for non-finite values, the last at step ${fault.step}: ${fault.what}`;
      const factor = monitor.rollbackLrFactor;
      return rollback(what, c, { ...c.optimizer, lrG: c.optimizer.lrG * factor, lrD: c.optimizer.lrD * factor });
    }
    case 'member-lost':
      if (fault.alive >= cluster.minWorkers) return { action: 'regroup', reason: `lost ${fault.who}; training goes on with the ${fault.alive} workers left` };
      return {
        action: 'wait',
        seconds: cluster.rejoinSeconds,
        reason: `lost ${fault.who}; ${fault.alive} workers are left, cluster.minWorkers is ${cluster.minWorkers}: waiting up to ${cluster.rejoinSeconds} s for replacements`,
      };
    case 'rejoin-expired':
      return { action: 'stop', reason: `only ${fault.alive} workers after waiting ${cluster.rejoinSeconds} s for replacements; cluster.minWorkers is ${cluster.minWorkers}` };
  }
}

function rollback(what: string, c: RecoveryContext, optimizer: OptimizerConfig): Recovery {
  const max = c.config.monitor.maxRollbacks;
  if (c.healthyStep === null) return { action: 'stop', reason: `${what}; no checkpoint was saved while the run was healthy, so it cannot roll back` };
  if (c.rollbacks >= max) return { action: 'stop', reason: `${what}; stopped after ${c.rollbacks} rollbacks (monitor.maxRollbacks=${max})` };
  const lowered = optimizer.lrG !== c.optimizer.lrG ? `optimizer.lrG ${optimizer.lrG} and optimizer.lrD ${optimizer.lrD}` : `optimizer.lrD ${optimizer.lrD}`;
  return { action: 'rollback', toStep: c.healthyStep, optimizer, reason: `${what}; rolled back to the checkpoint of step ${c.healthyStep} with ${lowered}` };
}
