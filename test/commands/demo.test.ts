import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { readRunState } from '../../src/coordinator/run-state';
import { runDemo } from '../../src/commands/demo';
import { createLogger } from '../../src/shared/log';
import { loadCheckpoint } from '../../src/shared/train/checkpoint';

const log = createLogger('test', 'silent');

test('the demo generates data, trains the default preset on a coordinator and 2 worker processes, pulls the merged checkpoint and evaluates it', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'facefill-demo-'));
  const demo = await runDemo({ out, images: 120, steps: 3, batchSize: 4, workers: 2, progress: false, log });
  t.true(existsSync(join(out, 'data', 'manifest.json')));
  t.is((await sharp(demo.samples).metadata()).format, 'png');
  t.deepEqual([...new Set(demo.report.rows.map((r) => r.inpainter))], ['model', 'mean-fill', 'mean-face', 'telea']);
  const saved = await loadCheckpoint(demo.checkpoint);
  t.is(saved.step, 3);
  t.is(saved.config.preset, 'default');
  const state = await readRunState(demo.run);
  t.is(state.state, 'finished');
  t.is(state.members.length, 2);
});
