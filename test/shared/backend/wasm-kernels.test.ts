import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { selectBackend } from '../../../src/shared/backend/select';
import { registerWasmConvGradients } from '../../../src/shared/backend/wasm-kernels';
import { Rng } from '../../../src/shared/util/rng';

// The cpu backend's own conv gradient kernels are the reference for ours on wasm. The
// backend is process-wide state, so every test here is serial.

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

interface Case {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: [number, number];
  pad: Pad;
}

const rng = new Rng(42);
const values = (shape: number[]): number[] => Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.uniform(-1, 1));

const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** True when `actual` equals `expected` to float32 rounding of sums of many products. */
function close(expected: Float32Array, actual: Float32Array): boolean {
  return expected.length === actual.length && maxAbsDiff(expected, actual) <= 1e-5 * Math.max(1, maxAbs(expected));
}

function randomCase(strides: [number, number], pad: 'same' | 'valid' | 'number' | 'explicit', kh: number, kw: number, inC: number, outC: number): Case {
  const pads: [[number, number], [number, number]] = [
    [rng.int(0, 3), rng.int(0, 3)],
    [rng.int(0, 3), rng.int(0, 3)],
  ];
  const padValue: Pad =
    pad === 'number' ? rng.int(0, 3) : pad === 'explicit' ? [[0, 0], pads[0], pads[1], [0, 0]] : pad;
  // Sizes from the kernel up to 11, so both parities occur and every window fits.
  const size = (k: number) => rng.int(Math.max(k, 2), 12);
  return { x: [rng.int(1, 4), size(kh), size(kw), inC], filter: [kh, kw, inC, outC], strides, pad: padValue };
}

// Both gradients of a conv, through tf.grads, so the backend's registered backprop kernels run.
async function convGradients(backend: string, c: Case, x: number[], w: number[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const loss = (xt: tf.Tensor, wt: tf.Tensor) => tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, c.strides, c.pad).square().sum();
    const grads = tf.grads(loss)([tf.tensor4d(x, c.x), tf.tensor4d(w, c.filter)]);
    return grads.map((g) => g.dataSync() as Float32Array);
  });
}

test.before(async () => {
  await selectBackend('wasm');
});

test.serial('wasm conv gradients match the cpu backend on random shapes, strides and paddings', async (t) => {
  const cases: Case[] = [];
  for (const strides of [[1, 1], [2, 2], [2, 1], [3, 3]] as [number, number][]) {
    for (const pad of ['same', 'valid', 'number', 'explicit'] as const) {
      // tfjs sizes a conv with a numeric pad by its kernel height and stride height alone,
      // so numeric pads go with equal strides and square kernels only.
      if (pad === 'number' && strides[0] !== strides[1]) continue;
      for (let kernel = 1; kernel <= 5; kernel++) {
        for (const [inC, outC] of [[1, 3], [2, 8], [5, 4]]) {
          // Square kernels, and now and then one taller or wider by one.
          const width = pad === 'number' ? kernel : rng.int(Math.max(1, kernel - 1), Math.min(5, kernel + 1) + 1);
          cases.push(randomCase(strides, pad, kernel, width, inC, outC));
        }
      }
    }
  }
  let failures = 0;
  for (const c of cases) {
    const x = values(c.x);
    const w = values(c.filter);
    const [cpuDx, cpuDw] = await convGradients('cpu', c, x, w);
    const [wasmDx, wasmDw] = await convGradients('wasm', c, x, w);
    for (const [what, expected, actual] of [['input', cpuDx, wasmDx], ['filter', cpuDw, wasmDw]] as const) {
      if (!close(expected, actual)) {
        failures++;
        t.log(`${what} gradient differs by ${maxAbsDiff(expected, actual)} for ${JSON.stringify(c)}`);
      }
    }
  }
  t.is(failures, 0, `${failures} of ${cases.length * 2} gradients differ`);
});

test.serial('conv2dTranspose (forward Conv2DBackpropInput) on wasm matches cpu', async (t) => {
  for (const [stride, pad, k] of [[2, 'same', 4], [2, 'valid', 3], [1, 'same', 5], [3, 'same', 3]] as const) {
    const inShape: [number, number, number, number] = [2, 12, 10, 3];
    const dyShape = tf.backend_util.computeConv2DInfo(inShape, [k, k, 3, 6], stride, 1, pad).outShape;
    const dy = values(dyShape);
    const w = values([k, k, 3, 6]);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => tf.conv2dTranspose(tf.tensor4d(dy, dyShape), tf.tensor4d(w, [k, k, 3, 6]), inShape, stride, pad).dataSync() as Float32Array);
    };
    const expected = await run('cpu');
    t.true(close(expected, await run('wasm')), `stride ${stride}, ${pad}, kernel ${k}`);
  }
});

