import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import sharp from 'sharp';
import { parseMaskList, runEval } from '../../src/commands/eval';
import { runRestore } from '../../src/commands/restore';
import { runTrain } from '../../src/commands/train';
import { ingest } from '../../src/shared/data/ingest';
import { UTKFACE_EYES_BOX } from '../../src/shared/data/eyes-box';
import { decodeGray, encodePng } from '../../src/shared/data/image-codec';
import { readManifest } from '../../src/shared/data/manifest';
import { SyntheticSource } from '../../src/shared/data/synthetic-source';
import { ConfigInvalidError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';
import { loadCheckpoint } from '../../src/shared/train/checkpoint';
import { tinyConfig } from '../shared/train/_tiny';

const run = promisify(execFile);
const CLI = resolve(__dirname, '../../src/cli.js');
const root = mkdtempSync(join(tmpdir(), 'facefill-restore-eval-'));
const data = join(root, 'dataset');
const out = join(root, 'run');
const log = createLogger('test', 'silent');

test.before(async () => {
  await ingest({ source: new SyntheticSource(60, 4), out: data, size: 16 });
  await runTrain({ config: tinyConfig({ backend: 'cpu', train: { steps: 2 } }), data, out, resume: false, progress: false });
});

test('eval scores the model and both baselines on every requested mask, and writes a grid', async (t) => {
  const grid = join(root, 'grid.png');
  const report = await runEval({ checkpoint: out, data, split: 'test', masks: 'eyes,lower', seed: 1, grid, backend: 'cpu', log });
  t.deepEqual(
    report.rows.map((r) => `${r.mask}/${r.inpainter}`),
    ['eyes/model', 'eyes/mean-fill', 'eyes/mean-face', 'eyes/telea', 'half-lower/model', 'half-lower/mean-fill', 'half-lower/mean-face', 'half-lower/telea'],
  );
  for (const r of report.rows) t.true(Number.isFinite(r.holePsnr) && r.ssim <= 1 && r.holeL1Percent >= 0);
  t.is((await sharp(grid).metadata()).format, 'png');
  const jittered = await runEval({ checkpoint: out, data, split: 'test', masks: 'eyes', seed: 1, jitter: true, backend: 'cpu', log });
  t.deepEqual(
    jittered.rows.map((r) => `${r.framing}/${r.inpainter}`),
    ['plain/model', 'plain/mean-fill', 'plain/mean-face', 'plain/telea', 'jitter/model', 'jitter/mean-fill', 'jitter/mean-face', 'jitter/telea'],
  );
});

test('restore writes the model-size image for a file, and reports a bad file in a folder without stopping', async (t) => {
  const input = join(root, 'faces');
  mkdirSync(input);
  await sharp({ create: { width: 90, height: 90, channels: 3, background: '#886644' } }).jpeg().toFile(join(input, 'a.jpg'));
  writeFileSync(join(input, 'b.png'), await encodePng(new Uint8Array(16 * 16).fill(120), 16, 16));
  writeFileSync(join(input, 'broken.jpg'), Buffer.from('nope'));
  // Batches of 2: the bad file shares the second batch with a good one.
  const folder = await runRestore({ checkpoint: out, input, mask: 'eyes', out: join(root, 'restored'), seed: 0, batchSize: 2, backend: 'cpu', log });
  t.deepEqual(readdirSync(join(root, 'restored')).sort(), ['a.jpg', 'b.png']);
  t.is(folder.failed.length, 1);
  const file = join(root, 'one.png');
  const mask = join(root, 'mask.png');
  writeFileSync(mask, await encodePng(new Uint8Array(32 * 32).fill(255, 0, 512), 32, 32));
  await runRestore({ checkpoint: out, input: join(input, 'a.jpg'), mask, out: file, seed: 0, backend: 'cpu', log });
  const meta = await sharp(file).metadata();
  t.deepEqual([meta.width, meta.height, meta.channels], [16, 16, 1]);
});

test("restore --mask eyes fills the eyes box the checkpoint trained with and keeps every other pixel", async (t) => {
  const input = join(root, 'flat.png');
  writeFileSync(input, await encodePng(new Uint8Array(16 * 16).fill(120), 16, 16));
  const file = join(root, 'flat-restored.png');
  await runRestore({ checkpoint: out, input, mask: 'eyes', out: file, seed: 0, backend: 'cpu', log });
  const restored = await decodeGray(readFileSync(file), 16, file);
  const box = (await loadCheckpoint(out)).config.data.eyesBox;
  if (!box) return t.fail('the checkpoint records no eyes box');
  t.deepEqual(box, (await readManifest(data)).eyesBox ?? UTKFACE_EYES_BOX);
  const inBox = (i: number) => {
    const [r, c] = [Math.floor(i / 16), i % 16];
    return r >= Math.round(box.top * 16) && r < Math.round(box.bottom * 16) && c >= Math.round(box.left * 16) && c < Math.round(box.right * 16);
  };
  const changed = Array.from(restored.keys()).filter((i) => restored[i] !== 120);
  t.true(changed.length > 0);
  t.deepEqual(changed.filter((i) => !inBox(i)), []);
});

test('unknown masks are named in the error', async (t) => {
  t.throws(() => parseMaskList('eyes,hat'), { instanceOf: ConfigInvalidError, message: /'hat'.*lower/ });
  await t.throwsAsync(runRestore({ checkpoint: out, input: data, mask: 'hat', out: join(root, 'x'), seed: 0, backend: 'cpu', log }), {
    instanceOf: ConfigInvalidError,
    message: /--mask 'hat'/,
  });
});

test('a --batch-size outside 1..1024 is refused, naming the flag, before anything is loaded', async (t) => {
  for (const batchSize of [0, 1025, 2.5]) {
    await t.throwsAsync(runRestore({ checkpoint: join(root, 'none'), input: data, mask: 'eyes', out: join(root, 'x'), seed: 0, batchSize, backend: 'cpu', log }), {
      instanceOf: ConfigInvalidError,
      message: `--batch-size ${batchSize}: expected a whole number 1..1024`,
    });
  }
  const args = [CLI, 'restore', '--checkpoint', out, '--input', data, '--mask', 'eyes', '--out', join(root, 'x'), '--backend', 'cpu', '--batch-size'];
  for (const [value, message] of [['two', /--batch-size.*expected a whole number, got 'two'/], ['0', /--batch-size 0: expected a whole number 1\.\.1024/]] as const) {
    const bad = await run('node', [...args, value]).catch((e: { code: number; stderr: string }) => e);
    t.is((bad as { code: number }).code, 2);
    t.regex((bad as { stderr: string }).stderr, message);
  }
  t.false(existsSync(join(root, 'x')));
});

test('the CLI exits 2 with the bad field named on a wrong config value, and lists presets', async (t) => {
  const bad = await run('node', [CLI, 'train', '--data', data, '--out', join(root, 'bad'), '--set', 'loss.mode=gan-only']).catch((e: { code: number; stderr: string }) => e);
  t.is((bad as { code: number }).code, 2);
  t.regex((bad as { stderr: string }).stderr, /loss\.mode.*"gan"\|"l2"\|"gan\+l2".*gan-only/);
  t.false(existsSync(join(root, 'bad')));
  const { stdout } = await run('node', [CLI, 'presets']);
  for (const name of ['default', 'autoencoder', 'v1.0', 'v2.6', 'v2.7.2', 'v2.8', 'v2.9', 'v3.0', 'v3.1', 'v3.2', 'v3.3']) t.regex(stdout, new RegExp(`^${name.replace('.', '\\.')}\\s`, 'm'));
});
