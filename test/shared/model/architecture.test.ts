import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { DEFAULT_CONFIG, type GeneratorConfig, resolveConfig } from '../../../src/shared/config';
import { buildDiscriminator, buildGenerator, planGenerator } from '../../../src/shared/model';
import { MirrorConcat } from '../../../src/shared/model/mirror-concat';

test.before(async () => {
  await tf.setBackend('cpu');
});

const convLayers = (model: tf.LayersModel): number => model.layers.filter((l) => /conv2d/i.test(l.getClassName())).length;

for (const preset of ['default', 'v1.0', 'v1.1', 'v2.7.1', 'v3.1', 'v3.3']) {
  test(`preset ${preset}: G maps [b,S,S,2] to [b,S,S,1] with N conv layers, D gives one logit`, (t) => {
    const c = resolveConfig({ preset });
    const S = c.data.imageSize;
    const g = buildGenerator(c.generator, S);
    const d = buildDiscriminator(c.discriminator, S);
    try {
      t.deepEqual(g.inputs[0].shape, [null, S, S, 2]);
      t.deepEqual(g.outputs[0].shape, [null, S, S, 1]);
      t.is(convLayers(g), c.generator.layers);
      t.deepEqual(d.inputs[0].shape, [null, S, S, 2]);
      t.deepEqual(d.outputs[0].shape, [null, 1]);
      t.is(convLayers(d), c.discriminator.layers);
      t.log(`${preset}: G ${g.countParams()} + D ${d.countParams()} = ${g.countParams() + d.countParams()} parameters`);
    } finally {
      g.dispose();
      d.dispose();
    }
  });
}

test('v3.3 lands near the slides\' "3M parameters" (G + D)', (t) => {
  const c = resolveConfig({ preset: 'v3.3' });
  const g = buildGenerator(c.generator, 64);
  const d = buildDiscriminator(c.discriminator, 64);
  const total = g.countParams() + d.countParams();
  g.dispose();
  d.dispose();
  t.true(total > 2.5e6 && total < 3.5e6, `v3.3 has ${total} parameters`);
});

test('v3.2 lands near the slides\' "8M parameters" (its ten-layer generator)', (t) => {
  const c = resolveConfig({ preset: 'v3.2' });
  const g = buildGenerator(c.generator, 64);
  const params = g.countParams();
  g.dispose();
  t.true(params > 7e6 && params < 10e6, `v3.2's generator has ${params} parameters`);
});

const gen = (over: Partial<GeneratorConfig>): GeneratorConfig => ({ ...DEFAULT_CONFIG.generator, ...over });

test('the plan splits N layers into floor(N/2) downsamplers and the rest upsamplers, ending at the image size', (t) => {
  for (let layers = 1; layers <= 14; layers++) {
    for (const size of [16, 24, 50, 64, 128]) {
      const plan = planGenerator(gen({ layers }), size);
      t.is(plan.encoder.length, Math.floor(layers / 2));
      t.is(plan.decoder.length, layers - Math.floor(layers / 2));
      t.is(plan.decoder[plan.decoder.length - 1].size, size);
      t.true(plan.decoder[plan.decoder.length - 1].output);
      for (const e of plan.encoder) t.true(e.size >= 2 && Number.isInteger(e.size));
      const halvings = plan.encoder.filter((e) => e.stride === 2).length;
      t.is(plan.decoder.filter((d) => d.stride === 2).length, halvings);
    }
  }
});

test('downsampling is clamped where the size would drop below 2 or stop halving exactly', (t) => {
  t.deepEqual(planGenerator(gen({ layers: 10 }), 16).encoder.map((e) => e.size), [8, 4, 2, 2, 2]);
  t.deepEqual(planGenerator(gen({ layers: 8 }), 50).encoder.map((e) => e.size), [25, 25, 25, 25]);
});

test('filters double from baseFilters up to maxFilters and mirror in the decoder', (t) => {
  const plan = planGenerator(gen({ layers: 10, baseFilters: 8, maxFilters: 32, skip: true }), 64);
  t.deepEqual(plan.encoder.map((e) => e.filters), [8, 16, 32, 32, 32]);
  t.deepEqual(plan.decoder.map((d) => d.filters), [32, 32, 16, 8, 1]);
  t.deepEqual(plan.decoder.map((d) => d.skipFrom), [3, 2, 1, 0, null]);
});

test('batch norm is on every layer but the first encoder layer and the output; none with norm none', (t) => {
  const g = buildGenerator(gen({ layers: 6, baseFilters: 4, maxFilters: 8 }), 16);
  const bn = g.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => l.name);
  t.deepEqual(bn, ['g_enc1_bn', 'g_enc2_bn', 'g_dec0_bn', 'g_dec1_bn']);
  g.dispose();
  const plain = buildGenerator(gen({ layers: 6, baseFilters: 4, maxFilters: 8, norm: 'none' }), 16);
  t.false(plain.layers.some((l) => l.getClassName() === 'BatchNormalization'));
  plain.dispose();
});

