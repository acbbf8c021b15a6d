import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { checkpointsDir, latestCheckpoint, loadCheckpoint, saveCheckpoint } from '../../../src/shared/train/checkpoint';
import { removeCheckpointLeftovers } from '../../../src/shared/train/checkpoint-leftovers';
import { removeDirectory, temporarySibling } from '../../../src/shared/util/atomic-write';
import { untrainedCheckpoint } from './_checkpoints';

test.before(async () => {
  await tf.setBackend('cpu');
});

const tmp = (): string => mkdtempSync(join(tmpdir(), 'facefill-leftovers-'));

test('leftovers of interrupted writes and transfers are removed; checkpoints, the pointer and other files are kept', async (t) => {
  const out = tmp();
  await saveCheckpoint(out, untrainedCheckpoint(1));
  const latest = await saveCheckpoint(out, untrainedCheckpoint(2));
  const root = checkpointsDir(out);
  const pointer = readFileSync(join(root, 'latest'));

  // What the writers leave when the process dies midway.
  const savingDir = temporarySibling(join(root, 'step-000003'));
  mkdirSync(join(savingDir, 'generator'), { recursive: true });
  writeFileSync(join(savingDir, 'generator', 'model.json'), '{');
  const pointerTmp = temporarySibling(join(root, 'latest'));
  writeFileSync(pointerTmp, '{');
  mkdirSync(join(root, '.incoming-0a1b2c3d', 'generator'), { recursive: true });
  writeFileSync(join(root, '.incoming-0a1b2c3d', 'generator', '.weights.bin.partial-4242'), 'half');
  mkdirSync(join(root, '.incoming-step-3'));
  writeFileSync(join(root, '.meta.json.partial-4242'), 'half');
  mkdirSync(join(root, '.replaced-step-000002-0a1b2c3d'));
  // A deletion that died between its rename and its rm.
  await saveCheckpoint(out, untrainedCheckpoint(9));
  await t.throwsAsync(removeDirectory(join(root, 'step-000009'), { ...fsp, rm: () => Promise.reject(new Error('killed')) }));
  const removing = readdirSync(root).find((n) => n.startsWith('.removing-')) ?? '';
  t.not(removing, '', 'the folder is left under a temporary name');
  await fsp.writeFile(join(root, 'latest'), pointer);
  writeFileSync(join(root, 'notes.txt'), 'mine');

  const done = await removeCheckpointLeftovers(out);
  const expected = [savingDir, pointerTmp, '.incoming-0a1b2c3d', '.incoming-step-3', '.meta.json.partial-4242', '.replaced-step-000002-0a1b2c3d', removing];
  t.deepEqual(done.removed.map((p) => basename(p)).sort(), expected.map((p) => basename(p)).sort());
  t.deepEqual(done.restored, []);
  t.deepEqual(readdirSync(root).sort(), ['latest', 'notes.txt', 'step-000001', 'step-000002']);
  t.deepEqual(readFileSync(join(root, 'latest')), pointer);
  t.is(await latestCheckpoint(out), latest);
  t.is((await loadCheckpoint(out)).step, 2);
  t.deepEqual(await removeCheckpointLeftovers(out), { removed: [], restored: [] }, 'a second pass finds nothing');
});

test('a checkpoint set aside to be replaced is moved back when a crash left its name empty', async (t) => {
  const out = tmp();
  const dir = await saveCheckpoint(out, untrainedCheckpoint(4));
  const root = checkpointsDir(out);
  // installDirectory's state between setting the old folder aside and moving the new one in.
  await fsp.rename(dir, join(root, '.replaced-step-000004-0a1b2c3d'));
  t.is(await latestCheckpoint(out).catch(() => 'broken'), 'broken');
  const done = await removeCheckpointLeftovers(out);
  t.deepEqual(done, { removed: [], restored: [dir] });
  t.is((await loadCheckpoint(out)).step, 4);
});

test('a run folder without checkpoints has no leftovers', async (t) => {
  t.deepEqual(await removeCheckpointLeftovers(tmp()), { removed: [], restored: [] });
});
