import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { selectBackend } from '../../../src/shared/backend/select';
import { registerWasmSamePaddingFix } from '../../../src/shared/backend/wasm-same-padding';
import { Rng } from '../../../src/shared/util/rng';

// Shapes where the stock wasm conv pads 'same' wrongly: a kernel side of 1, unequal
// strides, a kernel smaller than the stride; and ordinary ones, which must stay right.
const CASES: { x: [number, number, number, number]; filter: [number, number, number, number]; strides: [number, number] }[] = [
  { x: [2, 7, 8, 3], filter: [1, 3, 3, 4], strides: [2, 2] },
  { x: [2, 8, 7, 3], filter: [4, 1, 3, 4], strides: [2, 2] },
  { x: [1, 9, 6, 5], filter: [3, 2, 5, 2], strides: [2, 3] },
  { x: [2, 9, 9, 3], filter: [2, 2, 3, 4], strides: [3, 3] },
  { x: [2, 1, 1, 3], filter: [3, 3, 3, 4], strides: [2, 2] },
  { x: [2, 16, 16, 3], filter: [4, 4, 3, 8], strides: [2, 2] },
  { x: [2, 5, 5, 3], filter: [3, 3, 3, 4], strides: [1, 1] },
];

const rng = new Rng(7);
const values = (shape: number[]): number[] => Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.uniform(-1, 1));
const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test.before(async () => {
  await selectBackend('wasm');
});

test.serial("wasm Conv2D and FusedConv2D with 'same' padding match the cpu backend", async (t) => {
  for (const c of CASES) {
    const x = values(c.x);
    const w = values(c.filter);
    const bias = values([c.filter[3]]);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const [xt, wt] = [tf.tensor4d(x, c.x), tf.tensor4d(w, c.filter)];
        const plain = tf.conv2d(xt, wt, c.strides, 'same');
        const fused = tf.fused.conv2d({ x: xt, filter: wt, strides: c.strides, pad: 'same', bias: tf.tensor1d(bias), activation: 'relu' });
        return [plain, fused].map((r) => r.dataSync() as Float32Array);
      });
    };
    const [cpuPlain, cpuFused] = await run('cpu');
    const [wasmPlain, wasmFused] = await run('wasm');
    t.true(maxAbsDiff(cpuPlain, wasmPlain) < 1e-4, `Conv2D ${JSON.stringify(c)}`);
    t.true(maxAbsDiff(cpuFused, wasmFused) < 1e-4, `FusedConv2D ${JSON.stringify(c)}`);
  }
});

test.serial('applying the fix again wraps the stock kernels only once', (t) => {
  const before = [tf.Conv2D, tf.FusedConv2D].map((k) => tf.getKernel(k, 'wasm')?.kernelFunc);
  registerWasmSamePaddingFix();
  t.deepEqual([tf.Conv2D, tf.FusedConv2D].map((k) => tf.getKernel(k, 'wasm')?.kernelFunc), before);
});
