import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { CHECKPOINT_FILES, checkpointFiles, SEAL_FILE, saveCheckpoint } from '../../../src/shared/train/checkpoint';
import { CHECKPOINT_JSON_BYTES, checkpointLimits } from '../../../src/shared/train/checkpoint-limits';
import { trainedCheckpoint } from './_checkpoints';
import { tinyConfig } from './_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

test('a saved checkpoint holds exactly the files the limits name, and fits them: weights exactly, Adam state and JSON within', async (t) => {
  for (const config of [tinyConfig(), tinyConfig({ generator: { norm: 'none', bottleneck: 8 }, discriminator: { minibatch: 'stddev' } })]) {
    const content = await trainedCheckpoint(config, 1);
    const dir = await saveCheckpoint(mkdtempSync(join(tmpdir(), 'facefill-limits-')), content);
    content.dispose();
    const limits = checkpointLimits(config);
    t.deepEqual(await checkpointFiles(dir), [...CHECKPOINT_FILES]);
    t.deepEqual([...limits.files.keys()], [...CHECKPOINT_FILES]);
    let total = 0;
    for (const [name, max] of limits.files) {
      const bytes = statSync(join(dir, name)).size;
      total += bytes;
      if (name.endsWith('weights.bin') || name.endsWith('optimizer.bin')) t.is(bytes, max, `${name} is as big as its parameters say`);
      else t.true(bytes <= max, `${name}: ${bytes} bytes over ${max}`);
    }
    t.true(total <= limits.totalBytes);
    t.is(limits.totalBytes, [...limits.files.values()].reduce((a, b) => a + b, 0));
  }
});

test('a download admits the seal too; an upload does not', (t) => {
  t.false(checkpointLimits(tinyConfig()).files.has(SEAL_FILE));
  const sealed = checkpointLimits(tinyConfig(), true);
  t.is(sealed.files.get(SEAL_FILE), CHECKPOINT_JSON_BYTES);
  t.is(sealed.totalBytes, checkpointLimits(tinyConfig()).totalBytes + CHECKPOINT_JSON_BYTES);
});

test('a bigger network gets a bigger bound', (t) => {
  const small = checkpointLimits(tinyConfig()).totalBytes;
  t.true(checkpointLimits(tinyConfig({ generator: { baseFilters: 8, maxFilters: 16 } })).totalBytes > small);
  t.true(checkpointLimits(tinyConfig({ data: { imageSize: 32 }, discriminator: { layers: 1 } })).totalBytes > small, 'D flattens a larger map');
});
