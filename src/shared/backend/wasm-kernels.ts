import * as tf from '@tensorflow/tfjs';

/*
 * Convolution gradient kernels for the wasm backend, built from forward convolutions.
 * Stock tfjs wasm has no Conv2DBackpropFilter at all (conv nets cannot train) and its
 * Conv2DBackpropInput is a slow single-thread loop; its forward Conv2D runs on XNNPACK,
 * so expressing both gradients as forward convolutions makes a GAN step several times faster.
 *
 * The kernels compute with tf ops. Inside a kernel the engine records nothing on the
 * gradient tape (its kernel depth is above zero), so the ops are plain computations; a
 * tidy frees their intermediates, and the result's data is handed to the engine with
 * one more backend reference (see `kernelOutput`).
 */

type Conv2DInfo = tf.backend_util.Conv2DInfo;
type Shape4D = [number, number, number, number];

/**
 * A wasm kernel computed with tf ops on its two 4-D inputs (named `names`): the inputs are
 * borrowed as tensors and the result handed to the engine (see `kernelOutput`).
 */
function opKernel<A>(kernelName: string, names: [string, string], compute: (a: tf.Tensor4D, b: tf.Tensor4D, attrs: A) => tf.Tensor4D): tf.KernelConfig {
  return {
    kernelName,
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend: b }) => {
      const backend = b as tf.KernelBackend;
      const [first, second] = names.map((n) => (inputs as Record<string, tf.TensorInfo>)[n]);
      return kernelOutput(backend, () => compute(borrow(backend, first) as tf.Tensor4D, borrow(backend, second) as tf.Tensor4D, attrs as unknown as A));
    },
  };
}

const filterGradientKernel = opKernel<tf.Conv2DBackpropFilterAttrs>(tf.Conv2DBackpropFilter, ['x', 'dy'], (x, dy, a) =>
  filterGradient(x, dy, convInfo(x.shape, a.filterShape, a)),
);

const inputGradientKernel = opKernel<tf.Conv2DBackpropInputAttrs>(tf.Conv2DBackpropInput, ['dy', 'filter'], (dy, filter, a) =>
  inputGradient(dy, filter, convInfo(a.inputShape, filter.shape, a)),
);

/**
 * Registers Conv2DBackpropFilter and Conv2DBackpropInput for the 'wasm' backend, in
 * place of any kernel registered under those names; does nothing when ours already are.
 */
export function registerWasmConvGradients(): void {
  for (const kernel of [filterGradientKernel, inputGradientKernel]) {
    const current = tf.getKernel(kernel.kernelName, 'wasm');
    if (current?.kernelFunc === kernel.kernelFunc) continue;
    // tfjs refuses to register a second kernel under a name: the stock one goes first.
    if (current) tf.unregisterKernel(kernel.kernelName, 'wasm');
    tf.registerKernel(kernel);
  }
}

function convInfo(inShape: Shape4D, filterShape: Shape4D, a: tf.Conv2DBackpropFilterAttrs | tf.Conv2DBackpropInputAttrs): Conv2DInfo {
  // The wasm forward Conv2D is NHWC only, so no NCHW gradient can be asked of us.
  if (a.dataFormat !== 'NHWC') throw new Error(`wasm conv gradients support dataFormat 'NHWC' only, got '${a.dataFormat}'`);
  return tf.backend_util.computeConv2DInfo(inShape, filterShape, a.strides, 1, a.pad, a.dimRoundingMode);
}

// A kernel's inputs may be bare TensorInfos (when another kernel calls it): wrap one in a
// tensor that holds its own backend reference, released when the kernel's tidy ends.
function borrow(backend: tf.KernelBackend, info: tf.TensorInfo): tf.Tensor {
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend);
}

// The engine wraps a kernel's TensorInfo in a tensor of its own: keep the data alive
// with a backend reference, then drop our tensor so the engine's counts stay exact.
function kernelOutput(backend: tf.KernelBackend, compute: () => tf.Tensor): tf.TensorInfo {
  const result = tf.tidy(compute);
  backend.incRef(result.dataId);
  result.dispose();
  return { dataId: result.dataId, shape: result.shape, dtype: result.dtype };
}

/**
 * dW[kh,kw,ci,co] = sum over b,oh,ow of xpad[b, oh*sh+kh, ow*sw+kw, ci] * dy[b,oh,ow,co]:
 * a stride-1 convolution of x (batch and channels swapped) by dy, dilated by the stride.
 */
function filterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const { top, left } = info.padInfo;
  // Rows and columns the forward windows reach; the padding past them is never read.
  const needH = (info.outHeight - 1) * info.strideHeight + info.filterHeight;
  const needW = (info.outWidth - 1) * info.strideWidth + info.filterWidth;
  const pad: tf.backend_util.ExplicitPadding = [
    [0, 0],
    [top, Math.max(0, needH - top - info.inHeight)],
    [left, Math.max(0, needW - left - info.inWidth)],
    [0, 0],
  ];
  const xt = tf.transpose(x, [3, 1, 2, 0]);
  const dyt = tf.transpose(dy, [1, 2, 0, 3]);
  const full = tf.conv2d(xt, dyt, 1, pad, 'NHWC', [info.strideHeight, info.strideWidth]);
  const taps = tf.slice(full, [0, 0, 0, 0], [-1, info.filterHeight, info.filterWidth, -1]);
  return tf.transpose(taps, [1, 2, 0, 3]);
}

/**
 * dx as one stride-1 convolution of dy (a sub-pixel convolution). With the padding P and
 * the stride s, padded input row s*v + r (0 <= r < s) receives dy[v - j] * w[r + s*j] for
 * j = 0 .. J-1, J = ceil(k / s): a J-tap correlation of dy ending at row v. One convolution
 * computes it for all s*s phases (r_h, r_w) at once as s*s*inC output channels; spreading
 * those channels back over space and cropping P gives dx.
 */
function inputGradient(dy: tf.Tensor4D, filter: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const { strideHeight: sh, strideWidth: sw, inChannels: inC } = info;
  const { top, left } = info.padInfo;
  const jh = Math.ceil(info.filterHeight / sh);
  const jw = Math.ceil(info.filterWidth / sw);
  // Rows and columns v (of the padded input divided by the stride) that cover dx.
  const rows = Math.ceil((top + info.inHeight) / sh);
  const cols = Math.ceil((left + info.inWidth) / sw);
  const pad: tf.backend_util.ExplicitPadding = [
    [0, 0],
    [jh - 1, Math.max(0, rows - info.outHeight)],
    [jw - 1, Math.max(0, cols - info.outWidth)],
    [0, 0],
  ];
  const phases = tf.conv2d(dy, subPixelKernel(filter, info), 1, pad);
  const [batch, zh, zw] = phases.shape;
  // Channels are ordered (r_h, r_w, c): bring r_h next to v; (r_w, c) already follows u.
  // Rows are kept flat (columns x channels) because a 3-D crop copies whole runs.
  const spread = phases
    .reshape([batch, zh, zw, sh, sw * inC])
    .transpose([0, 1, 3, 2, 4])
    .reshape([batch, zh * sh, zw * sw * inC]);
  return tf
    .slice(spread, [0, top, left * inC], [batch, info.inHeight, info.inWidth * inC])
    .reshape<tf.Tensor4D>([batch, info.inHeight, info.inWidth, inC]);
}

/**
 * The sub-pixel kernel [J_h, J_w, outC, s_h*s_w*inC]: window tap jj of phase r is filter
 * tap r + s*(J-1-jj) (taps past the filter's edge are zero), with in and out channels swapped.
 */
function subPixelKernel(filter: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const { strideHeight: sh, strideWidth: sw, inChannels: inC, outChannels: outC } = info;
  const jh = Math.ceil(info.filterHeight / sh);
  const jw = Math.ceil(info.filterWidth / sw);
  const width = jw * sw;
  const padded = tf
    .pad(filter, [[0, jh * sh - info.filterHeight], [0, width - info.filterWidth], [0, 0], [0, 0]])
    .reshape([jh * sh * width, inC, outC]);
  const taps: number[] = [];
  for (let a = 0; a < jh; a++) {
    for (let b = 0; b < jw; b++) {
      for (let rh = 0; rh < sh; rh++) {
        for (let rw = 0; rw < sw; rw++) taps.push((rh + sh * (jh - 1 - a)) * width + rw + sw * (jw - 1 - b));
      }
    }
  }
  return tf
    .gather(padded, taps)
    .reshape([jh * jw, sh * sw, inC, outC])
    .transpose([0, 3, 1, 2])
    .reshape<tf.Tensor4D>([jh, jw, outC, sh * sw * inC]);
}
