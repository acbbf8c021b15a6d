import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { runDemo } from '../../src/commands/demo';
import { createLogger } from '../../src/shared/log';
import { loadCheckpoint } from '../../src/shared/train/checkpoint';

const log = createLogger('test', 'silent');

test('the demo generates data, trains the default preset, evaluates, writes samples, and a rerun continues the run', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'facefill-demo-'));
  const first = await runDemo({ out, images: 120, steps: 2, batchSize: 4, progress: false, log });
  t.true(existsSync(join(out, 'data', 'manifest.json')));
  t.is((await sharp(first.samples).metadata()).format, 'png');
  t.deepEqual([...new Set(first.report.rows.map((r) => r.inpainter))], ['model', 'mean-fill', 'mean-face']);
  const second = await runDemo({ out, images: 120, steps: 3, batchSize: 4, progress: false, log });
  const saved = await loadCheckpoint(second.checkpoint);
  t.is(saved.step, 3);
  t.is(saved.config.preset, 'default');
});
