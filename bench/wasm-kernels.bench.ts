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

async function timeGrad(kind: 'input' | 'filter', backend: string, xShape: [number, number, number, number], filters: number, reps = 3): Promise<number> {
  await tf.setBackend(backend);
  const x = tf.randomNormal(xShape) as tf.Tensor4D;
  const w = tf.randomNormal([4, 4, xShape[3], filters]) as tf.Tensor4D;
  const dy = tf.randomNormal([xShape[0], xShape[1] / 2, xShape[2] / 2, filters]) as tf.Tensor4D;
  const seconds = await medianSeconds(reps, async () => {
    const r = kind === 'input' ? tf.conv2dTranspose(dy, w, xShape, 2, 'same') : tf.tidy(() => tf.grad((f: tf.Tensor) => tf.conv2d(x, f as tf.Tensor4D, 2, 'same').mul(dy).sum())(w));
    await r.data();
    r.dispose();
  }, reps > 1);
  tf.dispose([x, w, dy]);
  return seconds;
}

/** Our wasm conv-gradient kernels against the stock wasm input gradient and the cpu filter gradient, in one run. */
export const wasmKernelsBench: Bench = {
  name: 'wasm-kernels',
  async run(): Promise<BenchTable> {
    tf.env().set('PROD', true);
    require('@tensorflow/tfjs-backend-wasm');
    const stockInput: number[] = [];
    for (const [shape, f] of SHAPES) stockInput.push(await timeGrad('input', 'wasm', shape, f));
    // The pure-JS cpu backend takes tens of seconds per call here: one timed run each.
    const cpuFilter: number[] = [];
    for (const [shape, f] of SHAPES) cpuFilter.push(await timeGrad('filter', 'cpu', shape, f, 1));
    registerWasmConvGradients();
    const rows: (string | number)[][] = [];
    const totals = { stockInput: 0, oursInput: 0, cpuFilter: 0, oursFilter: 0 };
    for (const [i, [shape, f]] of SHAPES.entries()) {
      const oursInput = await timeGrad('input', 'wasm', shape, f);
      const oursFilter = await timeGrad('filter', 'wasm', shape, f);
      totals.stockInput += stockInput[i];
      totals.oursInput += oursInput;
      totals.cpuFilter += cpuFilter[i];
      totals.oursFilter += oursFilter;
      rows.push([`${shape.join('x')} -> ${f}`, stockInput[i] * 1e3, oursInput * 1e3, stockInput[i] / oursInput, cpuFilter[i] * 1e3, oursFilter * 1e3, cpuFilter[i] / oursFilter]);
    }
    return {
      title: 'conv gradients, kernel 4, stride 2, batch 32 (ms; wasm: median of 3, cpu: one run)',
      columns: ['input -> filters', 'dX stock wasm', 'dX ours', 'speed-up', 'dW cpu', 'dW ours', 'speed-up'],
      rows,
      notes: [
        `ratio stock wasm dX / ours, all shapes: ${(totals.stockInput / totals.oursInput).toFixed(2)}x`,
        `ratio cpu dW / ours (stock wasm has no dW kernel), all shapes: ${(totals.cpuFilter / totals.oursFilter).toFixed(0)}x`,
        `summary: dx_stock_over_ours=${(totals.stockInput / totals.oursInput).toFixed(3)} dw_cpu_over_ours=${(totals.cpuFilter / totals.oursFilter).toFixed(1)}`,
      ],
    };
  },
};
