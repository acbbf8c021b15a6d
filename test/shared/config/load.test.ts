import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { isNoAugment } from '../../../src/shared/data/augmentation';
import { ConfigInvalidError } from '../../../src/shared/errors';
import { DEFAULT_CONFIG, PRESETS, resolveConfig, validateConfig, validateSavedConfig } from '../../../src/shared/config';

const tmpFile = (name: string, text: string): string => {
  const file = join(mkdtempSync(join(tmpdir(), 'facefill-config-')), name);
  writeFileSync(file, text);
  return file;
};

test('every preset resolves to a valid config named after it', (t) => {
  for (const name of Object.keys(PRESETS)) {
    const config = resolveConfig({ preset: name });
    t.is(config.preset, name);
    t.notThrows(() => validateConfig(config));
  }
});

test('only the augmented preset augments: default and the research presets train on the crops as they are', (t) => {
  t.true(Object.values(resolveConfig({ preset: 'augmented' }).data.augment).some((bound) => bound > 0));
  for (const name of Object.keys(PRESETS).filter((n) => n !== 'augmented')) {
    t.true(isNoAugment(resolveConfig({ preset: name }).data.augment), name);
  }
});

test('v3.3 follows the slides: 6-layer G, 3-layer D, GAN+L2, lr 1e-5 / 4e-5, half-face, 64x64', (t) => {
  const c = resolveConfig({ preset: 'v3.3' });
  t.is(c.generator.layers, 6);
  t.is(c.discriminator.layers, 3);
  t.is(c.loss.mode, 'gan+l2');
  t.is(c.optimizer.lrG, 1e-5);
  t.is(c.optimizer.lrD, 4e-5);
  t.deepEqual(c.data.occlusion, { half: 1 });
  t.is(c.data.imageSize, 64);
  t.true(c.loss.softLabels && c.loss.isolatedMinibatches);
});

test('a preset replaces the occlusion mix whole instead of merging it into the default mix', (t) => {
  t.deepEqual(resolveConfig({ preset: 'v3.2' }).data.occlusion, { 'eyes-unconstrained': 1 });
});

test('precedence is preset < file < --set < flags, and sections merge field by field', (t) => {
  const file = tmpFile('run.json', JSON.stringify({ preset: 'v3.3', train: { steps: 7, seed: 9 }, loss: { l2Weight: 3 } }));
  const c = resolveConfig({ file, set: ['train.steps=8', 'loss.generatorLoss=reverse'], overrides: { train: { steps: 9 } } });
  t.is(c.preset, 'v3.3');
  t.is(c.train.steps, 9);
  t.is(c.train.seed, 9);
  t.is(c.loss.l2Weight, 3);
  t.is(c.loss.generatorLoss, 'reverse');
  t.is(c.generator.layers, 6, 'fields the file leaves out keep the preset value');
  t.is(c.train.checkpointEvery, DEFAULT_CONFIG.train.checkpointEvery);
});

test('a wrong enum value names the field, the value and the allowed values', (t) => {
  const err = t.throws(() => resolveConfig({ set: ['loss.mode=gan-only'] }), { instanceOf: ConfigInvalidError });
  t.regex(err.message, /loss\.mode/);
  t.regex(err.message, /gan-only/);
  t.regex(err.message, /"gan"\|"l2"\|"gan\+l2"/);
});

test('out-of-range numbers, unknown fields and empty occlusion mixes are rejected by name', (t) => {
  t.regex(t.throws(() => resolveConfig({ set: ['data.imageSize=8'] }))!.message, /data\.imageSize.*8/s);
  t.regex(t.throws(() => resolveConfig({ set: ['generator.colour=1'] }))!.message, /generator.*colour/s);
  t.regex(t.throws(() => resolveConfig({ set: ['data.occlusion={"box":0}'] }))!.message, /data\.occlusion/);
  t.regex(t.throws(() => resolveConfig({ set: ['data.occlusion={"hat":1}'] }))!.message, /hat/);
});

test('data.prefetch takes 0, 1 or 2 batches, and says so for anything else', (t) => {
  t.is(resolveConfig({ set: ['data.prefetch=0'] }).data.prefetch, 0);
  for (const bad of ['3', '-1', '1.5', '"1"']) {
    const err = t.throws(() => resolveConfig({ set: [`data.prefetch=${bad}`] }), { instanceOf: ConfigInvalidError });
    t.regex(err.message, /data\.prefetch: .*expected one of 0\|1\|2/);
  }
});

