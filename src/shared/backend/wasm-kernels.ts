import * as tf from '@tensorflow/tfjs';

/**
 * Convolution gradient kernels for the wasm backend, built from forward
 * convolutions. Stock tfjs wasm has no Conv2DBackpropFilter at all (conv nets
 * cannot train) and its Conv2DBackpropInput is a slow single-thread loop; its
 * forward Conv2D runs on XNNPACK, so expressing both gradients as forward
 * convolutions makes a GAN step several times faster.
 */

type Conv2DInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;
type Shape4D = [number, number, number, number];
type BackpropAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

let registered = false;

/** Registers Conv2DBackpropFilter and Conv2DBackpropInput for the 'wasm' backend; safe to call twice. */
export function registerWasmConvGradients(): void {
  if (registered) return;
  registered = true;
  // The stock (slow) input-gradient kernel must go before ours can take its place.
  if (tf.getKernel(tf.Conv2DBackpropInput, 'wasm')) tf.unregisterKernel(tf.Conv2DBackpropInput, 'wasm');
  tf.registerKernel({
    kernelName: tf.Conv2DBackpropFilter,
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs }) => {
      const { x, dy } = inputs as { x: tf.Tensor4D; dy: tf.Tensor4D };
      const a = attrs as unknown as BackpropAttrs & { filterShape: Shape4D };
      return keep(() => filterGradient(x, dy, convInfo(x.shape, a.filterShape, a)));
    },
  });
  tf.registerKernel({
    kernelName: tf.Conv2DBackpropInput,
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs }) => {
      const { dy, filter } = inputs as { dy: tf.Tensor4D; filter: tf.Tensor4D };
      const a = attrs as unknown as BackpropAttrs & { inputShape: Shape4D };
      return keep(() => inputGradient(dy, filter, convInfo(a.inputShape, filter.shape, a)));
    },
  });
}

function convInfo(inShape: Shape4D, filterShape: Shape4D, a: BackpropAttrs): Conv2DInfo {
  if (a.dataFormat !== 'NHWC') throw new Error(`wasm conv gradients support NHWC only, got ${a.dataFormat}`);
  return tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
}

// The engine wraps the returned TensorInfo in a tensor of its own: keep the data alive
// with a backend reference, then drop our tensor so the engine's count stays exact.
function keep(compute: () => tf.Tensor): tf.TensorInfo {
  const result = tf.tidy(compute);
  const info = { dataId: result.dataId, shape: result.shape, dtype: result.dtype };
  tf.engine().backend.incRef(result.dataId);
  result.dispose();
  return info;
}

/**
 * dW[kh,kw,ci,co] = sum over b,oh,ow of xpad[b, oh*s+kh, ow*s+kw, ci] * dy[b,oh,ow,co]:
 * a stride-1 convolution of x (batch and channels swapped) by dy, dilated by the stride.
 */
function filterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const { top, left } = info.padInfo;
  const needH = (info.outHeight - 1) * info.strideHeight + info.filterHeight;
  const needW = (info.outWidth - 1) * info.strideWidth + info.filterWidth;
  const padded = tf.pad(x, [
    [0, 0],
    [top, Math.max(0, needH - top - info.inHeight)],
    [left, Math.max(0, needW - left - info.inWidth)],
    [0, 0],
  ]);
  const xt = tf.transpose(padded, [3, 1, 2, 0]);
  const dyt = tf.transpose(dy, [1, 2, 0, 3]);
  const full = tf.conv2d(xt, dyt, 1, 'valid', 'NHWC', [info.strideHeight, info.strideWidth]);
  const cropped = tf.slice(full, [0, 0, 0, 0], [-1, info.filterHeight, info.filterWidth, -1]);
  return tf.transpose(cropped, [1, 2, 0, 3]);
}

/** One axis of the phase decomposition of a strided transposed convolution. */
interface Phase {
  /** First kernel tap of this phase and the number of taps (every stride-th). */
  tap: number;
  taps: number;
  /** Output positions of this phase, and where the window starts in dy. */
  size: number;
  start: number;
}

function phases(inSize: number, stride: number, pad: number, kernel: number): Phase[] {
  const out: Phase[] = [];
  for (let p = 0; p < stride; p++) {
    const tap = (p + pad) % stride;
    const taps = Math.max(0, Math.ceil((kernel - tap) / stride));
    const q = Math.floor((p + pad) / stride);
    out.push({ tap, taps, size: Math.ceil((inSize - p) / stride), start: q - taps + 1 });
  }
  return out;
}

/**
 * dx as one stride-1 convolution per stride phase: output rows p, p+s, p+2s, ...
 * see only every s-th kernel tap, so each phase is a small dense correlation of dy
 * with those taps flipped; the phases are then interleaved.
 */
function inputGradient(dy: tf.Tensor4D, filter: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const batch = dy.shape[0];
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const rows = phases(info.inHeight, sh, info.padInfo.top, info.filterHeight);
  const cols = phases(info.inWidth, sw, info.padInfo.left, info.filterWidth);
  const maxRows = rows[0].size;
  const maxCols = cols[0].size;
  const inC = info.inChannels;
  const transposed = tf.transpose(filter, [0, 1, 3, 2]);
  const rowBlocks = rows.map((r) => {
    const colBlocks = cols.map((c) => {
      const part = r.taps === 0 || c.taps === 0 || r.size === 0 || c.size === 0
        ? tf.zeros([batch, r.size, c.size, inC])
        : phaseConv(dy, transposed, r, c, info);
      return tf.pad(part, [[0, 0], [0, maxRows - r.size], [0, maxCols - c.size], [0, 0]]);
    });
    return tf.stack(colBlocks, 3);
  });
  const interleaved = tf.stack(rowBlocks, 2).reshape([batch, maxRows * sh, maxCols * sw, inC]) as tf.Tensor4D;
  return tf.slice(interleaved, [0, 0, 0, 0], [-1, info.inHeight, info.inWidth, -1]);
}

function phaseConv(dy: tf.Tensor4D, filterT: tf.Tensor4D, r: Phase, c: Phase, info: Conv2DInfo): tf.Tensor4D {
  // Window position j meets dy row u+start+j and kernel tap tap+s*(taps-1-j): the phase's taps, reversed.
  const rowIdx = Array.from({ length: r.taps }, (_, j) => r.tap + info.strideHeight * (r.taps - 1 - j));
  const colIdx = Array.from({ length: c.taps }, (_, j) => c.tap + info.strideWidth * (c.taps - 1 - j));
  const kernel = tf.gather(tf.gather(filterT, rowIdx, 0), colIdx, 1) as tf.Tensor4D;
  const window = (dySize: number, p: Phase): [number, number, number] => {
    const before = Math.max(0, -p.start);
    const last = p.size - 1 + p.start + p.taps - 1;
    const after = Math.max(0, last - (dySize - 1));
    return [before, after, p.start + before];
  };
  const [rb, ra, rBegin] = window(dy.shape[1], r);
  const [cb, ca, cBegin] = window(dy.shape[2], c);
  const padded = tf.pad(dy, [[0, 0], [rb, ra], [cb, ca], [0, 0]]);
  const win = tf.slice(padded, [0, rBegin, cBegin, 0], [-1, r.size + r.taps - 1, c.size + c.taps - 1, -1]);
  return tf.conv2d(win, kernel, 1, 'valid');
}
