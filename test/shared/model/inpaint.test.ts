import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { DEFAULT_CONFIG } from '../../../src/shared/config';
import { buildGenerator, inpaint } from '../../../src/shared/model';

test.before(async () => {
  await tf.setBackend('cpu');
});

const S = 8;
const real = (): tf.Tensor4D => tf.randomUniform([2, S, S, 1], -1, 1, 'float32', 4) as tf.Tensor4D;
const mask = (): tf.Tensor4D => tf.tensor4d(Array.from({ length: 2 * S * S }, (_, i) => (i % S < S / 2 ? 1 : 0)), [2, S, S, 1]);

test('the generator sees the image with the hole zeroed plus the mask', (t) => {
  // A 1x1 convolution that copies the image channel: its raw output is the generator's input image.
  const probe = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [S, S, 2], filters: 1, kernelSize: 1, useBias: false })] });
  probe.setWeights([tf.tensor4d([1, 0], [1, 1, 2, 1])]);
  const [x, m] = [real(), mask()];
  const { raw } = inpaint(probe, x, m);
  // Adding 0 folds -0 into 0: a zeroed negative pixel is -0 in the product.
  const values = (v: tf.Tensor) => Array.from(v.dataSync(), (n) => n + 0);
  t.deepEqual(values(raw), values(tf.mul(x, tf.sub(1, m))));
});

test('the composite keeps every known pixel and takes the raw output in the hole', (t) => {
  const g = buildGenerator({ ...DEFAULT_CONFIG.generator, layers: 4, baseFilters: 4, maxFilters: 8, prior: 0 }, S);
  const [x, m] = [real(), mask()];
  const { raw, composite } = inpaint(g, x, m);
  const [xs, ms, rs, cs] = [x, m, raw, composite].map((v) => v.dataSync());
  for (let i = 0; i < xs.length; i++) t.is(cs[i], ms[i] === 1 ? rs[i] : xs[i]);
  t.deepEqual(raw.shape, [2, S, S, 1]);
});