test('data.eyesBox is null (the manifest decides) unless set to a box inside the image with top < bottom and left < right', (t) => {
  t.is(resolveConfig({}).data.eyesBox, null);
  const box = { top: 0.2, bottom: 0.4, left: 0.15, right: 0.85 };
  t.deepEqual(resolveConfig({ set: [`data.eyesBox=${JSON.stringify(box)}`] }).data.eyesBox, box);
  for (const [bad, why] of [
    [{ ...box, top: 0.5 }, /data\.eyesBox: needs top < bottom/],
    [{ ...box, right: 1.2 }, /data\.eyesBox\.right/],
    [{ top: 0.2, bottom: 0.4 }, /data\.eyesBox\.left/],
  ] as const) {
    t.regex(t.throws(() => resolveConfig({ set: [`data.eyesBox=${JSON.stringify(bad)}`] }), { instanceOf: ConfigInvalidError }).message, why);
  }
});

test('unknown presets, malformed --set and unreadable files get clear errors', (t) => {
  t.regex(t.throws(() => resolveConfig({ preset: 'v9' }), { instanceOf: ConfigInvalidError }).message, /unknown preset 'v9'.*v3\.3/);
  t.regex(t.throws(() => resolveConfig({ set: ['steps=5'] }))!.message, /section\.field=value/);
  t.regex(t.throws(() => resolveConfig({ file: tmpFile('bad.json', '{nope') }))!.message, /not valid JSON/);
  t.regex(t.throws(() => resolveConfig({ file: '/nonexistent/run.json' }))!.message, /cannot read config file/);
});

// A config saved before some fields existed: the saved ones stay, the missing ones come from its preset.
test('a saved config missing fields added since takes them from its preset, and keeps every field it has', (t) => {
  const saved = resolveConfig({ preset: 'v3.3', set: ['train.steps=77'] });
  const old = JSON.parse(JSON.stringify(saved)) as { optimizer: Record<string, unknown>; data: Record<string, unknown>; cluster: Record<string, unknown>; train: Record<string, unknown> };
  delete old.data.prefetch;
  delete old.cluster.compression;
  delete old.optimizer.lrG;
  const loaded = validateSavedConfig(old, 'run.json');
  t.deepEqual(loaded, saved);
  t.not(PRESETS['v3.3'].overlay.optimizer?.lrG, DEFAULT_CONFIG.optimizer.lrG, 'the preset, not the default, gives lrG');
  // Fields that shape the networks or the data take the value older runs had, not the preset's.
  const before = JSON.parse(JSON.stringify(resolveConfig({}))) as { generator: Record<string, unknown>; data: Record<string, unknown> };
  delete before.generator.upsample;
  delete before.generator.mirrorInput;
  delete before.data.augment;
  const older = validateSavedConfig(before, 'run.json');
  t.deepEqual([older.generator.upsample, older.generator.mirrorInput, isNoAugment(older.data.augment)], ['transposed', false, true]);
  t.throws(() => validateSavedConfig({ ...old, train: { ...old.train, steps: -1 } }, 'run.json'), { instanceOf: ConfigInvalidError, message: /invalid run\.json:\n {2}- train\.steps/ });
  t.throws(() => validateSavedConfig({ ...old, extra: 1 }, 'run.json'), { instanceOf: ConfigInvalidError, message: /run\.json/ });
  t.throws(() => validateSavedConfig('nonsense', 'run.json'), { instanceOf: ConfigInvalidError, message: /run\.json/ });
});

test("an image side the face prior cannot pool is an error naming generator.prior; without the prior it is fine", (t) => {
  const error = t.throws(() => resolveConfig({ set: ['data.imageSize=37'] }), { instanceOf: ConfigInvalidError });
  t.regex(error.message, /generator\.prior: needs data\.imageSize to have a divisor from 16 to 32/);
  t.is(resolveConfig({ set: ['data.imageSize=37', 'generator.prior=0'] }).data.imageSize, 37);
  t.is(resolveConfig({ set: ['data.imageSize=48'] }).generator.prior, DEFAULT_CONFIG.generator.prior);
});