test.serial('gradients of a small conv net (tf.variableGrads) on wasm match cpu', async (t) => {
  const x = tf.tensor4d(values([4, 16, 16, 2]), [4, 16, 16, 2]);
  const target = tf.tensor4d(values([4, 16, 16, 2]), [4, 16, 16, 2]);
  const weights = [
    tf.variable(tf.tensor4d(values([4, 4, 2, 8]), [4, 4, 2, 8]).mul(0.3)),
    tf.variable(tf.tensor4d(values([3, 3, 8, 16]), [3, 3, 8, 16]).mul(0.2)),
    tf.variable(tf.tensor4d(values([3, 3, 8, 16]), [3, 3, 8, 16]).mul(0.2)),
    tf.variable(tf.tensor4d(values([4, 4, 2, 8]), [4, 4, 2, 8]).mul(0.3)),
  ] as tf.Variable<tf.Rank.R4>[];
  // Encoder (strided and valid convs) and decoder (transposed convs), as in the GAN's generator.
  const loss = () => {
    const e1 = tf.leakyRelu(tf.conv2d(x, weights[0], 2, 'same'), 0.2);
    const e2 = tf.relu(tf.conv2d(e1, weights[1], 1, 'valid'));
    const d1 = tf.relu(tf.conv2dTranspose(e2, weights[2], [4, 8, 8, 8], 1, 'valid'));
    const out = tf.tanh(tf.conv2dTranspose(d1, weights[3], [4, 16, 16, 2], 2, 'same'));
    return tf.losses.meanSquaredError(target, out) as tf.Scalar;
  };
  const gradientsOn = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const { value, grads } = tf.variableGrads(loss, weights);
      return [value, ...weights.map((w) => grads[w.name])].map((g) => g.dataSync() as Float32Array);
    });
  };
  const cpu = await gradientsOn('cpu');
  const wasm = await gradientsOn('wasm');
  t.true(maxAbs(cpu[1]) > 0, 'the reference gradient is not all zeros');
  cpu.forEach((expected, i) => t.true(close(expected, wasm[i]), i === 0 ? 'loss' : `gradient of weight ${i}`));
  tf.dispose([x, target, ...weights]);
});

test.serial('the wasm gradient kernels leak no tensors and no backend data', async (t) => {
  await tf.setBackend('wasm');
  const x = tf.randomNormal([2, 9, 9, 3]) as tf.Tensor4D;
  const w = tf.randomNormal([4, 4, 3, 5]) as tf.Tensor4D;
  const dy = tf.randomNormal([2, 5, 5, 5]) as tf.Tensor4D;
  const pad: tf.backend_util.ExplicitPadding = [[0, 0], [1, 2], [2, 1], [0, 0]];
  // Each kernel called on its own (outside any tidy, which would hide a leak) and through tf.grads.
  const step = () => {
    tf.dispose(tf.conv2dTranspose(dy, w, x.shape, 2, pad));
    tf.dispose(tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: 2, pad, dataFormat: 'NHWC', filterShape: w.shape }));
    tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, pad).sum())([x, w]));
  };
  step();
  const tensors = tf.memory().numTensors;
  const data = tf.engine().backend.numDataIds();
  for (let i = 0; i < 3; i++) step();
  t.is(tf.memory().numTensors, tensors);
  t.is(tf.engine().backend.numDataIds(), data);
  tf.dispose([x, w, dy]);
});

test.serial('registering again keeps our kernels in place', (t) => {
  const before = [tf.Conv2DBackpropFilter, tf.Conv2DBackpropInput].map((k) => tf.getKernel(k, 'wasm')?.kernelFunc);
  registerWasmConvGradients();
  registerWasmConvGradients();
  const after = [tf.Conv2DBackpropFilter, tf.Conv2DBackpropInput].map((k) => tf.getKernel(k, 'wasm')?.kernelFunc);
  t.truthy(before[0] && before[1]);
  t.deepEqual(after, before);
});
