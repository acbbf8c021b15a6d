import * as tf from '@tensorflow/tfjs';
import { registerWasmConvGradients } from '../src/shared/backend/wasm-kernels';
import { type Bench, type BenchTable, medianSeconds } from './_table';

// Convolutions of a 64x64 GAN at batch 32: [input shape, filters], kernel 4, stride 2.
const SHAPES: [[number, number, number, number], number][] = [
  [[32, 64, 64, 2], 32],
  [[32, 32, 32, 32], 64],
  [[32, 16, 16, 64], 128],
  [[32, 8, 8, 128], 128],
];

async function timeGrad(kind: 'input' | 'filter', backend: string, xShape: [number, number, number, number], filters: number): Promise<number> {
  await tf.setBackend(backend);
  const x = tf.randomNormal(xShape) as tf.Tensor4D;
  const w = tf.randomNormal([4, 4, xShape[3], filters]) as tf.Tensor4D;
  const dy = tf.randomNormal([xShape[0], xShape[1] / 2, xShape[2] / 2, filters]) as tf.Tensor4D;
  const seconds = await medianSeconds(3, async () => {
    const r = kind === 'input' ? tf.conv2dTranspose(dy, w, xShape, 2, 'same') : tf.tidy(() => tf.grad((f: tf.Tensor) => tf.conv2d(x, f as tf.Tensor4D, 2, 'same').mul(dy).sum())(w));
    await r.data();
    r.dispose();
  });
  tf.dispose([x, w, dy]);
  return seconds;
}

/** Our wasm conv-gradient kernels against the stock wasm input gradient and the cpu filter gradient, in one run. */
export const wasmKernelsBench: Bench = {
  name: 'wasm-kernels',
  async run(): Promise<BenchTable> {
    require('@tensorflow/tfjs-backend-wasm');
    const stockInput: number[] = [];
    for (const [shape, f] of SHAPES) stockInput.push(await timeGrad('input', 'wasm', shape, f));
    const cpuFilter: number[] = [];
    for (const [shape, f] of SHAPES) cpuFilter.push(await timeGrad('filter', 'cpu', shape, f));
    registerWasmConvGradients();
    const rows: (string | number)[][] = [];
    let stockTotal = 0;
    let oursTotal = 0;
    for (const [i, [shape, f]] of SHAPES.entries()) {
      const oursInput = await timeGrad('input', 'wasm', shape, f);
      const oursFilter = await timeGrad('filter', 'wasm', shape, f);
      stockTotal += stockInput[i] + cpuFilter[i];
      oursTotal += oursInput + oursFilter;
      rows.push([`${shape.join('x')} -> ${f}`, stockInput[i] * 1e3, oursInput * 1e3, stockInput[i] / oursInput, cpuFilter[i] * 1e3, oursFilter * 1e3, cpuFilter[i] / oursFilter]);
    }
    return {
      title: 'conv gradients, kernel 4, stride 2, batch 32 (ms, median of 3)',
      columns: ['input -> filters', 'dX stock wasm', 'dX ours', 'speed-up', 'dW cpu', 'dW ours', 'speed-up'],
      rows,
      notes: [`ratio (stock wasm dX + cpu dW) / ours, all shapes: ${(stockTotal / oursTotal).toFixed(1)}x`],
    };
  },
};
