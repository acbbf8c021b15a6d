import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { selectBackend } from '../../../src/shared/backend/select';
import { BackendUnavailableError } from '../../../src/shared/errors';
import { Rng } from '../../../src/shared/util/rng';

interface Case {
  batch: number;
  height: number;
  width: number;
  inC: number;
  outC: number;
  kernel: number;
  stride: number;
  pad: 'same' | 'valid';
}

const rng = new Rng(42);
const values = (n: number): number[] => Array.from({ length: n }, () => rng.uniform(-1, 1));

// Gradients of a conv (through tf.grads, so the registered backprop kernels run) on one backend.
async function convGrads(backend: string, c: Case, x: number[], w: number[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const f = (xt: tf.Tensor, wt: tf.Tensor) => tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, c.stride, c.pad).square().sum();
    const [dx, dw] = tf.grads(f)([tf.tensor4d(x, [c.batch, c.height, c.width, c.inC]), tf.tensor4d(w, [c.kernel, c.kernel, c.inC, c.outC])]);
    return [dx.dataSync() as Float32Array, dw.dataSync() as Float32Array];
  });
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test.before(async () => {
  await selectBackend('wasm');
});

test('wasm conv gradients match the cpu backend on random shapes, strides and paddings', async (t) => {
  const cases: Case[] = [];
  for (const stride of [1, 2]) {
    for (const pad of ['same', 'valid'] as const) {
      for (const kernel of [1, 2, 3, 4, 5]) {
        for (const [inC, outC] of [[1, 3], [2, 8], [5, 4]]) {
          const size = rng.int(Math.max(kernel, 3), 11);
          cases.push({ batch: rng.int(1, 3), height: size, width: rng.int(Math.max(kernel, 3), 11), inC, outC, kernel, stride, pad });
        }
      }
    }
  }
  for (const c of cases) {
    const x = values(c.batch * c.height * c.width * c.inC);
    const w = values(c.kernel * c.kernel * c.inC * c.outC);
    const [cpuDx, cpuDw] = await convGrads('cpu', c, x, w);
    const [wasmDx, wasmDw] = await convGrads('wasm', c, x, w);
    const tol = 1e-4 * Math.max(1, ...Array.from(cpuDw, Math.abs));
    t.true(maxAbsDiff(cpuDx, wasmDx) < tol, `input gradient differs for ${JSON.stringify(c)}`);
    t.true(maxAbsDiff(cpuDw, wasmDw) < tol, `filter gradient differs for ${JSON.stringify(c)}`);
  }
});

test('the wasm gradient kernels leak no tensors', async (t) => {
  await tf.setBackend('wasm');
  const x = tf.randomNormal([2, 9, 9, 3]);
  const w = tf.randomNormal([4, 4, 3, 5]);
  const grad = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same').sum());
  tf.dispose(grad([x, w]));
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) tf.dispose(grad([x, w]));
  t.is(tf.memory().numTensors, before);
  tf.dispose([x, w]);
});

test('auto picks the first backend that loads and says why the others did not', async (t) => {
  const chosen = await selectBackend('auto');
  t.is(chosen.name, 'wasm', 'no native tfjs here, so wasm should be chosen');
  t.deepEqual(chosen.skipped.map((s) => s.name), ['tensorflow-gpu', 'tensorflow']);
  t.is(tf.getBackend(), 'wasm');
});

test('an explicitly requested backend that cannot load is a typed error naming it', async (t) => {
  const err = await t.throwsAsync(selectBackend('tensorflow-gpu'), { instanceOf: BackendUnavailableError });
  t.regex(err.message, /tensorflow-gpu/);
});
