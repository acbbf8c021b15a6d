import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { CheckpointError } from '../../../src/shared/errors';
import { buildDiscriminator, buildGenerator } from '../../../src/shared/model';
import {
  type CheckpointContent,
  latestCheckpoint,
  loadCheckpoint,
  loadGeneratorForInference,
  saveCheckpoint,
} from '../../../src/shared/train/checkpoint';
import { Trainer } from '../../../src/shared/train/trainer';
import { boxBatch, syntheticFaces, tinyConfig } from './_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const tmp = (): string => mkdtempSync(join(tmpdir(), 'facefill-ckpt-'));
const values = (model: tf.LayersModel): number[][] => model.getWeights().map((w) => Array.from(w.dataSync()));

/** A trainer after two steps, so that Adam has moments and batch norm has moving statistics. */
async function trained(): Promise<{ content: CheckpointContent; trainer: Trainer }> {
  const config = tinyConfig();
  const networks = {
    generator: buildGenerator(config.generator, 16, config.train.seed),
    discriminator: buildDiscriminator(config.discriminator, 16, config.train.seed),
  };
  const trainer = new Trainer(config, networks);
  const faces = syntheticFaces(8, 16);
  for (let step = 0; step < 2; step++) await trainer.step(boxBatch(faces, [0, 1, 2, 3]), step);
  return { trainer, content: { step: 2, config, manifestHash: 'abc123', networks, optimizers: await trainer.optimizerStates() } };
}

test('a checkpoint round-trips weights, optimizer state, step, config and manifest hash', async (t) => {
  const { content } = await trained();
  const out = tmp();
  const dir = await saveCheckpoint(out, content);
  t.is(dir, join(out, 'checkpoints', 'step-000002'));
  t.is(await latestCheckpoint(out), dir);
  const loaded = await loadCheckpoint(out);
  t.is(loaded.dir, dir);
  t.is(loaded.step, 2);
  t.is(loaded.manifestHash, 'abc123');
  t.deepEqual(loaded.config, content.config);
  t.deepEqual(values(loaded.networks.generator), values(content.networks.generator));
  t.deepEqual(values(loaded.networks.discriminator), values(content.networks.discriminator));
  for (const network of ['generator', 'discriminator'] as const) {
    const [saved, back] = [content.optimizers[network], loaded.optimizers[network]];
    t.deepEqual(back.map((w) => w.name), saved.map((w) => w.name));
    t.deepEqual(back.map((w) => Array.from(w.tensor.dataSync())), saved.map((w) => Array.from(w.tensor.dataSync())));
    t.true(saved.length > 1, 'Adam moments are saved');
  }
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { files: { path: string; sha256: string }[] };
  t.true(meta.files.some((f) => f.path === 'generator/weights.bin' && /^[0-9a-f]{64}$/.test(f.sha256)));
});

test('a flipped byte in weights.bin is detected and the error names the file', async (t) => {
  const { content } = await trained();
  const dir = await saveCheckpoint(tmp(), content);
  const file = join(dir, 'generator', 'weights.bin');
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1] ^= 0x01;
  writeFileSync(file, bytes);
  await t.throwsAsync(loadCheckpoint(dir), { instanceOf: CheckpointError, message: /generator\/weights\.bin is corrupt/ });
  await t.throwsAsync(loadGeneratorForInference(dir), { instanceOf: CheckpointError, message: /generator\/weights\.bin/ });
});

test('a missing file or a folder that is no checkpoint gives a CheckpointError', async (t) => {
  const { content } = await trained();
  const dir = await saveCheckpoint(tmp(), content);
  writeFileSync(join(dir, 'meta.json'), '{ not json');
  await t.throwsAsync(loadCheckpoint(dir), { instanceOf: CheckpointError, message: /meta\.json/ });
  await t.throwsAsync(loadCheckpoint(tmp()), { instanceOf: CheckpointError, message: /neither a checkpoint/ });
});

test('the generator loads for inference from a run folder or a checkpoint folder, following latest', async (t) => {
  const { content, trainer } = await trained();
  const out = tmp();
  const first = await saveCheckpoint(out, content);
  await trainer.step(boxBatch(syntheticFaces(8, 16), [4, 5, 6, 7]), 2);
  const second = await saveCheckpoint(out, { ...content, step: 3, optimizers: await trainer.optimizerStates() });
  const fromRun = await loadGeneratorForInference(out);
  t.is(fromRun.dir, second);
  t.is(fromRun.step, 3);
  t.deepEqual(values(fromRun.generator), values(content.networks.generator));
  t.is((await loadGeneratorForInference(first)).step, 2);
  t.deepEqual(readdirSync(join(out, 'checkpoints')).sort(), ['latest', 'step-000002', 'step-000003']);
});

test('saving the same step again replaces that checkpoint whole', async (t) => {
  const { content } = await trained();
  const out = tmp();
  await saveCheckpoint(out, content);
  await saveCheckpoint(out, { ...content, manifestHash: 'def456' });
  t.is((await loadCheckpoint(out)).manifestHash, 'def456');
  t.deepEqual(readdirSync(join(out, 'checkpoints')).sort(), ['latest', 'step-000002']);
});

test('a latest pointer that names a folder outside the run is refused, whatever lies there', async (t) => {
  const out = tmp();
  mkdirSync(join(out, 'checkpoints'), { recursive: true });
  for (const name of ['../../elsewhere', 'x\\..', '/etc']) {
    writeFileSync(join(out, 'checkpoints', 'latest'), JSON.stringify({ checkpoint: name, step: 1 }));
    await t.throwsAsync(loadCheckpoint(out), { instanceOf: CheckpointError, message: /latest is not a valid checkpoint pointer/ }, name);
  }
});
