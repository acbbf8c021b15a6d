import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { DEFAULT_CONFIG } from '../../../src/shared/config';
import {
  buildDiscriminator,
  buildGenerator,
  MinibatchDiscrimination,
  MinibatchStddev,
  SeededDropout,
  setDropoutSeeds,
} from '../../../src/shared/model';
import { modelFromFiles, modelToFiles } from '../../../src/shared/train/model-files';

test.before(async () => {
  await tf.setBackend('cpu');
});

const oneLayer = (layer: tf.layers.Layer, features: number): tf.LayersModel => {
  const input = tf.input({ shape: [features] });
  return tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
};

test('minibatch discrimination matches a direct computation of o_b(x_i) = sum_j exp(-|M_ib - M_jb|_1)', (t) => {
  const [n, A, B, C] = [3, 4, 2, 3];
  const layer = new MinibatchDiscrimination({ kernels: B, dims: C, seed: 5 });
  const model = oneLayer(layer, A);
  const x = tf.randomNormal([n, A], 0, 1, 'float32', 3);
  const out = (model.predict(x) as tf.Tensor).arraySync() as number[][];
  const xs = x.arraySync() as number[][];
  const T = (layer.getWeights()[0].arraySync() as number[][]);
  const M = xs.map((row) => Array.from({ length: B * C }, (_, k) => row.reduce((s, v, a) => s + v * T[a][k], 0)));
  for (let i = 0; i < n; i++) {
    t.deepEqual(out[i].slice(0, A).map((v) => +v.toFixed(5)), xs[i].map((v) => +v.toFixed(5)));
    for (let b = 0; b < B; b++) {
      let o = 0;
      for (let j = 0; j < n; j++) {
        let l1 = 0;
        for (let c = 0; c < C; c++) l1 += Math.abs(M[i][b * C + c] - M[j][b * C + c]);
        o += Math.exp(-l1);
      }
      t.true(Math.abs(out[i][A + b] - o) < 1e-4, `o_${b}(x_${i}) = ${out[i][A + b]}, expected ${o}`);
    }
  }
});

test('minibatch stddev appends the mean over features of the batch standard deviation', (t) => {
  const model = oneLayer(new MinibatchStddev({}), 2);
  const out = (model.predict(tf.tensor2d([[0, 1], [2, 1], [4, 1]])) as tf.Tensor).arraySync() as number[][];
  // Feature 0: values 0, 2, 4 -> population std sqrt(8/3); feature 1 is constant -> 0.
  const expected = (Math.sqrt(8 / 3) + 0) / 2;
  for (const row of out) t.true(Math.abs(row[2] - expected) < 1e-3);
});

test('seeded dropout: identity in inference, reproducible per row seed, drops about `rate`, rescales kept units', (t) => {
  const layer = new SeededDropout({ rate: 0.25, name: 'drop' });
  const x = tf.ones([2, 4000]);
  t.deepEqual((layer.apply(x, { training: false }) as tf.Tensor).arraySync(), x.arraySync());
  const run = (seeds: number[], input = x): number[][] => {
    layer.setRowSeeds(Uint32Array.from(seeds));
    return (layer.apply(input, { training: true }) as tf.Tensor).arraySync() as number[][];
  };
  const a = run([11, 22]);
  t.deepEqual(run([11, 22]), a);
  t.notDeepEqual(run([11, 23])[1], a[1]);
  // A row's mask depends on its own seed only, not on its position or batch mates.
  t.deepEqual(run([22], tf.ones([1, 4000]))[0], a[1]);
  const dropped = a[0].filter((v) => v === 0).length / 4000;
  t.true(Math.abs(dropped - 0.25) < 0.03, `dropped ${dropped}`);
  t.true(a[0].filter((v) => v !== 0).every((v) => Math.abs(v - 1 / 0.75) < 1e-6));
});

test('seeded dropout refuses to train without row seeds', (t) => {
  const layer = new SeededDropout({ rate: 0.5, name: 'drop' });
  t.throws(() => layer.apply(tf.ones([2, 3]), { training: true }), { message: /row seeds/ });
  layer.setRowSeeds(Uint32Array.of(1));
  t.throws(() => layer.apply(tf.ones([2, 3]), { training: true }), { message: /2 rows but has 1/ });
});

test('models with every custom layer survive a save/load round trip with identical outputs', async (t) => {
  const g = buildGenerator({ ...DEFAULT_CONFIG.generator, layers: 5, baseFilters: 4, maxFilters: 8, dropout: 0.3, bottleneck: 8 }, 16, 3);
  for (const minibatch of ['discrimination', 'stddev'] as const) {
    const d = buildDiscriminator({ ...DEFAULT_CONFIG.discriminator, layers: 2, baseFilters: 4, maxFilters: 8, minibatch }, 16, 3);
    for (const model of [g, d]) {
      const loaded = await modelFromFiles(await modelToFiles(model), model.name);
      const x = tf.randomUniform([3, 16, 16, 2], -1, 1, 'float32', 9);
      t.deepEqual((loaded.predict(x) as tf.Tensor).arraySync(), (model.predict(x) as tf.Tensor).arraySync());
      // Training-mode outputs (dropout, minibatch features) agree too, given the same seeds.
      const seeds = Uint32Array.of(1, 2, 3);
      setDropoutSeeds(model, seeds);
      setDropoutSeeds(loaded, seeds);
      t.deepEqual(
        (loaded.apply(x, { training: true }) as tf.Tensor).arraySync(),
        (model.apply(x, { training: true }) as tf.Tensor).arraySync(),
      );
      t.deepEqual(loaded.layers.map((l) => l.getClassName()), model.layers.map((l) => l.getClassName()));
    }
  }
});
