import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { saveCheckpoint } from '../../../src/shared/train/checkpoint';
import { checkpointWeightsSha256 } from '../../../src/shared/train/checkpoint-weights';
import { weightsSha256 } from '../../../src/shared/train/replica-weights';
import { trainedCheckpoint } from './_checkpoints';
import { tinyConfig } from './_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const tmp = () => mkdtempSync(join(tmpdir(), 'facefill-ckpt-weights-'));

// The coordinator checks an upload's bytes against the digest ranks report from their live
// networks: the two must be one function of the weights, for every layer kind.
for (const [what, config] of [
  ['batch norm, minibatch discrimination', tinyConfig()],
  ['no norm, a bottleneck, minibatch stddev', tinyConfig({ generator: { norm: 'none', bottleneck: 8, skip: false }, discriminator: { minibatch: 'stddev' } })],
] as const) {
  test(`the digest of a saved checkpoint's weight files is the digest ranks report of the networks: ${what}`, async (t) => {
    const content = await trainedCheckpoint(config, 2);
    const dir = await saveCheckpoint(tmp(), content);
    t.is(await checkpointWeightsSha256(dir), weightsSha256(content.networks));
    content.dispose();
  });
}

test('one flipped bit in either weights file changes the digest', async (t) => {
  const content = await trainedCheckpoint(tinyConfig(), 1);
  const dir = await saveCheckpoint(tmp(), content);
  const reported = weightsSha256(content.networks);
  content.dispose();
  for (const network of ['generator', 'discriminator']) {
    const path = join(dir, network, 'weights.bin');
    const original = readFileSync(path);
    const flipped = Buffer.from(original);
    flipped[flipped.length - 1] ^= 1;
    writeFileSync(path, flipped);
    t.not(await checkpointWeightsSha256(dir), reported, network);
    writeFileSync(path, original);
  }
  t.is(await checkpointWeightsSha256(dir), reported);
});
