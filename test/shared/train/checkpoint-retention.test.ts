import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { CheckpointError } from '../../../src/shared/errors';
import { checkpointsDir, latestCheckpoint, loadCheckpoint, pointLatestCheckpoint, saveCheckpoint } from '../../../src/shared/train/checkpoint';
import { checkpointsToPrune, pruneCheckpoints } from '../../../src/shared/train/checkpoint-retention';
import { untrainedCheckpoint } from './_checkpoints';

test.before(async () => {
  await tf.setBackend('cpu');
});

const tmp = (): string => mkdtempSync(join(tmpdir(), 'facefill-retention-'));

test('keep 0 keeps every checkpoint', (t) => {
  t.deepEqual(checkpointsToPrune([100, 200, 300], 0, []), []);
});

test('keep fewer than there are: the oldest go, oldest first, whatever order the steps come in', (t) => {
  t.deepEqual(checkpointsToPrune([500, 100, 300, 200, 400], 2, []), [100, 200, 300]);
  t.deepEqual(checkpointsToPrune([100, 200], 2, []), []);
  t.deepEqual(checkpointsToPrune([100, 200], 5, []), []);
});

test('an old protected step is kept on top of the newest ones', (t) => {
  t.deepEqual(checkpointsToPrune([100, 200, 300, 400, 500], 2, [100]), [200, 300]);
});

test('a protected step among the newest counts as one of them', (t) => {
  t.deepEqual(checkpointsToPrune([100, 200, 300, 400, 500], 2, [500]), [100, 200, 300]);
  t.deepEqual(checkpointsToPrune([100, 200, 300, 400, 500], 2, new Set([500, 200, 999])), [100, 300]);
});

test('no checkpoints, nothing to prune', (t) => {
  t.deepEqual(checkpointsToPrune([], 3, [1]), []);
});

test('pruneCheckpoints deletes the picked folders of a real run and latest still resolves', async (t) => {
  const out = tmp();
  const dirs: string[] = [];
  for (const step of [1, 2, 3, 4, 5]) dirs.push(await saveCheckpoint(out, untrainedCheckpoint(step)));
  t.deepEqual(await pruneCheckpoints(out, 0, []), []);
  t.deepEqual(await pruneCheckpoints(out, 2, [1]), [dirs[1], dirs[2]]);
  t.deepEqual(readdirSync(checkpointsDir(out)).sort(), ['latest', 'step-000001', 'step-000004', 'step-000005']);
  t.is(await latestCheckpoint(out), dirs[4]);
  t.is((await loadCheckpoint(out)).step, 5);
});

test('pruneCheckpoints never deletes the checkpoint latest points at, even when the caller does not protect it', async (t) => {
  const out = tmp();
  const dirs: string[] = [];
  for (const step of [1, 2, 3]) dirs.push(await saveCheckpoint(out, untrainedCheckpoint(step)));
  await pointLatestCheckpoint(out, dirs[0]); // a rollback to step 1
  t.deepEqual(await pruneCheckpoints(out, 1, []), [dirs[1]]);
  t.is(await latestCheckpoint(out), dirs[0]);
  t.is((await loadCheckpoint(out)).step, 1);
});

test('pruneCheckpoints refuses a run whose latest pointer is broken and deletes nothing', async (t) => {
  const out = tmp();
  for (const step of [1, 2, 3]) await saveCheckpoint(out, untrainedCheckpoint(step));
  writeFileSync(join(checkpointsDir(out), 'latest'), JSON.stringify({ checkpoint: 'step-000007', step: 7 }));
  await t.throwsAsync(pruneCheckpoints(out, 1, []), { instanceOf: CheckpointError });
  t.deepEqual(readdirSync(checkpointsDir(out)).sort(), ['latest', 'step-000001', 'step-000002', 'step-000003']);
  t.deepEqual(await pruneCheckpoints(tmp(), 1, []), [], 'a run without checkpoints');
});
