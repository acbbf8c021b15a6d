import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { selectBackend } from '../../../src/shared/backend/select';
import type { RunConfig } from '../../../src/shared/config';
import { buildDiscriminator, buildGenerator } from '../../../src/shared/model';
import { Trainer } from '../../../src/shared/train/trainer';
import { boxBatch, maxAbsDiff, syntheticFaces, tinyConfig } from './_tiny';

// The trainer must compute the same step on every backend; the cpu backend is the reference.
const config = tinyConfig({ generator: { kernelSize: 4 } });
const batch = boxBatch(syntheticFaces(8, 16), [0, 1, 2, 3]);

async function gradientsOn(backend: 'cpu' | 'wasm', config: RunConfig): Promise<{ d: Float32Array; g: Float32Array }> {
  await selectBackend(backend);
  const trainer = new Trainer(config, {
    generator: buildGenerator(config.generator, 16, config.train.seed),
    discriminator: buildDiscriminator(config.discriminator, 16, config.train.seed),
  });
  const d = (await trainer.discriminatorGradients(batch, 0)).flat;
  const g = (await trainer.generatorGradients(batch, 0)).flat;
  trainer.dispose();
  trainer.generator.dispose();
  trainer.discriminator.dispose();
  return { d, g };
}

for (const [what, variant] of [
  ['', config],
  [' (resize upsampling, mirrored input, global path)', tinyConfig({ generator: { kernelSize: 4, upsample: 'resize', mirrorInput: true, globalLinear: true } })],
] as const) {
  test.serial(`wasm computes the gradients the cpu backend computes${what}`, async (t) => {
    const cpu = await gradientsOn('cpu', variant);
    const wasm = await gradientsOn('wasm', variant);
    t.is(tf.getBackend(), 'wasm');
    const scale = (v: Float32Array) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    t.true(maxAbsDiff(cpu.d, wasm.d) <= 1e-3 * scale(cpu.d), `D gradients differ by ${maxAbsDiff(cpu.d, wasm.d)}`);
    t.true(maxAbsDiff(cpu.g, wasm.g) <= 1e-3 * scale(cpu.g), `G gradients differ by ${maxAbsDiff(cpu.g, wasm.g)}`);
  });
}

test.serial('wasm training steps leak no tensors', async (t) => {
  await selectBackend('wasm');
  const trainer = new Trainer(config, {
    generator: buildGenerator(config.generator, 16, config.train.seed),
    discriminator: buildDiscriminator(config.discriminator, 16, config.train.seed),
  });
  await trainer.step(batch, 0);
  const before = tf.memory().numTensors;
  for (let step = 1; step <= 2; step++) await trainer.step(batch, step);
  t.is(tf.memory().numTensors, before);
});