test('every option builds and runs: bottleneck, skips, dropout, odd sizes, one layer', (t) => {
  const cases: [Partial<GeneratorConfig>, number][] = [
    [{ layers: 1 }, 16],
    [{ layers: 2 }, 16],
    [{ layers: 5, bottleneck: 16, skip: false }, 16],
    [{ layers: 6, bottleneck: 8, skip: true, dropout: 0.5 }, 24],
    [{ layers: 10, skip: true }, 16],
    [{ layers: 4, skip: true }, 18],
    [{ layers: 6, upsample: 'resize', mirrorInput: true }, 16],
    [{ layers: 5, upsample: 'resize', bottleneck: 8, skip: false }, 24],
    [{ layers: 4, globalLinear: true }, 64],
    [{ layers: 3, globalLinear: true, mirrorInput: true }, 18],
  ];
  for (const [over, size] of cases) {
    // Transposed unless a case says resize, so both upsampling paths are built.
    const g = buildGenerator(gen({ baseFilters: 4, maxFilters: 8, upsample: 'transposed', ...over }), size);
    const y = g.predict(tf.randomUniform([2, size, size, 2], -1, 1)) as tf.Tensor;
    t.deepEqual(y.shape, [2, size, size, 1], JSON.stringify(over));
    const [lo, hi] = [y.min().dataSync()[0], y.max().dataSync()[0]];
    t.true(lo >= -1 && hi <= 1);
    tf.dispose(y);
    g.dispose();
  }
  t.true(buildGenerator(gen({ layers: 5, bottleneck: 16, skip: false }), 16).layers.some((l) => l.name === 'g_code'));
});

test("resize upsampling has no transposed convolution and doubles by bilinear resizes, as many as the transposed decoder's strides", (t) => {
  const transposed = buildGenerator(gen({ layers: 6, baseFilters: 4, maxFilters: 8, upsample: 'transposed' }), 16);
  const resized = buildGenerator(gen({ layers: 6, baseFilters: 4, maxFilters: 8, upsample: 'resize' }), 16);
  const classes = (m: tf.LayersModel) => m.layers.map((l) => l.getClassName());
  t.is(classes(resized).filter((c) => c === 'Conv2DTranspose').length, 0);
  t.is(classes(resized).filter((c) => c === 'UpSampling2D').length, classes(transposed).filter((c) => c === 'Conv2DTranspose').length);
  transposed.dispose();
  resized.dispose();
});

test('the global path pools to a side of at most 16 and predicts at most 32, both dividing the image', (t) => {
  t.is(planGenerator(gen({ globalLinear: false }), 64).global, null);
  t.deepEqual(planGenerator(gen({ globalLinear: true }), 64).global, { pooledSize: 16, outputSize: 32 });
  t.deepEqual(planGenerator(gen({ globalLinear: true }), 128).global, { pooledSize: 16, outputSize: 32 });
  t.deepEqual(planGenerator(gen({ globalLinear: true }), 24).global, { pooledSize: 12, outputSize: 24 });
  t.deepEqual(planGenerator(gen({ globalLinear: true }), 17).global, { pooledSize: 1, outputSize: 17 });
});

test('the global path adds nothing until it learns, then lets a corner of the input reach the far corner of the output', (t) => {
  // Two layers see a few pixels around each output pixel, nowhere near the far corner.
  const over = { layers: 2, baseFilters: 4, maxFilters: 4, kernelSize: 3, norm: 'none' as const };
  const local = buildGenerator(gen(over), 16, 3);
  const global = buildGenerator(gen({ ...over, globalLinear: true }), 16, 3);
  const x = tf.randomUniform([1, 16, 16, 2], -1, 1, 'float32', 5);
  const poked = tf.add(x, tf.oneHot([0], 256).reshape([1, 16, 16, 1]).tile([1, 1, 1, 2]));
  const farCorner = (g: tf.LayersModel, input: tf.Tensor) => tf.tidy(() => (g.predict(input) as tf.Tensor).dataSync()[255]);
  t.is(farCorner(global, x), farCorner(local, x));
  t.is(farCorner(local, poked), farCorner(local, x));
  const dense = global.getLayer('g_global');
  dense.setWeights(dense.getWeights().map((w) => tf.randomNormal(w.shape, 0, 0.1, 'float32', 7)));
  t.not(farCorner(global, poked), farCorner(global, x));
  tf.dispose([x, poked]);
  local.dispose();
  global.dispose();
});

test('MirrorConcat appends the left-right mirror image as channels, and the mirrored-input generator sees 4 channels', (t) => {
  const x = tf.randomUniform([2, 5, 7, 2]);
  const y = new MirrorConcat().apply(x) as tf.Tensor;
  t.deepEqual(y.shape, [2, 5, 7, 4]);
  const [a, b] = [x.arraySync() as number[][][][], y.arraySync() as number[][][][]];
  for (let n = 0; n < 2; n++) for (let r = 0; r < 5; r++) for (let c = 0; c < 7; c++) t.deepEqual(b[n][r][c], [...a[n][r][c], ...a[n][r][6 - c]]);
  const g = buildGenerator(gen({ layers: 4, baseFilters: 4, maxFilters: 8, mirrorInput: true, prior: 0 }), 16);
  t.is((g.getLayer('g_enc0_conv').getWeights()[0].shape as number[])[2], 4);
  tf.dispose([x, y]);
  g.dispose();
});

test('the same seed builds identical weights; a different seed does not', (t) => {
  const c = { ...DEFAULT_CONFIG.discriminator, baseFilters: 4, maxFilters: 8, layers: 2 };
  const weights = (seed: number) => buildDiscriminator(c, 16, seed).getWeights().map((w) => Array.from(w.dataSync()));
  t.deepEqual(weights(7), weights(7));
  t.notDeepEqual(weights(7), weights(8));
});

test('D minibatch option adds the matching layer', (t) => {
  const base = { ...DEFAULT_CONFIG.discriminator, baseFilters: 4, maxFilters: 8, layers: 2 };
  const kinds = (['discrimination', 'stddev', 'none'] as const).map((minibatch) =>
    buildDiscriminator({ ...base, minibatch }, 16)
      .layers.map((l) => l.getClassName())
      .filter((n) => n.startsWith('Minibatch')),
  );
  t.deepEqual(kinds, [['MinibatchDiscrimination'], ['MinibatchStddev'], []]);
});
