import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { ConfigInvalidError } from '../../../src/shared/errors';
import {
  buildGenerator,
  ConditionalFaces,
  FacePriorFill,
  fitFacePrior,
  fitGeneratorPrior,
  inpaint,
  installFacePrior,
  planGenerator,
  PRIOR_LAYER,
} from '../../../src/shared/model';
import { modelFromFiles, modelToFiles } from '../../../src/shared/train/model-files';
import { boxBatch, syntheticFaces, tinyConfig } from '../train/_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const faces = syntheticFaces(60, 32, 4);
// At 16 px the generator's prior is 16x16: a fit of seconds, not the 32x32 one's.
const small = syntheticFaces(60, 16, 4);
const generatorConfig = tinyConfig({ generator: { prior: 6 } }).generator;

test('the plan pools the prior to the largest divisor of the side from 16 to 32, and refuses a side without one', (t) => {
  t.is(planGenerator({ ...generatorConfig, prior: 0 }, 64).prior, null);
  t.deepEqual(planGenerator(generatorConfig, 64).prior, { side: 32, components: 6 });
  t.deepEqual(planGenerator(generatorConfig, 48).prior, { side: 24, components: 6 });
  t.deepEqual(planGenerator(generatorConfig, 17).prior, { side: 17, components: 6 });
  const error = t.throws(() => planGenerator(generatorConfig, 74), { instanceOf: ConfigInvalidError });
  t.regex(error.message, /generator\.prior .* 74 has none/);
});

test("the layer gives atanh of the prior's fill at its side, resized up to the image's", (t) => {
  const prior = fitFacePrior(faces, 16, 6);
  const layer = new FacePriorFill({ side: 16, components: 6 });
  const batch = boxBatch(faces, [50, 51, 52], 2);
  const input = tf.tidy(() => {
    const real = tf.tensor4d(batch.real, [3, 32, 32, 1]);
    const mask = tf.tensor4d(batch.mask, [3, 32, 32, 1]);
    return tf.concat([tf.mul(real, tf.sub(1, mask)), mask], 3);
  });
  layer.apply(input); // builds the weights
  installFacePrior(layer, prior);
  const out = layer.apply(input) as tf.Tensor4D;
  t.deepEqual(out.shape, [3, 32, 32, 1]);
  // The expected fill, pooled and solved here, resized by tfjs (half-pixel centres).
  const pooled = tf.tidy(() => {
    const [image, mask] = tf.split(input, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
    return [tf.avgPool(image, 2, 2, 'valid').dataSync(), tf.avgPool(tf.sub(1, mask) as tf.Tensor4D, 2, 2, 'valid').dataSync()];
  });
  const fills = new Float32Array(3 * 256);
  const face = new Float64Array(256);
  for (let b = 0; b < 3; b++) {
    new ConditionalFaces(prior).fill(pooled[0].subarray(b * 256, (b + 1) * 256), pooled[1].subarray(b * 256, (b + 1) * 256), face);
    fills.set(face, b * 256);
  }
  const expected = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(fills, [3, 16, 16, 1]), [32, 32], false, true).dataSync());
  const got = tf.tidy(() => tf.tanh(out).dataSync());
  const diff = Math.max(...Array.from(got, (v, i) => Math.abs(v - Math.max(-0.99, Math.min(0.99, expected[i])))));
  t.true(diff < 1e-5, `differs from the direct fill by ${diff}`);
  tf.dispose([input, out]);
});

test('a prior of another shape is refused', (t) => {
  const layer = new FacePriorFill({ side: 16, components: 6, name: 'p' });
  layer.apply(tf.zeros([1, 32, 32, 2])); // builds the weights
  t.throws(() => installFacePrior(layer, fitFacePrior(faces, 16, 5)), { message: /16x16 prior of 5 components does not fit layer 'p' \(16x16, 6\)/ });
});

test('an untrained generator with a prior fills the hole with the prior, and a checkpoint carries the prior', async (t) => {
  const g = buildGenerator(generatorConfig, 16, 1);
  t.true(fitGeneratorPrior(g, generatorConfig, small));
  t.false(fitGeneratorPrior(g, { ...generatorConfig, prior: 0 }, small));
  const layer = g.getLayer(PRIOR_LAYER) as FacePriorFill;
  t.true(layer.prior().mean.some((v) => v !== 0));
  t.is(layer.trainableWeights.length, 0);
  const batch = boxBatch(small, [55, 56], 3);
  const [real, mask] = [tf.tensor4d(batch.real, [2, 16, 16, 1]), tf.tensor4d(batch.mask, [2, 16, 16, 1])];
  const { raw } = inpaint(g, real, mask);
  const fill = tf.tidy(() => tf.tanh(layer.apply(tf.concat([tf.mul(real, tf.sub(1, mask)), mask], 3)) as tf.Tensor));
  const [rawValues, fillValues] = [raw.dataSync(), fill.dataSync()];
  // The output kernel starts at zero; its bias is zero too, so the output is the fill.
  t.true(Math.max(...Array.from(rawValues, (v, i) => Math.abs(v - fillValues[i]))) < 1e-5);
  const loaded = await modelFromFiles(await modelToFiles(g), 'g');
  const again = inpaint(loaded, real, mask).raw.dataSync();
  t.deepEqual(Array.from(again), Array.from(rawValues));
  tf.dispose([real, mask, raw, fill]);
  g.dispose();
  loaded.dispose();
});

test('the prior fill joins the input as a channel, mirrored too', (t) => {
  const g = buildGenerator({ ...generatorConfig, mirrorInput: true }, 32, 1);
  t.is((g.getLayer('g_enc0_conv').getWeights()[0].shape as number[])[2], 6);
  g.dispose();
});
