import test from 'ava';
import { CheckpointError, ConfigInvalidError, ControlCallError, GpuUnavailableError, GrpcStatus, MaskFileError, RunStoppedError } from '../../src/shared/errors';
import { ExitCode, exitCodeFor, exitCodeMeaning, isRestartable } from '../../src/shared/exit-codes';

test('the codes of the contract', (t) => {
  t.deepEqual(ExitCode, { FINISHED: 0, FAILED: 1, USAGE: 2, RUN_STOPPED: 3 });
});

test('a stopped run exits 3, a bad config or usage 2, and any other error 1', (t) => {
  t.is(exitCodeFor(new RunStoppedError('rank 1 stopped: the coordinator stopped the run: rank 0 failed')), 3);
  t.is(exitCodeFor(new ConfigInvalidError('--gpus x: expected all or ordinals')), 2);
  t.is(exitCodeFor(new MaskFileError('hat.png', 'no hole')), 2);
  // A GPU the worker cannot use fails every restart the same way until the host is fixed: not restarted.
  t.is(exitCodeFor(new GpuUnavailableError(0, 'GPU 0 cannot be used: tfjs-node-gpu loaded but TensorFlow registered no GPU device')), 2);
  // A lost coordinator or a bad checkpoint is the process's own failure: another one may do better.
  t.is(exitCodeFor(new ControlCallError('coordinator 10.0.0.1:7700: register failed: UNAVAILABLE', GrpcStatus.UNAVAILABLE)), 1);
  t.is(exitCodeFor(new CheckpointError('step-000010 is incomplete')), 1);
  t.is(exitCodeFor(new TypeError('x is undefined')), 1);
  t.is(exitCodeFor('a thrown string'), 1);
});

test('only a crash is restartable: a signal, code 1, or a code outside the contract', (t) => {
  t.true(isRestartable(1, null));
  t.true(isRestartable(null, 'SIGKILL'));
  t.true(isRestartable(null, 'SIGSEGV'));
  t.true(isRestartable(134, null));
  t.false(isRestartable(0, null));
  t.false(isRestartable(2, null));
  t.false(isRestartable(3, null));
});

test('codes of the contract have a meaning for logs; others have none', (t) => {
  t.is(exitCodeMeaning(2), 'invalid config or usage');
  t.is(exitCodeMeaning(3), 'the run was stopped');
  t.is(exitCodeMeaning(134), undefined);
});
