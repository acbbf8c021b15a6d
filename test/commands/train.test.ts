import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runTrain } from '../../src/commands/train';
import { ingest } from '../../src/shared/data/ingest';
import { SyntheticSource } from '../../src/shared/data/synthetic-source';
import { loadCheckpoint } from '../../src/shared/train/checkpoint';
import { tinyConfig } from '../shared/train/_tiny';

const root = mkdtempSync(join(tmpdir(), 'facefill-train-cmd-'));
const data = join(root, 'dataset');

test.before(async () => {
  await ingest({ source: new SyntheticSource(40, 1), out: data, size: 16 });
});

test.serial('train runs on an ingested dataset, checkpoints, and resumes to more steps', async (t) => {
  const out = join(root, 'run');
  const config = tinyConfig({ backend: 'cpu', train: { steps: 3 } });
  const first = await runTrain({ config, data, out, resume: false, progress: true });
  t.is(first.stepsRun, 3);
  t.is(first.checkpoint, join(out, 'checkpoints', 'step-000003'));
  const second = await runTrain({ config: { ...config, train: { ...config.train, steps: 5 } }, data, out, resume: true, progress: false });
  t.is(second.startStep, 3);
  t.is(second.stepsRun, 2);
  const saved = await loadCheckpoint(out);
  t.is(saved.step, 5);
  t.is(saved.config.train.steps, 5);
});

test.serial('train refuses a dataset whose image size differs from the config', async (t) => {
  await t.throwsAsync(runTrain({ config: tinyConfig({ backend: 'cpu', data: { imageSize: 32 } }), data, out: join(root, 'other'), resume: false, progress: false }), {
    message: /16x16 images but data.imageSize is 32/,
  });
});
