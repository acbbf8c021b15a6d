import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import type { RunConfig } from '../../../src/shared/config';
import { DEFAULT_CONFIG } from '../../../src/shared/config';
import { buildDiscriminator, buildGenerator } from '../../../src/shared/model';
import { discriminatorParameters, generatorParameters, type ParameterCount } from '../../../src/shared/train/parameter-count';
import { tinyConfig } from './_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const size = (vars: readonly tf.LayerVariable[]) => vars.reduce((n, v) => n + v.read().size, 0);
const built = (model: tf.LayersModel): ParameterCount => {
  const count = { all: size(model.weights), trainable: size(model.trainableWeights) };
  model.dispose();
  return count;
};

// Configs that take every branch of the builders: norms, skips, a bottleneck, each minibatch
// layer, an image size that stops halving early, one-layer and the deepest networks.
const configs: [string, RunConfig][] = [
  ['tiny', tinyConfig()],
  ['no norm, no skip, a bottleneck', tinyConfig({ generator: { norm: 'none', skip: false, bottleneck: 8 } })],
  ['batch norm with a bottleneck', tinyConfig({ generator: { bottleneck: 5, layers: 5 } })],
  ['stddev minibatch, 24 px', tinyConfig({ discriminator: { minibatch: 'stddev', layers: 4 }, data: { imageSize: 24 } })],
  ['no minibatch layer, kernel 5', tinyConfig({ discriminator: { minibatch: 'none', kernelSize: 5 }, generator: { kernelSize: 5 } })],
  ['one layer each', tinyConfig({ generator: { layers: 1 }, discriminator: { layers: 1 } })],
  ['deepest', tinyConfig({ generator: { layers: 14, baseFilters: 2, maxFilters: 5 }, discriminator: { layers: 10, baseFilters: 2, maxFilters: 3 }, data: { imageSize: 20 } })],
  ['resize upsampling, mirrored input', tinyConfig({ generator: { upsample: 'resize', mirrorInput: true, layers: 5, bottleneck: 4 } })],
  ['the global linear path, 64 px', tinyConfig({ generator: { globalLinear: true }, data: { imageSize: 64 } })],
  ['a face prior, mirrored input', tinyConfig({ generator: { prior: 7, mirrorInput: true } })],
  ['the default preset', DEFAULT_CONFIG],
];

for (const [what, config] of configs) {
  test(`the counts from the config equal the built networks' weights: ${what}`, (t) => {
    const S = config.data.imageSize;
    t.deepEqual(generatorParameters(config.generator, S), built(buildGenerator(config.generator, S, 1)), 'generator');
    t.deepEqual(discriminatorParameters(config.discriminator, S), built(buildDiscriminator(config.discriminator, S, 1)), 'discriminator');
  });
}

test('batch norm statistics count as weights but not as trainable ones', (t) => {
  const withNorm = generatorParameters(tinyConfig().generator, 16);
  const without = generatorParameters(tinyConfig({ generator: { norm: 'none' } }).generator, 16);
  t.true(withNorm.all > withNorm.trainable);
  t.is(without.all, without.trainable);
});
