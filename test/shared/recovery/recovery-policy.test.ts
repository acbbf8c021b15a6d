import test from 'ava';
import { DEFAULT_CONFIG, type RunConfig } from '../../../src/shared/config';
import { decideRecovery, type Fault, type RecoveryContext } from '../../../src/shared/recovery/recovery-policy';

const context = (over: { monitor?: Partial<RunConfig['monitor']>; cluster?: Partial<RunConfig['cluster']>; rollbacks?: number; healthyStep?: number | null } = {}): RecoveryContext => ({
  config: {
    monitor: { ...DEFAULT_CONFIG.monitor, maxRollbacks: 2, rollbackLrFactor: 0.5, ...over.monitor },
    train: { ...DEFAULT_CONFIG.train, maxSkippedSteps: 3 },
    cluster: { ...DEFAULT_CONFIG.cluster, minWorkers: 2, rejoinSeconds: 45, ...over.cluster },
  },
  optimizer: { lrG: 0.001, lrD: 0.0002, beta1: 0.5, beta2: 0.999, schedule: 'constant' },
  rollbacks: over.rollbacks ?? 0,
  healthyStep: over.healthyStep === undefined ? 500 : over.healthyStep,
});

const collapse: Fault = { kind: 'collapse', step: 740, reason: 'output diversity 0.05' };

test('a collapse warns, stops or rolls back as monitor.collapseAction says; a rollback lowers only D\'s rate', (t) => {
  const warn = decideRecovery(collapse, context({ monitor: { collapseAction: 'warn' } }));
  t.is(warn.action, 'warn');
  const stop = decideRecovery(collapse, context({ monitor: { collapseAction: 'stop' } }));
  t.deepEqual(stop, { action: 'stop', reason: 'mode collapse at step 740: output diversity 0.05 (monitor.collapseAction=stop)' });
  const back = decideRecovery(collapse, context({ monitor: { collapseAction: 'rollback' } }));
  if (back.action !== 'rollback') return t.fail(back.action);
  t.is(back.toStep, 500);
  t.deepEqual(back.optimizer, { lrG: 0.001, lrD: 0.0001, beta1: 0.5, beta2: 0.999, schedule: 'constant' });
  t.regex(back.reason, /rolled back to the checkpoint of step 500 with optimizer\.lrD 0\.0001$/);
});

test('a non-finite streak waits for train.maxSkippedSteps, then rolls back with both rates lowered', (t) => {
  const streak = (n: number): Fault => ({ kind: 'nonfinite', step: 900 + n, streak: n, what: 'the discriminator gradient is not finite' });
  t.deepEqual(decideRecovery(streak(1), context()), { action: 'continue' });
  t.deepEqual(decideRecovery(streak(2), context()), { action: 'continue' });
  const back = decideRecovery(streak(3), context());
  if (back.action !== 'rollback') return t.fail(back.action);
  t.deepEqual([back.toStep, back.optimizer.lrG, back.optimizer.lrD], [500, 0.0005, 0.0001]);
  t.regex(back.reason, /^3 steps in a row skipped for non-finite values, the last at step 903: the discriminator gradient is not finite; rolled back/);
});

test('a rollback needs a healthy checkpoint and one of monitor.maxRollbacks left, else the run stops saying which', (t) => {
  const on = { monitor: { collapseAction: 'rollback' as const } };
  const none = decideRecovery(collapse, context({ ...on, healthyStep: null }));
  t.is(none.action, 'stop');
  t.regex((none as { reason: string }).reason, /no checkpoint was saved while the run was healthy/);
  t.is(decideRecovery(collapse, context({ ...on, rollbacks: 1 })).action, 'rollback');
  const spent = decideRecovery(collapse, context({ ...on, rollbacks: 2 }));
  t.is(spent.action, 'stop');
  t.regex((spent as { reason: string }).reason, /stopped after 2 rollbacks \(monitor\.maxRollbacks=2\)/);
  const nan = decideRecovery({ kind: 'nonfinite', step: 9, streak: 3, what: 'x' }, context({ healthyStep: null }));
  t.is(nan.action, 'stop');
});

test('a lost member regroups while cluster.minWorkers remain, else waits cluster.rejoinSeconds, then stops', (t) => {
  const lost = (alive: number): Fault => ({ kind: 'member-lost', alive, who: 'rank 2 (10.0.0.3 gpu 1)' });
  t.is(decideRecovery(lost(2), context()).action, 'regroup');
  t.deepEqual(decideRecovery(lost(1), context()), {
    action: 'wait',
    seconds: 45,
    reason: 'lost rank 2 (10.0.0.3 gpu 1); 1 workers are left, cluster.minWorkers is 2: waiting up to 45 s for replacements',
  });
  const expired = decideRecovery({ kind: 'rejoin-expired', alive: 1 }, context());
  t.is(expired.action, 'stop');
  t.regex((expired as { reason: string }).reason, /only 1 workers after waiting 45 s.*minWorkers is 2/);
});
